// SPDX-License-Identifier: Apache-2.0
#include "vmm/boot/mptable.h"

#include <cstddef>
#include <cstring>

#include "absl/strings/str_format.h"
#include "base/status.h"
#include "memory/layout.h"

namespace microvm::boot {
namespace {

constexpr uint8_t kSpecRev = 4;  // MP spec 1.4
// BIOS data area: EBDA segment and base memory size in KiB (Linux
// arch/x86/kernel/ebda.c reads both to reserve the EBDA).
constexpr uint64_t kBdaEbdaSegment = 0x40e;
constexpr uint64_t kBdaBaseMemKiB = 0x413;
// The EBDA ends where the VGA window starts.
constexpr uint64_t kEbdaEnd = 0xa0000;
// CPUID.1: family 6; EDX: FPU and APIC present (MP spec 4.3.1 wants the
// processor's signature and features; Linux only reads the APIC fields).
constexpr uint32_t kCpuSignature = 0x600;
constexpr uint32_t kCpuFeatures = (1u << 0) | (1u << 9);

template <typename T>
void Append(std::vector<uint8_t>& out, const T& entry) {
  const auto* p = reinterpret_cast<const uint8_t*>(&entry);
  out.insert(out.end(), p, p + sizeof(T));
}

uint8_t Checksum(const uint8_t* p, size_t n) {
  uint8_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum = static_cast<uint8_t>(sum + p[i]);
  return static_cast<uint8_t>(-sum);
}

MpInterrupt Interrupt(uint8_t type, uint8_t irq_type, uint16_t flags,
                      uint8_t bus, uint8_t src, uint8_t apic, uint8_t pin) {
  return MpInterrupt{type, irq_type, flags, bus, src, apic, pin};
}

}  // namespace

absl::StatusOr<std::vector<uint8_t>> BuildMpTable(const MpTableConfig& config,
                                                  uint64_t table_addr,
                                                  uint64_t max_bytes) {
  if (config.cpus < 1 || config.cpus > kMpMaxCpus) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%d vCPUs cannot be described in MP tables: use 1 to %d", config.cpus,
        kMpMaxCpus));
  }
  for (const PciIntxRoute& r : config.pci_intx) {
    if (r.device > 31 || r.pin > 3 || r.ioapic_pin >= kIoApicPins) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "PCI INTx route device %d pin %d -> IOAPIC pin %d is out of range "
          "(device 0-31, pin 0-3, IOAPIC pin 0-%d)",
          r.device, r.pin, r.ioapic_pin, kIoApicPins - 1));
    }
  }
  const uint8_t ioapic_id = static_cast<uint8_t>(config.cpus);

  // Entries in the order of MP spec 4.3: by entry type.
  std::vector<uint8_t> entries;
  uint16_t count = 0;
  for (int i = 0; i < config.cpus; ++i, ++count) {
    MpProcessor cpu{};
    cpu.type = kMpEntryProcessor;
    cpu.lapic_id = static_cast<uint8_t>(i);
    cpu.lapic_version = kMpLapicVersion;
    cpu.flags = kMpCpuEnabled | (i == 0 ? kMpCpuBsp : 0);
    cpu.signature = kCpuSignature;
    cpu.features = kCpuFeatures;
    Append(entries, cpu);
  }
  Append(entries,
         MpBus{kMpEntryBus, kMpIsaBus, {'I', 'S', 'A', ' ', ' ', ' '}});
  Append(entries,
         MpBus{kMpEntryBus, kMpPciBus, {'P', 'C', 'I', ' ', ' ', ' '}});
  Append(entries, MpIoApic{kMpEntryIoApic, ioapic_id, kMpIoApicVersion, 1,
                           static_cast<uint32_t>(layout::kIoapicAddr)});
  count += 3;
  // ISA IRQs go to the same IOAPIC pin, except the timer: IRQ 0 is wired to
  // pin 2 as on PCs (KVM's in-kernel PIT raises GSI 0, which KVM's default
  // routing sends to IOAPIC pin 2); IRQ 2 is the PIC cascade.
  for (uint8_t irq = 0; irq < 16; ++irq) {
    if (irq == 2) continue;
    const uint8_t pin = irq == 0 ? 2 : irq;
    Append(entries, Interrupt(kMpEntryIoInterrupt, kMpInt, kMpIrqConforming,
                              kMpIsaBus, irq, ioapic_id, pin));
    ++count;
  }
  // PCI INTx: source IRQ is device << 2 | pin (MP spec D.3).
  for (const PciIntxRoute& r : config.pci_intx) {
    Append(entries,
           Interrupt(kMpEntryIoInterrupt, kMpInt, kMpIrqPciLevelLow, kMpPciBus,
                     static_cast<uint8_t>(r.device << 2 | r.pin), ioapic_id,
                     r.ioapic_pin));
    ++count;
  }
  // Virtual wire mode: the PIC on LINT0, NMI on LINT1 of every LAPIC.
  Append(entries, Interrupt(kMpEntryLocalInterrupt, kMpExtInt, kMpIrqConforming,
                            kMpIsaBus, 0, kMpAllLapics, 0));
  Append(entries, Interrupt(kMpEntryLocalInterrupt, kMpNmi, kMpIrqConforming,
                            kMpIsaBus, 0, kMpAllLapics, 1));
  count += 2;

  const uint64_t total =
      sizeof(MpFloatingPointer) + sizeof(MpConfigHeader) + entries.size();
  if (total > max_bytes) {
    const uint64_t per_cpu = sizeof(MpProcessor);
    const uint64_t fixed = total - config.cpus * per_cpu;
    return absl::ResourceExhaustedError(absl::StrFormat(
        "MP tables for %d vCPUs and %d PCI interrupt routes take %d bytes, "
        "more than the %d bytes of EBDA space; use at most %d vCPUs",
        config.cpus, config.pci_intx.size(), total, max_bytes,
        max_bytes > fixed ? (max_bytes - fixed) / per_cpu : 0));
  }

  MpConfigHeader header{};
  std::memcpy(header.signature, "PCMP", 4);
  header.length =
      static_cast<uint16_t>(sizeof(MpConfigHeader) + entries.size());
  header.spec_rev = kSpecRev;
  std::memcpy(header.oem_id, "MICROVM ", 8);
  std::memcpy(header.product_id, "microvm     ", 12);
  header.entry_count = count;
  header.lapic_addr = static_cast<uint32_t>(layout::kLapicAddr);

  MpFloatingPointer fp{};
  std::memcpy(fp.signature, "_MP_", 4);
  fp.config_table =
      static_cast<uint32_t>(table_addr + sizeof(MpFloatingPointer));
  fp.length = sizeof(MpFloatingPointer) / 16;
  fp.spec_rev = kSpecRev;
  // features[0] = 0: a configuration table is present; features[1] bit 7
  // clear: virtual wire mode, no IMCR.

  std::vector<uint8_t> out;
  out.reserve(total);
  Append(out, fp);
  Append(out, header);
  out.insert(out.end(), entries.begin(), entries.end());
  uint8_t* cfg = out.data() + sizeof(MpFloatingPointer);
  cfg[offsetof(MpConfigHeader, checksum)] = Checksum(cfg, header.length);
  out[offsetof(MpFloatingPointer, checksum)] =
      Checksum(out.data(), sizeof(MpFloatingPointer));
  return out;
}

absl::Status WriteMpTable(const GuestMemory& mem, const MpTableConfig& config) {
  MVM_ASSIGN_OR_RETURN(std::vector<uint8_t> table,
                       BuildMpTable(config, layout::kMpTableAddr,
                                    kEbdaEnd - layout::kMpTableAddr));
  MVM_RETURN_IF_ERROR(Annotate(mem.Write(layout::kMpTableAddr, table),
                               "writing the MP tables"));
  MVM_RETURN_IF_ERROR(mem.WriteObject(
      kBdaEbdaSegment, static_cast<uint16_t>(layout::kEbdaStart >> 4)));
  return mem.WriteObject(kBdaBaseMemKiB,
                         static_cast<uint16_t>(layout::kEbdaStart / 1024));
}

}  // namespace microvm::boot
