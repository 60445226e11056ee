// SPDX-License-Identifier: Apache-2.0
// ACPI tables for a hardware-reduced ACPI machine (ACPI 6.4 section 4.1): no
// PM1 blocks, GPEs, SCI or FACS; power-off through the sleep control
// register (devices/power.h). Each builder returns a complete table with its
// checksum set; acpi.h places them in guest memory.
//
// Linux needs this on kernels built without CONFIG_X86_MPPARSE (Debian's
// cloud kernel): the MADT is its only way to find the vCPUs and the IOAPIC,
// and the DSDT's _S5 plus the FADT's sleep registers its only way to power
// off.
#ifndef MICROVM_VMM_ACPI_TABLES_H_
#define MICROVM_VMM_ACPI_TABLES_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "vmm/acpi/config.h"

namespace microvm::acpi {

// ACPI 6.4 5.2.5.3, Root System Description Pointer, revision 2.
struct __attribute__((packed)) Rsdp {
  char signature[8];  // "RSD PTR "
  uint8_t checksum;   // of the first 20 bytes
  char oem_id[6];
  uint8_t revision;  // 2: ACPI 2.0 and later
  uint32_t rsdt_address;
  uint32_t length;  // 36
  uint64_t xsdt_address;
  uint8_t extended_checksum;  // of all 36 bytes
  uint8_t reserved[3];
};
static_assert(sizeof(Rsdp) == 36);

// ACPI 6.4 5.2.6, System Description Table Header.
struct __attribute__((packed)) SdtHeader {
  char signature[4];
  uint32_t length;  // of the whole table
  uint8_t revision;
  uint8_t checksum;  // whole table sums to 0
  char oem_id[6];
  char oem_table_id[8];
  uint32_t oem_revision;
  char creator_id[4];
  uint32_t creator_revision;
};
static_assert(sizeof(SdtHeader) == 36);

// ACPI 6.4 5.2.3.2, Generic Address Structure.
struct __attribute__((packed)) GenericAddress {
  uint8_t space_id;  // kSystemIoSpace, ...
  uint8_t bit_width;
  uint8_t bit_offset;
  uint8_t access_size;  // 1 byte, 2 word, 3 dword, 4 qword
  uint64_t address;
};
static_assert(sizeof(GenericAddress) == 12);
inline constexpr uint8_t kSystemIoSpace = 1;
inline constexpr uint8_t kByteAccess = 1;

// ACPI 6.4 5.2.9, Fixed ACPI Description Table, revision 6 (276 bytes).
// Only the fields a hardware-reduced platform fills are named; the legacy
// fixed-hardware blocks (bytes 44-108 and the X_ blocks 148-243) stay zero.
struct __attribute__((packed)) Fadt {
  SdtHeader header;
  uint32_t firmware_ctrl;  // FACS: none on hardware-reduced platforms
  uint32_t dsdt;
  uint8_t legacy1[109 - 44];
  uint16_t iapc_boot_arch;  // kBootArch*
  uint8_t reserved1;
  uint32_t flags;  // kFadt*
  GenericAddress reset_reg;
  uint8_t reset_value;
  uint16_t arm_boot_arch;
  uint8_t minor_version;
  uint64_t x_firmware_ctrl;
  uint64_t x_dsdt;
  GenericAddress legacy_x_blocks[8];  // X_PM1a_EVT_BLK .. X_GPE1_BLK
  GenericAddress sleep_control_reg;
  GenericAddress sleep_status_reg;
  char hypervisor_vendor[8];
};
static_assert(sizeof(Fadt) == 276);
static_assert(__builtin_offsetof(Fadt, iapc_boot_arch) == 109);
static_assert(__builtin_offsetof(Fadt, x_dsdt) == 140);
static_assert(__builtin_offsetof(Fadt, sleep_control_reg) == 244);

// FADT flags (ACPI 6.4 table 5.10).
inline constexpr uint32_t kFadtPowerButton = 1u << 4;  // no fixed button
inline constexpr uint32_t kFadtSleepButton = 1u << 5;  // no fixed button
inline constexpr uint32_t kFadtHwReducedAcpi = 1u << 20;
// IA-PC boot architecture flags (ACPI 6.4 table 5.11).
inline constexpr uint16_t kBootArch8042 = 1u << 1;
inline constexpr uint16_t kBootArchNoVga = 1u << 2;
inline constexpr uint16_t kBootArchNoPcieAspm = 1u << 4;
inline constexpr uint16_t kBootArchNoCmosRtc = 1u << 5;

// ACPI 6.4 5.2.12, Multiple APIC Description Table, and the entries used.
struct __attribute__((packed)) MadtHeader {
  SdtHeader header;
  uint32_t lapic_address;
  uint32_t flags;  // kMadtPcatCompat
};
struct __attribute__((packed)) MadtLocalApic {  // 5.2.12.2, type 0
  uint8_t type;
  uint8_t length;  // 8
  uint8_t processor_uid;
  uint8_t apic_id;
  uint32_t flags;  // kMadtEnabled
};
struct __attribute__((packed)) MadtIoApic {  // 5.2.12.3, type 1
  uint8_t type;
  uint8_t length;  // 12
  uint8_t id;
  uint8_t reserved;
  uint32_t address;
  uint32_t gsi_base;
};
struct __attribute__((packed)) MadtSourceOverride {  // 5.2.12.5, type 2
  uint8_t type;
  uint8_t length;  // 10
  uint8_t bus;     // 0: ISA
  uint8_t source;  // ISA IRQ
  uint32_t gsi;
  uint16_t flags;  // MPS INTI flags; 0 = conforms to the bus
};
struct __attribute__((packed)) MadtLocalApicNmi {  // 5.2.12.7, type 4
  uint8_t type;
  uint8_t length;  // 6
  uint8_t processor_uid;  // 0xff: all processors
  uint16_t flags;
  uint8_t lint;
};
enum : uint8_t {
  kMadtTypeLocalApic = 0,
  kMadtTypeIoApic = 1,
  kMadtTypeSourceOverride = 2,
  kMadtTypeLocalApicNmi = 4,
};
inline constexpr uint32_t kMadtPcatCompat = 1u << 0;  // 8259 PICs present
inline constexpr uint32_t kMadtEnabled = 1u << 0;

// PCI Firmware 3.2 4.1.2, MCFG table.
struct __attribute__((packed)) McfgAllocation {
  uint64_t base;
  uint16_t segment;
  uint8_t start_bus;
  uint8_t end_bus;
  uint32_t reserved;
};

// OEM id of every table and of the RSDP.
inline constexpr char kOemId[] = "MICROV";

// An error (saying what is allowed) for a cpu count, bus count, PCI route
// or 64-bit window the tables cannot describe.
absl::Status ValidateConfig(const AcpiConfig& config);

// The RSDP pointing at the XSDT (no RSDT: rsdt_address 0).
Rsdp BuildRsdp(uint64_t xsdt_address);
// The XSDT listing `tables` (guest-physical addresses).
std::vector<uint8_t> BuildXsdt(const std::vector<uint64_t>& tables);
// FADT: hardware-reduced, X_DSDT (and the 32-bit DSDT field when it fits),
// sleep control/status registers at SleepControl's port.
std::vector<uint8_t> BuildFadt(uint64_t dsdt_address);
// MADT: one enabled Local APIC per vCPU, the IOAPIC, ISA IRQ 0 -> GSI 2,
// NMI on LINT1 of every processor.
absl::StatusOr<std::vector<uint8_t>> BuildMadt(const AcpiConfig& config);
// DSDT: \_S5, COM1, one processor device per vCPU and, with config.pci,
// \_SB.PCI0 and the ECAM reservation.
absl::StatusOr<std::vector<uint8_t>> BuildDsdt(const AcpiConfig& config);
// MCFG: ECAM at layout::kEcamAddr for segment 0, buses 0..pci_buses-1.
absl::StatusOr<std::vector<uint8_t>> BuildMcfg(const AcpiConfig& config);

}  // namespace microvm::acpi

#endif  // MICROVM_VMM_ACPI_TABLES_H_
