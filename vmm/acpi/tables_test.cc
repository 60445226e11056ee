// SPDX-License-Identifier: Apache-2.0
#include "vmm/acpi/tables.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/strings/str_format.h"
#include "devices/power.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "memory/layout.h"
#include "vmm/acpi/aml.h"

namespace microvm::acpi {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

uint8_t Sum(const std::vector<uint8_t>& t) {
  uint8_t s = 0;
  for (uint8_t b : t) s = static_cast<uint8_t>(s + b);
  return s;
}

template <typename T>
T At(const std::vector<uint8_t>& t, size_t offset) {
  T v;
  EXPECT_LE(offset + sizeof(T), t.size());
  std::memcpy(&v, t.data() + offset, sizeof(T));
  return v;
}

void ExpectHeader(const std::vector<uint8_t>& t, const char* sig,
                  uint8_t revision) {
  ASSERT_GE(t.size(), sizeof(SdtHeader));
  const auto h = At<SdtHeader>(t, 0);
  EXPECT_EQ(std::string(h.signature, 4), sig);
  EXPECT_EQ(h.length, t.size());
  EXPECT_EQ(h.revision, revision);
  EXPECT_EQ(std::string(h.oem_id, 6), "MICROV");
  EXPECT_EQ(std::string(h.oem_table_id, 8),
            absl::StrFormat("MVM%-5s", sig));
  EXPECT_EQ(Sum(t), 0) << sig << " checksum";
}

bool Contains(const std::vector<uint8_t>& hay, const aml::Bytes& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) !=
         hay.end();
}

AcpiConfig PciConfig() {
  AcpiConfig c;
  c.cpus = 2;
  c.pci = true;
  c.mmio64_base = 0x8000000000;
  c.mmio64_size = 0x4000000000;
  c.pci_routes = {{1, 0, 16}, {2, 1, 17}};
  c.pci_buses = 4;
  return c;
}

TEST(TablesTest, Rsdp) {
  const Rsdp r = BuildRsdp(0x12345678abc);
  const auto* p = reinterpret_cast<const uint8_t*>(&r);
  EXPECT_EQ(std::string(r.signature, 8), "RSD PTR ");
  EXPECT_EQ(r.revision, 2);
  EXPECT_EQ(r.length, 36u);
  EXPECT_EQ(r.xsdt_address, 0x12345678abcu);
  EXPECT_EQ(Sum(std::vector<uint8_t>(p, p + 20)), 0);
  EXPECT_EQ(Sum(std::vector<uint8_t>(p, p + 36)), 0);
}

TEST(TablesTest, Xsdt) {
  const std::vector<uint8_t> x = BuildXsdt({0xe0040, 0x1122334455667788});
  ExpectHeader(x, "XSDT", 1);
  ASSERT_EQ(x.size(), 36u + 16);
  EXPECT_EQ(At<uint64_t>(x, 36), 0xe0040u);
  EXPECT_EQ(At<uint64_t>(x, 44), 0x1122334455667788u);
}

TEST(TablesTest, FadtIsHardwareReducedWithSleepRegisters) {
  const std::vector<uint8_t> t = BuildFadt(0xe0100);
  ExpectHeader(t, "FACP", 6);
  ASSERT_EQ(t.size(), 276u);
  const auto f = At<Fadt>(t, 0);
  EXPECT_EQ(f.dsdt, 0xe0100u);
  EXPECT_EQ(f.x_dsdt, 0xe0100u);
  EXPECT_EQ(f.firmware_ctrl, 0u);
  EXPECT_EQ(f.x_firmware_ctrl, 0u);
  EXPECT_EQ(f.flags & kFadtHwReducedAcpi, kFadtHwReducedAcpi);
  EXPECT_EQ(At<uint32_t>(t, 112) >> 20 & 1, 1u);  // table 5.9 offset
  EXPECT_EQ(f.iapc_boot_arch, kBootArch8042 | kBootArchNoVga |
                                  kBootArchNoPcieAspm | kBootArchNoCmosRtc);
  for (const GenericAddress& g : {f.sleep_control_reg, f.sleep_status_reg}) {
    EXPECT_EQ(g.space_id, kSystemIoSpace);
    EXPECT_EQ(g.bit_width, 8);
    EXPECT_EQ(g.bit_offset, 0);
    EXPECT_EQ(g.access_size, kByteAccess);
    EXPECT_EQ(g.address, SleepControl::kPort);
  }
  EXPECT_EQ(t[244], kSystemIoSpace);                 // SLEEP_CONTROL_REG
  EXPECT_EQ(At<uint64_t>(t, 248), 0x3c0u);
  EXPECT_EQ(At<uint64_t>(t, 260), 0x3c0u);           // SLEEP_STATUS_REG
  EXPECT_EQ(std::string(f.hypervisor_vendor, 8), "MICROVM ");
  // No SCI, no PM1 blocks: everything legacy is zero.
  for (size_t i = 44; i < 109; ++i) EXPECT_EQ(t[i], 0) << "byte " << i;
  for (size_t i = 148; i < 244; ++i) EXPECT_EQ(t[i], 0) << "byte " << i;
}

