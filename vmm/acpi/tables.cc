// SPDX-License-Identifier: Apache-2.0
#include "vmm/acpi/tables.h"

#include <cstddef>
#include <cstring>
#include <string>

#include "absl/strings/str_format.h"
#include "base/status.h"
#include "devices/power.h"
#include "memory/layout.h"
#include "vmm/acpi/aml.h"

namespace microvm::acpi {
namespace {

// Table revisions of ACPI 6.4 (and PCI Firmware 3.2 for MCFG).
constexpr uint8_t kXsdtRevision = 1;
constexpr uint8_t kFadtRevision = 6;
constexpr uint8_t kFadtMinorVersion = 4;
constexpr uint8_t kMadtRevision = 5;
// 2: integers in the DSDT's AML are 64 bits wide (19.6.29 DefinitionBlock).
constexpr uint8_t kDsdtRevision = 2;
constexpr uint8_t kMcfgRevision = 1;

// The ISA serial port devices/serial.h emulates at COM1.
constexpr uint16_t kCom1Port = 0x3f8;
constexpr uint8_t kCom1Irq = 4;

// Linux's PCI configuration mechanism #1 ports, which the host bridge
// consumes and so leaves out of its I/O window.
constexpr uint16_t kPciConfigPortStart = 0xcf8;
constexpr uint16_t kPciConfigPortEnd = 0xcff;

template <typename T>
void Append(std::vector<uint8_t>& out, const T& value) {
  const auto* p = reinterpret_cast<const uint8_t*>(&value);
  out.insert(out.end(), p, p + sizeof(T));
}

uint8_t Checksum(const uint8_t* p, size_t n) {
  uint8_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum = static_cast<uint8_t>(sum + p[i]);
  return static_cast<uint8_t>(-sum);
}

SdtHeader Header(const char (&signature)[5], uint8_t revision) {
  SdtHeader h{};
  std::memcpy(h.signature, signature, 4);
  h.revision = revision;
  std::memcpy(h.oem_id, kOemId, 6);
  // OEM table id: "MVM" and the signature, space-padded to 8.
  std::string table_id = absl::StrFormat("MVM%-5s", signature);
  std::memcpy(h.oem_table_id, table_id.data(), 8);
  h.oem_revision = 1;
  std::memcpy(h.creator_id, "MVM ", 4);
  h.creator_revision = 1;
  return h;
}

// Sets the header's length and checksum once the whole table is in `table`.
std::vector<uint8_t> Finish(std::vector<uint8_t> table) {
  const uint32_t length = static_cast<uint32_t>(table.size());
  std::memcpy(table.data() + offsetof(SdtHeader, length), &length, 4);
  table[offsetof(SdtHeader, checksum)] = 0;
  table[offsetof(SdtHeader, checksum)] = Checksum(table.data(), table.size());
  return table;
}

GenericAddress SleepRegister() {
  return GenericAddress{kSystemIoSpace, 8, 0, kByteAccess, SleepControl::kPort};
}

}  // namespace

absl::Status ValidateConfig(const AcpiConfig& config) {
  if (config.cpus < 1 || config.cpus > kMaxCpus) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%d vCPUs cannot be described in the ACPI MADT: use 1 to %d",
        config.cpus, kMaxCpus));
  }
  if (!config.pci) return absl::OkStatus();
  if (config.pci_buses < 1 || config.pci_buses > 256) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%d PCI buses cannot be described: use 1 to 256", config.pci_buses));
  }
  if (config.mmio64_size != 0 &&
      config.mmio64_base + config.mmio64_size - 1 < config.mmio64_base) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "64-bit PCI window at 0x%x of 0x%x bytes wraps around the address "
        "space",
        config.mmio64_base, config.mmio64_size));
  }
  for (const PciRoute& r : config.pci_routes) {
    if (r.device > 31 || r.pin > 3 || r.gsi >= kIoApicPins) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "PCI INTx route device %d pin %d -> GSI %d is out of range "
          "(device 0-31, pin 0-3, GSI 0-%d)",
          r.device, r.pin, r.gsi, kIoApicPins - 1));
    }
  }
  return absl::OkStatus();
}

