// SPDX-License-Identifier: Apache-2.0
#include "vmm/acpi/acpi.h"

#include <asm/bootparam.h>

#include <algorithm>
#include <cstring>
#include <iterator>
#include <map>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "memory/guest_memory.h"
#include "memory/layout.h"
#include "vmm/acpi/tables.h"

namespace microvm::acpi {
namespace {

using ::testing::HasSubstr;

uint8_t Sum(const std::vector<uint8_t>& t) {
  uint8_t s = 0;
  for (uint8_t b : t) s = static_cast<uint8_t>(s + b);
  return s;
}

GuestMemory Memory() {
  return GuestMemory::Create(16 * layout::kMiB, false).value();
}

std::vector<uint8_t> ReadTable(const GuestMemory& mem, uint64_t gpa) {
  const auto h = mem.ReadObject<SdtHeader>(gpa).value();
  std::vector<uint8_t> t(h.length);
  EXPECT_TRUE(mem.Read(gpa, absl::MakeSpan(t)).ok());
  return t;
}

// What Linux does without a zero-page hint (ACPI 6.4 5.2.5.1): look for
// "RSD PTR " with a valid checksum on 16-byte boundaries in 0xE0000-0xFFFFF.
uint64_t LegacyScan(const GuestMemory& mem) {
  std::vector<uint8_t> bios(0x20000);
  EXPECT_TRUE(mem.Read(0xe0000, absl::MakeSpan(bios)).ok());
  for (size_t off = 0; off + 20 <= bios.size(); off += 16) {
    if (std::memcmp(&bios[off], "RSD PTR ", 8) != 0) continue;
    if (Sum(std::vector<uint8_t>(&bios[off], &bios[off + 20])) == 0) {
      return 0xe0000 + off;
    }
  }
  return 0;
}

// Every table reachable from the RSDP, by signature, after checking the
// RSDP, the checksums and that the tables lie in the BIOS area.
std::map<std::string, std::vector<uint8_t>> Walk(const GuestMemory& mem,
                                                 uint64_t rsdp_gpa) {
  const auto rsdp = mem.ReadObject<Rsdp>(rsdp_gpa).value();
  EXPECT_EQ(std::string(rsdp.signature, 8), "RSD PTR ");
  EXPECT_EQ(rsdp.revision, 2);
  std::vector<uint8_t> raw(sizeof(Rsdp));
  EXPECT_TRUE(mem.Read(rsdp_gpa, absl::MakeSpan(raw)).ok());
  EXPECT_EQ(Sum(raw), 0) << "RSDP extended checksum";

  std::map<std::string, std::vector<uint8_t>> tables;
  const std::vector<uint8_t> xsdt = ReadTable(mem, rsdp.xsdt_address);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(xsdt.data()), 4), "XSDT");
  EXPECT_EQ(Sum(xsdt), 0) << "XSDT checksum";
  for (size_t off = sizeof(SdtHeader); off + 8 <= xsdt.size(); off += 8) {
    uint64_t gpa;
    std::memcpy(&gpa, &xsdt[off], 8);
    EXPECT_GE(gpa, kTablesStart);
    std::vector<uint8_t> t = ReadTable(mem, gpa);
    EXPECT_LE(gpa + t.size(), kTablesEnd);
    const std::string sig(reinterpret_cast<const char*>(t.data()), 4);
    EXPECT_EQ(Sum(t), 0) << sig << " checksum";
    tables[sig] = std::move(t);
  }
  if (tables.count("FACP")) {
    Fadt fadt;
    std::memcpy(&fadt, tables["FACP"].data(), sizeof(fadt));
    std::vector<uint8_t> dsdt = ReadTable(mem, fadt.x_dsdt);
    EXPECT_EQ(fadt.dsdt, fadt.x_dsdt);
    EXPECT_EQ(Sum(dsdt), 0) << "DSDT checksum";
    EXPECT_LE(fadt.x_dsdt + dsdt.size(), kTablesEnd);
    tables["DSDT"] = std::move(dsdt);
  }
  return tables;
}