TEST(TablesTest, FadtDsdtAbove4GiBOnlyInXDsdt) {
  const auto f = At<Fadt>(BuildFadt(0x100000000), 0);
  EXPECT_EQ(f.dsdt, 0u);
  EXPECT_EQ(f.x_dsdt, 0x100000000u);
}

TEST(TablesTest, MadtListsEveryCpuTheIoApicAndOverrides) {
  AcpiConfig c;
  c.cpus = 3;
  const std::vector<uint8_t> t = BuildMadt(c).value();
  ExpectHeader(t, "APIC", 5);
  const auto h = At<MadtHeader>(t, 0);
  EXPECT_EQ(h.lapic_address, layout::kLapicAddr);
  EXPECT_EQ(h.flags, kMadtPcatCompat);
  std::vector<MadtLocalApic> cpus;
  std::vector<MadtIoApic> ioapics;
  std::vector<MadtSourceOverride> overrides;
  std::vector<MadtLocalApicNmi> nmis;
  for (size_t off = sizeof(MadtHeader); off < t.size();) {
    const uint8_t type = t[off];
    const uint8_t len = t.at(off + 1);
    ASSERT_GT(len, 0);
    switch (type) {
      case kMadtTypeLocalApic:
        ASSERT_EQ(len, 8);
        cpus.push_back(At<MadtLocalApic>(t, off));
        break;
      case kMadtTypeIoApic:
        ASSERT_EQ(len, 12);
        ioapics.push_back(At<MadtIoApic>(t, off));
        break;
      case kMadtTypeSourceOverride:
        ASSERT_EQ(len, 10);
        overrides.push_back(At<MadtSourceOverride>(t, off));
        break;
      case kMadtTypeLocalApicNmi:
        ASSERT_EQ(len, 6);
        nmis.push_back(At<MadtLocalApicNmi>(t, off));
        break;
      default:
        FAIL() << "unexpected MADT entry type " << int{type};
    }
    off += len;
    ASSERT_LE(off, t.size());
  }
  ASSERT_EQ(cpus.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(cpus[i].processor_uid, i);
    EXPECT_EQ(cpus[i].apic_id, i);
    EXPECT_EQ(cpus[i].flags, kMadtEnabled);
  }
  ASSERT_EQ(ioapics.size(), 1u);
  EXPECT_EQ(ioapics[0].id, 3);
  EXPECT_EQ(ioapics[0].address, layout::kIoapicAddr);
  EXPECT_EQ(ioapics[0].gsi_base, 0u);
  ASSERT_EQ(overrides.size(), 1u);
  EXPECT_EQ(overrides[0].bus, 0);
  EXPECT_EQ(overrides[0].source, 0);
  EXPECT_EQ(overrides[0].gsi, 2u);
  EXPECT_EQ(overrides[0].flags, 0);
  ASSERT_EQ(nmis.size(), 1u);
  EXPECT_EQ(nmis[0].processor_uid, 0xff);
  EXPECT_EQ(nmis[0].lint, 1);
}

TEST(TablesTest, InvalidConfigsAreRejected) {
  AcpiConfig c;
  c.cpus = 0;
  EXPECT_THAT(std::string(BuildMadt(c).status().message()),
              HasSubstr("use 1 to 254"));
  c.cpus = 255;
  EXPECT_FALSE(BuildDsdt(c).ok());
  c = PciConfig();
  c.pci_buses = 257;
  EXPECT_FALSE(BuildMcfg(c).ok());
  c = PciConfig();
  c.pci_routes.push_back({32, 0, 16});
  EXPECT_THAT(std::string(BuildDsdt(c).status().message()),
              HasSubstr("device 32"));
  c = PciConfig();
  c.pci_routes = {{1, 0, 24}};
  EXPECT_FALSE(BuildDsdt(c).ok());
  c = PciConfig();
  c.mmio64_base = ~uint64_t{0} - 10;
  EXPECT_THAT(std::string(BuildDsdt(c).status().message()), HasSubstr("wraps"));
}