Rsdp BuildRsdp(uint64_t xsdt_address) {
  Rsdp r{};
  std::memcpy(r.signature, "RSD PTR ", 8);
  std::memcpy(r.oem_id, kOemId, 6);
  r.revision = 2;
  r.length = sizeof(Rsdp);
  r.xsdt_address = xsdt_address;
  auto* p = reinterpret_cast<uint8_t*>(&r);
  r.checksum = Checksum(p, 20);  // the ACPI 1.0 part
  r.extended_checksum = Checksum(p, sizeof(Rsdp));
  return r;
}

std::vector<uint8_t> BuildXsdt(const std::vector<uint64_t>& tables) {
  std::vector<uint8_t> out;
  Append(out, Header("XSDT", kXsdtRevision));
  for (uint64_t addr : tables) Append(out, addr);
  return Finish(std::move(out));
}

std::vector<uint8_t> BuildFadt(uint64_t dsdt_address) {
  Fadt f{};
  f.header = Header("FACP", kFadtRevision);
  // The 32-bit field is for ACPI 1.0 readers; ACPI 6.4 5.2.9 says X_DSDT
  // wins when non-zero, and Linux warns when the two differ.
  f.dsdt = dsdt_address <= 0xffffffff ? static_cast<uint32_t>(dsdt_address) : 0;
  f.x_dsdt = dsdt_address;
  // As Firecracker and Cloud Hypervisor: hardware-reduced, and no
  // fixed-feature power or sleep button (there is none to generate an SCI).
  f.flags = kFadtHwReducedAcpi | kFadtPowerButton | kFadtSleepButton;
  // Legacy devices as the VMM builds them (vmm/legacy_devices.cc): an i8042
  // (Linux probes it only if this bit says it is there), no VGA, no CMOS
  // RTC (Linux then registers no rtc_cmos device), and ASPM left alone on
  // passed-through devices.
  f.iapc_boot_arch =
      kBootArch8042 | kBootArchNoVga | kBootArchNoPcieAspm | kBootArchNoCmosRtc;
  f.minor_version = kFadtMinorVersion;
  // ACPI 6.4 4.8.3.7: both registers are the one byte at SleepControl's
  // port; Linux (acpi_hw_extended_sleep) writes SLP_TYP << 2 | SLP_EN.
  f.sleep_control_reg = SleepRegister();
  f.sleep_status_reg = SleepRegister();
  std::memcpy(f.hypervisor_vendor, "MICROVM ", 8);
  std::vector<uint8_t> out;
  Append(out, f);
  return Finish(std::move(out));
}

absl::StatusOr<std::vector<uint8_t>> BuildMadt(const AcpiConfig& config) {
  MVM_RETURN_IF_ERROR(ValidateConfig(config));
  std::vector<uint8_t> out;
  Append(out, MadtHeader{Header("APIC", kMadtRevision),
                         static_cast<uint32_t>(layout::kLapicAddr),
                         kMadtPcatCompat});
  for (int i = 0; i < config.cpus; ++i) {
    const auto id = static_cast<uint8_t>(i);
    Append(out, MadtLocalApic{kMadtTypeLocalApic, sizeof(MadtLocalApic), id,
                              id, kMadtEnabled});
  }
  Append(out, MadtIoApic{kMadtTypeIoApic, sizeof(MadtIoApic),
                         static_cast<uint8_t>(config.cpus), 0,
                         static_cast<uint32_t>(layout::kIoapicAddr), 0});
  // ISA IRQ 0 is IOAPIC pin 2 as on PCs: KVM's in-kernel PIT raises GSI 0,
  // which KVM's default routing sends to IOAPIC pin 2. Flags 0: as the ISA
  // bus says, edge-triggered, active high. The other ISA IRQs are identity
  // mapped, which Linux assumes without entries (5.2.12.5).
  Append(out, MadtSourceOverride{kMadtTypeSourceOverride,
                                 sizeof(MadtSourceOverride), 0, 0, 2, 0});
  // Virtual wire mode as in the MP tables: NMI on LINT1 of every processor.
  Append(out, MadtLocalApicNmi{kMadtTypeLocalApicNmi, sizeof(MadtLocalApicNmi),
                               0xff, 0, 1});
  return Finish(std::move(out));
}

