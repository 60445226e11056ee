// SPDX-License-Identifier: Apache-2.0
// Puts microvm's ACPI tables into guest memory. The entry point for the VMM:
//
//   MVM_ASSIGN_OR_RETURN(uint64_t rsdp, acpi::WriteAcpiTables(mem, config));
//   MVM_RETURN_IF_ERROR(acpi::SetRsdpInZeroPage(mem, zero_page_gpa, rsdp));
//
// The tables live in the BIOS area kTablesStart..kTablesEnd (reserved in the
// e820 map, below 1 MiB, clear of the MP tables in the EBDA), the RSDP first
// and 16-byte aligned so that a legacy scan (ACPI 6.4 5.2.5.1) finds it too.
#ifndef MICROVM_VMM_ACPI_ACPI_H_
#define MICROVM_VMM_ACPI_ACPI_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "memory/guest_memory.h"
#include "vmm/acpi/config.h"

namespace microvm::acpi {

inline constexpr uint64_t kTablesStart = 0xe0000;
inline constexpr uint64_t kTablesEnd = 0x100000;

// Writes RSDP, XSDT, FADT, MADT, DSDT and (with config.pci) MCFG, and
// returns the RSDP's guest-physical address. An error for a configuration
// the tables cannot describe or tables that do not fit the BIOS area. May
// be called again (e.g. once PCI devices are known): it rewrites all.
absl::StatusOr<uint64_t> WriteAcpiTables(const GuestMemory& mem,
                                         const AcpiConfig& config);

// Records the RSDP in the zero page (boot_params.acpi_rsdp_addr, boot
// protocol 2.14) at `zero_page_gpa`, so Linux need not scan for it.
absl::Status SetRsdpInZeroPage(const GuestMemory& mem, uint64_t zero_page_gpa,
                               uint64_t rsdp);

}  // namespace microvm::acpi

#endif  // MICROVM_VMM_ACPI_ACPI_H_