TEST(TablesTest, DsdtHasS5Com1AndCpusButNoPciUnlessAsked) {
  AcpiConfig c;
  c.cpus = 2;
  const std::vector<uint8_t> t = BuildDsdt(c).value();
  ExpectHeader(t, "DSDT", 2);
  // Name (\_S5, Package () { 5, 0, 0, 0 })
  EXPECT_TRUE(Contains(t, {0x08, '\\', '_', 'S', '5', '_', 0x12, 0x07, 0x04,
                           0x0a, SleepControl::kS5SleepType, 0, 0, 0}));
  EXPECT_TRUE(Contains(t, aml::Io(0x3f8, 0x3f8, 8, 8)));
  EXPECT_TRUE(Contains(t, aml::IrqNoFlags(4)));
  EXPECT_TRUE(Contains(t, aml::String("ACPI0007")));
  EXPECT_TRUE(Contains(t, {'C', '0', '0', '1'}));
  EXPECT_FALSE(Contains(t, {'C', '0', '0', '2'}));
  EXPECT_FALSE(Contains(t, {'P', 'C', 'I', '0'}));
  EXPECT_FALSE(Contains(t, {'_', 'P', 'R', 'T'}));
}

TEST(TablesTest, DsdtPciHostBridge) {
  const std::vector<uint8_t> t = BuildDsdt(PciConfig()).value();
  ExpectHeader(t, "DSDT", 2);
  EXPECT_TRUE(Contains(t, aml::Name("_HID", aml::DWord(0x080ad041))));
  EXPECT_TRUE(Contains(t, aml::Name("_CID", aml::DWord(0x030ad041))));
  EXPECT_TRUE(Contains(t, aml::WordBusNumber(0, 3)));
  EXPECT_TRUE(Contains(t, aml::WordIo(0, 0xcf7)));
  EXPECT_TRUE(Contains(t, aml::WordIo(0xd00, 0xffff)));
  EXPECT_TRUE(Contains(t, aml::DWordMemory(0xc0000000, 0xdfffffff, false)));
  EXPECT_TRUE(
      Contains(t, aml::QWordMemory(0x8000000000, 0xbfffffffff, false)));
  // Package () { 0x0002FFFF, 1, Zero, 17 }
  EXPECT_TRUE(Contains(t, {0x12, 0x0b, 0x04, 0x0c, 0xff, 0xff, 0x02, 0x00,
                           0x01, 0x00, 0x0a, 0x11}));
  // ECAM reserved as a motherboard resource: 4 buses, 4 MiB.
  EXPECT_TRUE(Contains(t, aml::DWord(aml::EisaIdValue("PNP0C02"))));
  EXPECT_TRUE(Contains(t, aml::Memory32Fixed(0xe0000000, 0x400000)));

  AcpiConfig no64 = PciConfig();
  no64.mmio64_size = 0;
  EXPECT_FALSE(Contains(BuildDsdt(no64).value(), {0x8a}));
}

TEST(TablesTest, Mcfg) {
  const std::vector<uint8_t> t = BuildMcfg(PciConfig()).value();
  ExpectHeader(t, "MCFG", 1);
  ASSERT_EQ(t.size(), 36u + 8 + 16);
  const auto a = At<McfgAllocation>(t, 44);
  EXPECT_EQ(a.base, layout::kEcamAddr);
  EXPECT_EQ(a.segment, 0);
  EXPECT_EQ(a.start_bus, 0);
  EXPECT_EQ(a.end_bus, 3);
}

// An independent AML parser: iasl disassembles the DSDT, and compiling the
// result again without optimizations gives back the same AML.
std::string RunShell(const std::string& cmd) {
  std::string out;
  FILE* f = popen((cmd + " 2>&1").c_str(), "r");
  if (f == nullptr) return "popen failed";
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  const int status = pclose(f);
  if (status != 0) out += absl::StrFormat("\n[exit status %d]", status);
  return out;
}