namespace {

aml::Bytes Com1Device() {
  return aml::Device(
      "COM1",
      aml::Concat({aml::Name("_HID", aml::DWord(aml::EisaIdValue("PNP0501"))),
                   aml::Name("_UID", aml::Integer(0)),
                   aml::Name("_CRS", aml::ResourceTemplate(
                                         {aml::Io(kCom1Port, kCom1Port, 8, 8),
                                          aml::IrqNoFlags(kCom1Irq)}))}));
}

// The i8042 keyboard controller (data 0x60, command/status 0x64, IRQ 1).
// Without it Linux probes the ports directly and, in hardware-reduced mode
// where no legacy IRQ is mapped by default, fails to get IRQ 1.
aml::Bytes Ps2KeyboardDevice() {
  return aml::Device(
      "PS2K",
      aml::Concat({aml::Name("_HID", aml::DWord(aml::EisaIdValue("PNP0303"))),
                   aml::Name("_UID", aml::Integer(0)),
                   aml::Name("_CRS", aml::ResourceTemplate(
                                         {aml::Io(0x60, 0x60, 1, 1),
                                          aml::Io(0x64, 0x64, 1, 1),
                                          aml::IrqNoFlags(1)}))}));
}

// The power button (ACPI 6.4 4.8.2.2.1.2: a control method power button,
// PNP0C0C; Linux's `button` driver binds to it) and the Generic Event
// Device that signals it (5.6.9: ACPI0013, the hardware-reduced way to
// raise ACPI events). An edge on GSI PowerButton::kGsi makes Linux's GED
// driver run _EVT, which notifies the button: "pressed" (0x80, table 5.166).
// SIGTERM to microvm makes that edge (devices/power.h).
aml::Bytes PowerButtonDevices() {
  const aml::Bytes button = aml::Device(
      "PWRB",
      aml::Concat({aml::Name("_HID", aml::DWord(aml::EisaIdValue("PNP0C0C"))),
                   aml::Name("_UID", aml::Integer(0))}));
  const aml::Bytes ged = aml::Device(
      "GED0",
      aml::Concat({aml::Name("_HID", aml::String("ACPI0013")),
                   aml::Name("_UID", aml::Integer(0)),
                   aml::Name("_CRS", aml::ResourceTemplate({aml::Interrupt(
                                         PowerButton::kGsi, /*edge=*/true,
                                         /*active_low=*/false,
                                         /*shared=*/false)})),
                   aml::Method("_EVT", 1, false, aml::Notify("PWRB", 0x80))}));
  return aml::Concat({button, ged});
}

// ACPI 6.4 8.4: a processor device per MADT entry, _UID = processor UID,
// so Linux's ACPI processor driver binds to each vCPU.
absl::StatusOr<aml::Bytes> ProcessorDevices(int cpus) {
  std::vector<aml::Bytes> devices;
  for (int i = 0; i < cpus; ++i) {
    MVM_ASSIGN_OR_RETURN(aml::NamePath name,
                         aml::NamePath::Parse(absl::StrFormat("C%03X", i)));
    devices.push_back(aml::Device(
        name, aml::Concat({aml::Name("_HID", aml::String("ACPI0007")),
                           aml::Name("_UID", aml::Integer(i))})));
  }
  return aml::Concat(devices);
}

// The PCI host bridge (PCI Firmware 3.2 4.1.1, ACPI 6.4 6.1 and 6.2):
// segment 0, buses from 0, the I/O ports but the config mechanism #1
// ones, the 32-bit MMIO window and the caller's 64-bit one, and the INTx
// routing.
aml::Bytes PciHostBridge(const AcpiConfig& config) {
  std::vector<aml::Bytes> resources = {
      aml::WordBusNumber(0, static_cast<uint16_t>(config.pci_buses - 1)),
      aml::WordIo(0, kPciConfigPortStart - 1),
      aml::WordIo(kPciConfigPortEnd + 1, 0xffff),
      aml::DWordMemory(
          static_cast<uint32_t>(layout::kMmio32Start),
          static_cast<uint32_t>(layout::kMmio32Start + layout::kMmio32Size - 1),
          false),
  };
  if (config.mmio64_size != 0) {
    resources.push_back(aml::QWordMemory(
        config.mmio64_base, config.mmio64_base + config.mmio64_size - 1,
        false));
  }
  // _PRT entries (6.2.13): Address = device << 16 | 0xFFFF (any function),
  // Pin, Source 0 (a GSI, level-triggered, active low), Source Index = GSI.
  std::vector<aml::Bytes> prt;
  for (const PciRoute& r : config.pci_routes) {
    prt.push_back(aml::Package(
        {aml::Integer(uint64_t{r.device} << 16 | 0xffff), aml::Integer(r.pin),
         aml::Integer(0), aml::Integer(r.gsi)}));
  }
  return aml::Device(
      "PCI0",
      aml::Concat({
          aml::Name("_HID", aml::DWord(aml::EisaIdValue("PNP0A08"))),
          aml::Name("_CID", aml::DWord(aml::EisaIdValue("PNP0A03"))),
          aml::Name("_SEG", aml::Integer(0)),
          aml::Name("_UID", aml::Integer(0)),
          aml::Name("_BBN", aml::Integer(0)),
          aml::Name("_ADR", aml::Integer(0)),
          aml::Name("_CRS", aml::ResourceTemplate(resources)),
          aml::Name("_PRT", aml::Package(prt)),
      }));
}

// A motherboard resource device (PNP0C02) claiming the ECAM range: Linux
// uses MMCONFIG only where firmware reserved it (PCI Firmware 3.2 4.1.2;
// arch/x86/pci/mmconfig-shared.c looks for exactly this device).
aml::Bytes EcamReservation(int buses) {
  const auto size = static_cast<uint32_t>(buses * layout::kMiB);
  return aml::Device(
      "MRES",
      aml::Concat({aml::Name("_HID", aml::DWord(aml::EisaIdValue("PNP0C02"))),
                   aml::Name("_UID", aml::Integer(0)),
                   aml::Name("_CRS", aml::ResourceTemplate({aml::Memory32Fixed(
                                         static_cast<uint32_t>(layout::kEcamAddr),
                                         size)}))}));
}

}  // namespace