TEST(AcpiTest, TablesAreFoundFromTheRsdpAndByLegacyScan) {
  GuestMemory mem = Memory();
  AcpiConfig config;
  config.cpus = 4;
  const uint64_t rsdp = WriteAcpiTables(mem, config).value();
  EXPECT_EQ(rsdp % 16, 0u);
  EXPECT_GE(rsdp, 0xe0000u);
  EXPECT_EQ(LegacyScan(mem), rsdp);

  auto tables = Walk(mem, rsdp);
  ASSERT_EQ(tables.size(), 3u);  // FACP, APIC (from the XSDT), DSDT
  ASSERT_TRUE(tables.count("APIC"));
  ASSERT_TRUE(tables.count("DSDT"));
  EXPECT_EQ(tables.count("MCFG"), 0u);
  // 4 Local APIC entries of 8 bytes, IOAPIC 12, override 10, NMI 6.
  EXPECT_EQ(tables["APIC"].size(), 44u + 4 * 8 + 12 + 10 + 6);
  const uint8_t s5[] = {0x08, '\\', '_', 'S', '5', '_', 0x12, 0x07,
                        0x04, 0x0a, 0x05, 0,    0,    0};
  const auto& dsdt = tables["DSDT"];
  EXPECT_NE(std::search(dsdt.begin(), dsdt.end(), std::begin(s5),
                        std::end(s5)),
            dsdt.end());
}

TEST(AcpiTest, PciAddsMcfg) {
  GuestMemory mem = Memory();
  AcpiConfig config;
  config.cpus = 1;
  config.pci = true;
  config.pci_buses = 2;
  const uint64_t rsdp = WriteAcpiTables(mem, config).value();
  auto tables = Walk(mem, rsdp);
  ASSERT_TRUE(tables.count("MCFG"));
  McfgAllocation a;
  std::memcpy(&a, tables["MCFG"].data() + 44, sizeof(a));
  EXPECT_EQ(a.base, layout::kEcamAddr);
  EXPECT_EQ(a.end_bus, 1);
}

TEST(AcpiTest, RewriteLeavesNoStaleTables) {
  GuestMemory mem = Memory();
  AcpiConfig big;
  big.cpus = 200;
  ASSERT_TRUE(WriteAcpiTables(mem, big).ok());
  AcpiConfig small;
  small.cpus = 1;
  const uint64_t rsdp = WriteAcpiTables(mem, small).value();
  EXPECT_EQ(LegacyScan(mem), rsdp);
  auto tables = Walk(mem, rsdp);
  EXPECT_EQ(tables["APIC"].size(), 44u + 8 + 12 + 10 + 6);
  std::vector<uint8_t> rest(kTablesEnd - 0xf0000);
  ASSERT_TRUE(mem.Read(0xf0000, absl::MakeSpan(rest)).ok());
  EXPECT_EQ(std::count(rest.begin(), rest.end(), 0), rest.size());
}

TEST(AcpiTest, MaximumCpusFit) {
  GuestMemory mem = Memory();
  AcpiConfig config;
  config.cpus = kMaxCpus;
  config.pci = true;
  config.mmio64_base = 0x8000000000;
  config.mmio64_size = 0x8000000000;
  for (uint8_t d = 0; d < 32; ++d) {
    for (uint8_t pin = 0; pin < 4; ++pin) {
      config.pci_routes.push_back({d, pin, static_cast<uint32_t>(16 + pin)});
    }
  }
  const uint64_t rsdp = WriteAcpiTables(mem, config).value();
  auto tables = Walk(mem, rsdp);
  EXPECT_EQ(tables.size(), 4u);
}

TEST(AcpiTest, TooLargeIsAClearError) {
  GuestMemory mem = Memory();
  AcpiConfig config;
  config.pci = true;
  // Duplicated routes: only a way to make the DSDT exceed 128 KiB.
  config.pci_routes.assign(20000, PciRoute{1, 0, 16});
  absl::StatusOr<uint64_t> r = WriteAcpiTables(mem, config);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("BIOS area"));
}

TEST(AcpiTest, InvalidConfigIsAnError) {
  GuestMemory mem = Memory();
  AcpiConfig config;
  config.cpus = 300;
  EXPECT_FALSE(WriteAcpiTables(mem, config).ok());
}

TEST(AcpiTest, SetRsdpInZeroPage) {
  GuestMemory mem = Memory();
  ASSERT_TRUE(SetRsdpInZeroPage(mem, layout::kZeroPageAddr, 0xe0000).ok());
  const auto zp = mem.ReadObject<boot_params>(layout::kZeroPageAddr).value();
  EXPECT_EQ(zp.acpi_rsdp_addr, 0xe0000u);
  EXPECT_FALSE(SetRsdpInZeroPage(mem, mem.end(), 0xe0000).ok());
}

}  // namespace
}  // namespace microvm::acpi