TEST(TablesTest, IaslDisassemblesAndRecompilesTheDsdt) {
  ASSERT_EQ(std::system("command -v iasl >/dev/null"), 0)
      << "iasl not found: install acpica-tools (tools/setup.sh does)";
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = tmp != nullptr ? tmp : "/tmp";
  AcpiConfig c = PciConfig();
  c.cpus = 20;  // makes the \_SB scope's PkgLength take 3 bytes
  const std::vector<uint8_t> dsdt = BuildDsdt(c).value();
  {
    std::ofstream f(dir + "/dsdt.aml", std::ios::binary);
    f.write(reinterpret_cast<const char*>(dsdt.data()),
            static_cast<std::streamsize>(dsdt.size()));
  }
  const std::string dis = RunShell("cd " + dir + " && iasl -d dsdt.aml");
  EXPECT_THAT(dis, Not(HasSubstr("[exit status"))) << dis;
  std::ifstream dsl_file(dir + "/dsdt.dsl");
  const std::string dsl((std::istreambuf_iterator<char>(dsl_file)),
                        std::istreambuf_iterator<char>());
  EXPECT_THAT(dsl, HasSubstr("Name (\\_S5, Package (0x04)"));
  EXPECT_THAT(dsl, HasSubstr("Device (COM1)"));
  EXPECT_THAT(dsl, HasSubstr("EisaId (\"PNP0A08\")"));
  EXPECT_THAT(dsl, HasSubstr("Device (C013)"));
  EXPECT_THAT(dsl, HasSubstr("0x0000008000000000"));
  EXPECT_THAT(dsl, HasSubstr("Name (_PRT, Package (0x02)"));
  EXPECT_THAT(dsl, HasSubstr("Memory32Fixed (ReadWrite,"));
  // The power button and the Generic Event Device that notifies it.
  EXPECT_THAT(dsl, HasSubstr("Device (PWRB)"));
  EXPECT_THAT(dsl, HasSubstr("EisaId (\"PNP0C0C\")"));
  EXPECT_THAT(dsl, HasSubstr("Device (GED0)"));
  EXPECT_THAT(dsl, HasSubstr("Name (_HID, \"ACPI0013\" /* Generic Event Device */)"));
  EXPECT_THAT(dsl, HasSubstr("Interrupt (ResourceConsumer, Edge, ActiveHigh, "
                             "Exclusive, ,, )"));
  EXPECT_THAT(dsl, HasSubstr("Method (_EVT, 1, NotSerialized)"));
  EXPECT_THAT(dsl, HasSubstr("Notify (PWRB, 0x80)"));
  EXPECT_THAT(dsl, Not(HasSubstr("Error")));

  const std::string comp = RunShell("cd " + dir + " && iasl -oa -p again dsdt.dsl");
  EXPECT_THAT(comp, Not(HasSubstr("[exit status"))) << comp;
  std::ifstream again_file(dir + "/again.aml", std::ios::binary);
  const std::vector<uint8_t> again((std::istreambuf_iterator<char>(again_file)),
                                   std::istreambuf_iterator<char>());
  ASSERT_GE(again.size(), sizeof(SdtHeader));
  // The header differs (iasl's creator id); the AML must not.
  EXPECT_EQ(std::vector<uint8_t>(again.begin() + sizeof(SdtHeader), again.end()),
            std::vector<uint8_t>(dsdt.begin() + sizeof(SdtHeader), dsdt.end()));
}

// iasl's data-table disassembler knows each field of FADT, MADT and MCFG
// and complains about wrong lengths, checksums and reserved bits.
TEST(TablesTest, IaslDisassemblesTheDataTables) {
  ASSERT_EQ(std::system("command -v iasl >/dev/null"), 0)
      << "iasl not found: install acpica-tools (tools/setup.sh does)";
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = tmp != nullptr ? tmp : "/tmp";
  AcpiConfig c = PciConfig();
  const std::vector<std::pair<std::string, std::vector<uint8_t>>> tables = {
      {"facp", BuildFadt(0xe0040)},
      {"apic", BuildMadt(c).value()},
      {"mcfg", BuildMcfg(c).value()},
      {"xsdt", BuildXsdt({0xe0100, 0xe0200})},
  };
  for (const auto& [name, bytes] : tables) {
    {
      std::ofstream f(dir + "/" + name + ".dat", std::ios::binary);
      f.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    }
    const std::string out = RunShell("cd " + dir + " && iasl -d " + name + ".dat");
    EXPECT_THAT(out, Not(HasSubstr("[exit status"))) << out;
    std::ifstream dsl_file(dir + "/" + name + ".dsl");
    const std::string dsl((std::istreambuf_iterator<char>(dsl_file)),
                          std::istreambuf_iterator<char>());
    SCOPED_TRACE(dsl);
    EXPECT_THAT(dsl, Not(HasSubstr("Error")));
    EXPECT_THAT(dsl, Not(HasSubstr("Warning")));
    EXPECT_THAT(dsl, Not(HasSubstr("Invalid")));
    EXPECT_THAT(dsl, Not(HasSubstr("Incorrect")));
    if (name == "facp") {
      EXPECT_THAT(dsl, HasSubstr("Hardware Reduced (V5) : 1"));
      EXPECT_THAT(dsl, HasSubstr("Hypervisor ID : 204D564F5243494D"));
    }
    if (name == "apic") {
      EXPECT_THAT(dsl, HasSubstr("Subtable Type : 00 [Processor Local APIC]"));
      EXPECT_THAT(dsl, HasSubstr("Interrupt : 00000002"));
    }
  }
}

}  // namespace
}  // namespace microvm::acpi
