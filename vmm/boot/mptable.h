// SPDX-License-Identifier: Apache-2.0
// Intel MultiProcessor Specification 1.4 tables: how Linux finds the vCPUs,
// the IOAPIC and the ISA (and later PCI INTx) interrupt routing without
// ACPI. Written into the EBDA at layout::kMpTableAddr, where Linux scans for
// the floating pointer (arch/x86/kernel/mpparse.c: "639K" and the EBDA).
#ifndef MICROVM_VMM_BOOT_MPTABLE_H_
#define MICROVM_VMM_BOOT_MPTABLE_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "memory/guest_memory.h"

namespace microvm::boot {

// MP spec 1.4 chapter 4 structures, little-endian and packed as in memory.
struct __attribute__((packed)) MpFloatingPointer {  // 4.1
  char signature[4];                                // "_MP_"
  uint32_t config_table;
  uint8_t length;  // in 16-byte units
  uint8_t spec_rev;
  uint8_t checksum;
  uint8_t features[5];
};
struct __attribute__((packed)) MpConfigHeader {  // 4.2
  char signature[4];                             // "PCMP"
  uint16_t length;                               // base table, header included
  uint8_t spec_rev;
  uint8_t checksum;
  char oem_id[8];
  char product_id[12];
  uint32_t oem_table;
  uint16_t oem_table_size;
  uint16_t entry_count;
  uint32_t lapic_addr;
  uint16_t ext_length;
  uint8_t ext_checksum;
  uint8_t reserved;
};
struct __attribute__((packed)) MpProcessor {  // 4.3.1, entry type 0
  uint8_t type;
  uint8_t lapic_id;
  uint8_t lapic_version;
  uint8_t flags;  // kMpCpuEnabled | kMpCpuBsp
  uint32_t signature;
  uint32_t features;
  uint32_t reserved[2];
};
struct __attribute__((packed)) MpBus {  // 4.3.2, entry type 1
  uint8_t type;
  uint8_t bus_id;
  char bus_type[6];  // "ISA   ", "PCI   "
};
struct __attribute__((packed)) MpIoApic {  // 4.3.3, entry type 2
  uint8_t type;
  uint8_t id;
  uint8_t version;
  uint8_t flags;  // bit 0: enabled
  uint32_t addr;
};
// I/O (4.3.4, type 3) and local (4.3.5, type 4) interrupt assignment.
struct __attribute__((packed)) MpInterrupt {
  uint8_t type;
  uint8_t irq_type;  // kMpInt, kMpNmi, kMpExtInt
  uint16_t flags;    // polarity bits 1:0, trigger mode bits 3:2
  uint8_t src_bus;
  uint8_t src_irq;  // ISA: IRQ; PCI: device << 2 | INTx pin (0 = INTA#)
  uint8_t dst_apic;
  uint8_t dst_pin;  // IOAPIC input or LINTn
};

enum : uint8_t {
  kMpEntryProcessor = 0,
  kMpEntryBus = 1,
  kMpEntryIoApic = 2,
  kMpEntryIoInterrupt = 3,
  kMpEntryLocalInterrupt = 4,
};
enum : uint8_t { kMpInt = 0, kMpNmi = 1, kMpSmi = 2, kMpExtInt = 3 };
inline constexpr uint8_t kMpCpuEnabled = 1 << 0;
inline constexpr uint8_t kMpCpuBsp = 1 << 1;
// Flags of an interrupt entry: 0 = "conforms to the bus" (ISA: edge, active
// high); PCI INTx is level-triggered, active low.
inline constexpr uint16_t kMpIrqConforming = 0;
inline constexpr uint16_t kMpIrqPciLevelLow = 0x3 | (0x3 << 2);
inline constexpr uint8_t kMpIsaBus = 0;
inline constexpr uint8_t kMpPciBus = 1;
inline constexpr uint8_t kMpAllLapics = 0xff;
inline constexpr uint8_t kMpLapicVersion = 0x14;  // KVM's in-kernel LAPIC
inline constexpr uint8_t kMpIoApicVersion = 0x11;
inline constexpr int kIoApicPins = 24;

// APIC ids are 8 bits and 0xff is broadcast; the IOAPIC takes id `cpus`.
inline constexpr int kMpMaxCpus = 254;

// A PCI device's INTx pin wired to an IOAPIC input (the PCI root complex
// fills these in; level-triggered, active low).
struct PciIntxRoute {
  uint8_t device;      // 0-31 on bus kMpPciBus
  uint8_t pin;         // 0 = INTA# ... 3 = INTD#
  uint8_t ioapic_pin;  // 0 to kIoApicPins - 1
};

struct MpTableConfig {
  int cpus = 1;
  std::vector<PciIntxRoute> pci_intx;
};

// Floating pointer followed by the configuration table, ready to be copied
// to `table_addr`, with both checksums set. An error for a cpu count or
// route out of range, or a table larger than `max_bytes`.
absl::StatusOr<std::vector<uint8_t>> BuildMpTable(const MpTableConfig& config,
                                                  uint64_t table_addr,
                                                  uint64_t max_bytes);

// Writes the table at layout::kMpTableAddr (must end by 0xA0000) and the
// BIOS data area's EBDA segment (0x40E) and base memory size (0x413).
// May be called again (e.g. once PCI devices are known): it rewrites all.
absl::Status WriteMpTable(const GuestMemory& mem, const MpTableConfig& config);

}  // namespace microvm::boot

#endif  // MICROVM_VMM_BOOT_MPTABLE_H_
