// SPDX-License-Identifier: Apache-2.0
#include "vmm/acpi/acpi.h"

#include <asm/bootparam.h>

#include <cstddef>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/status.h"
#include "vmm/acpi/tables.h"

namespace microvm::acpi {
namespace {

constexpr uint64_t kAlign = 16;

uint64_t AlignUp(uint64_t v) { return (v + kAlign - 1) & ~(kAlign - 1); }

struct Placed {
  uint64_t gpa;
  std::vector<uint8_t> bytes;
};

}  // namespace

absl::StatusOr<uint64_t> WriteAcpiTables(const GuestMemory& mem,
                                         const AcpiConfig& config) {
  MVM_RETURN_IF_ERROR(ValidateConfig(config));
  // RSDP first, then the tables in the order each one's address is needed:
  // DSDT before the FADT that points at it, the XSDT last.
  const uint64_t rsdp_gpa = kTablesStart;
  uint64_t next = AlignUp(rsdp_gpa + sizeof(Rsdp));
  std::vector<Placed> placed;
  auto place = [&](std::vector<uint8_t> bytes) {
    const uint64_t gpa = next;
    next = AlignUp(gpa + bytes.size());
    placed.push_back(Placed{gpa, std::move(bytes)});
    return gpa;
  };

  MVM_ASSIGN_OR_RETURN(std::vector<uint8_t> dsdt, BuildDsdt(config));
  const uint64_t dsdt_gpa = place(std::move(dsdt));
  std::vector<uint64_t> xsdt_entries = {place(BuildFadt(dsdt_gpa))};
  MVM_ASSIGN_OR_RETURN(std::vector<uint8_t> madt, BuildMadt(config));
  xsdt_entries.push_back(place(std::move(madt)));
  if (config.pci) {
    MVM_ASSIGN_OR_RETURN(std::vector<uint8_t> mcfg, BuildMcfg(config));
    xsdt_entries.push_back(place(std::move(mcfg)));
  }
  const uint64_t xsdt_gpa = place(BuildXsdt(xsdt_entries));
  const uint64_t end = placed.back().gpa + placed.back().bytes.size();
  if (end > kTablesEnd) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "ACPI tables for %d vCPUs and %d PCI routes take %d bytes, more than "
        "the %d bytes of the BIOS area at 0x%x; use fewer vCPUs",
        config.cpus, config.pci_routes.size(), end - kTablesStart,
        kTablesEnd - kTablesStart, kTablesStart));
  }

  // Clear the area first so that a shorter rewrite leaves no stale table
  // (or stale "RSD PTR ") behind.
  MVM_RETURN_IF_ERROR(Annotate(
      mem.Write(kTablesStart, std::vector<uint8_t>(kTablesEnd - kTablesStart)),
      "clearing the ACPI table area"));
  const Rsdp rsdp = BuildRsdp(xsdt_gpa);
  MVM_RETURN_IF_ERROR(
      Annotate(mem.WriteObject(rsdp_gpa, rsdp), "writing the ACPI RSDP"));
  for (const Placed& t : placed) {
    MVM_RETURN_IF_ERROR(Annotate(
        mem.Write(t.gpa, t.bytes),
        absl::StrFormat("writing ACPI table %.4s at 0x%x",
                        reinterpret_cast<const char*>(t.bytes.data()), t.gpa)));
  }
  return rsdp_gpa;
}

absl::Status SetRsdpInZeroPage(const GuestMemory& mem, uint64_t zero_page_gpa,
                               uint64_t rsdp) {
  return Annotate(
      mem.WriteObject(zero_page_gpa + offsetof(boot_params, acpi_rsdp_addr),
                      rsdp),
      "recording the ACPI RSDP in the zero page");
}

}  // namespace microvm::acpi