absl::StatusOr<std::vector<uint8_t>> BuildDsdt(const AcpiConfig& config) {
  MVM_RETURN_IF_ERROR(ValidateConfig(config));
  MVM_ASSIGN_OR_RETURN(aml::Bytes cpus, ProcessorDevices(config.cpus));
  std::vector<aml::Bytes> sb = {Com1Device(), Ps2KeyboardDevice(),
                                PowerButtonDevices(), cpus};
  if (config.pci) {
    sb.push_back(PciHostBridge(config));
    sb.push_back(EcamReservation(config.pci_buses));
  }
  // \_S5 (7.4.2.4): SLP_TYPa, SLP_TYPb and two reserved values. On a
  // hardware-reduced platform Linux writes SLP_TYPa into the sleep control
  // register, where SleepControl takes kS5SleepType as power-off.
  const aml::Bytes s5 = aml::Name(
      "\\_S5", aml::Package({aml::Integer(SleepControl::kS5SleepType),
                             aml::Integer(0), aml::Integer(0), aml::Integer(0)}));
  std::vector<uint8_t> out;
  Append(out, Header("DSDT", kDsdtRevision));
  const aml::Bytes body = aml::Concat({s5, aml::Scope("\\_SB", aml::Concat(sb))});
  out.insert(out.end(), body.begin(), body.end());
  return Finish(std::move(out));
}

absl::StatusOr<std::vector<uint8_t>> BuildMcfg(const AcpiConfig& config) {
  MVM_RETURN_IF_ERROR(ValidateConfig(config));
  std::vector<uint8_t> out;
  Append(out, Header("MCFG", kMcfgRevision));
  Append(out, uint64_t{0});  // reserved
  Append(out, McfgAllocation{layout::kEcamAddr, 0, 0,
                             static_cast<uint8_t>(config.pci_buses - 1), 0});
  return Finish(std::move(out));
}

}  // namespace microvm::acpi
