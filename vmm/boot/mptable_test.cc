// SPDX-License-Identifier: Apache-2.0
#include "vmm/boot/mptable.h"

#include <cstring>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "memory/guest_memory.h"
#include "memory/layout.h"

namespace microvm::boot {
namespace {

using ::testing::HasSubstr;

uint8_t Sum(const uint8_t* p, size_t n) {
  uint8_t s = 0;
  for (size_t i = 0; i < n; ++i) s = static_cast<uint8_t>(s + p[i]);
  return s;
}

// The tables parsed back the way Linux's mpparse.c reads them.
struct Parsed {
  MpFloatingPointer fp;
  MpConfigHeader header;
  std::vector<MpProcessor> cpus;
  std::vector<MpBus> buses;
  std::vector<MpIoApic> ioapics;
  std::vector<MpInterrupt> io_irqs;
  std::vector<MpInterrupt> local_irqs;
};

Parsed Parse(const GuestMemory& mem) {
  Parsed p;
  p.fp = mem.ReadObject<MpFloatingPointer>(layout::kMpTableAddr).value();
  EXPECT_EQ(std::memcmp(p.fp.signature, "_MP_", 4), 0);
  EXPECT_EQ(p.fp.length, 1);
  EXPECT_EQ(p.fp.spec_rev, 4);
  EXPECT_EQ(p.fp.features[0], 0);  // a configuration table follows
  uint8_t raw_fp[16];
  EXPECT_TRUE(mem.Read(layout::kMpTableAddr, absl::MakeSpan(raw_fp)).ok());
  EXPECT_EQ(Sum(raw_fp, sizeof(raw_fp)), 0) << "floating pointer checksum";

  p.header = mem.ReadObject<MpConfigHeader>(p.fp.config_table).value();
  EXPECT_EQ(std::memcmp(p.header.signature, "PCMP", 4), 0);
  EXPECT_EQ(p.header.spec_rev, 4);
  EXPECT_EQ(p.header.lapic_addr, layout::kLapicAddr);
  std::vector<uint8_t> table(p.header.length);
  EXPECT_TRUE(mem.Read(p.fp.config_table, absl::MakeSpan(table)).ok());
  EXPECT_EQ(Sum(table.data(), table.size()), 0) << "config table checksum";
  EXPECT_LE(p.fp.config_table + table.size(), 0xa0000u);

  size_t off = sizeof(MpConfigHeader);
  uint8_t last_type = 0;
  for (int i = 0; i < p.header.entry_count; ++i) {
    const uint8_t type = table.at(off);
    EXPECT_GE(type, last_type) << "entries must be sorted by type";
    last_type = type;
    auto take = [&](auto& vec) {
      typename std::remove_reference_t<decltype(vec)>::value_type e;
      std::memcpy(&e, table.data() + off, sizeof(e));
      vec.push_back(e);
      off += sizeof(e);
    };
    switch (type) {
      case kMpEntryProcessor:
        take(p.cpus);
        break;
      case kMpEntryBus:
        take(p.buses);
        break;
      case kMpEntryIoApic:
        take(p.ioapics);
        break;
      case kMpEntryIoInterrupt:
        take(p.io_irqs);
        break;
      case kMpEntryLocalInterrupt:
        take(p.local_irqs);
        break;
      default:
        ADD_FAILURE() << "unknown entry type " << int{type};
        return p;
    }
  }
  EXPECT_EQ(off, table.size());
  return p;
}

class MpTableTest : public ::testing::TestWithParam<int> {};

TEST_P(MpTableTest, EntriesAsExpected) {
  const int cpus = GetParam();
  absl::StatusOr<GuestMemory> mem =
      GuestMemory::Create(16 * layout::kMiB, false);
  ASSERT_TRUE(mem.ok());
  ASSERT_TRUE(WriteMpTable(*mem, {cpus, {}}).ok());
  Parsed p = Parse(*mem);

  ASSERT_EQ(p.cpus.size(), static_cast<size_t>(cpus));
  for (int i = 0; i < cpus; ++i) {
    EXPECT_EQ(p.cpus[i].lapic_id, i);
    EXPECT_GE(p.cpus[i].lapic_version, 0x10);  // integrated APIC
    EXPECT_EQ(p.cpus[i].flags, kMpCpuEnabled | (i == 0 ? kMpCpuBsp : 0));
  }
  ASSERT_EQ(p.buses.size(), 2u);
  EXPECT_EQ(p.buses[0].bus_id, 0);
  EXPECT_EQ(std::string(p.buses[0].bus_type, 6), "ISA   ");
  EXPECT_EQ(p.buses[1].bus_id, 1);
  EXPECT_EQ(std::string(p.buses[1].bus_type, 6), "PCI   ");
  ASSERT_EQ(p.ioapics.size(), 1u);
  EXPECT_EQ(p.ioapics[0].id, cpus);
  EXPECT_EQ(p.ioapics[0].version, 0x11);
  EXPECT_EQ(p.ioapics[0].flags, 1);
  EXPECT_EQ(p.ioapics[0].addr, layout::kIoapicAddr);

  ASSERT_EQ(p.io_irqs.size(), 15u);
  std::vector<int> seen_irqs;
  for (const MpInterrupt& e : p.io_irqs) {
    EXPECT_EQ(e.irq_type, kMpInt);
    EXPECT_EQ(e.flags, kMpIrqConforming);
    EXPECT_EQ(e.src_bus, kMpIsaBus);
    EXPECT_EQ(e.dst_apic, cpus);
    EXPECT_EQ(e.dst_pin, e.src_irq == 0 ? 2 : e.src_irq);
    seen_irqs.push_back(e.src_irq);
  }
  EXPECT_THAT(seen_irqs, ::testing::ElementsAre(0, 1, 3, 4, 5, 6, 7, 8, 9, 10,
                                                11, 12, 13, 14, 15));
  ASSERT_EQ(p.local_irqs.size(), 2u);
  EXPECT_EQ(p.local_irqs[0].irq_type, kMpExtInt);
  EXPECT_EQ(p.local_irqs[0].dst_apic, kMpAllLapics);
  EXPECT_EQ(p.local_irqs[0].dst_pin, 0);
  EXPECT_EQ(p.local_irqs[1].irq_type, kMpNmi);
  EXPECT_EQ(p.local_irqs[1].dst_apic, kMpAllLapics);
  EXPECT_EQ(p.local_irqs[1].dst_pin, 1);

  // The BIOS data area points at the EBDA.
  EXPECT_EQ(mem->ReadObject<uint16_t>(0x40e).value(), 0x9fc0);
  EXPECT_EQ(mem->ReadObject<uint16_t>(0x413).value(), 639);
}

INSTANTIATE_TEST_SUITE_P(Cpus, MpTableTest, ::testing::Values(1, 4));

TEST(MpTableLimitsTest, PciIntxRoutes) {
  absl::StatusOr<GuestMemory> mem =
      GuestMemory::Create(16 * layout::kMiB, false);
  ASSERT_TRUE(mem.ok());
  ASSERT_TRUE(WriteMpTable(*mem, {2, {{3, 0, 16}, {4, 1, 17}}}).ok());
  Parsed p = Parse(*mem);
  ASSERT_EQ(p.io_irqs.size(), 17u);
  const MpInterrupt& e = p.io_irqs[16];
  EXPECT_EQ(e.src_bus, kMpPciBus);
  EXPECT_EQ(e.src_irq, 4 << 2 | 1);
  EXPECT_EQ(e.dst_pin, 17);
  EXPECT_EQ(e.dst_apic, 2);
  EXPECT_EQ(e.flags, kMpIrqPciLevelLow);
  EXPECT_FALSE(WriteMpTable(*mem, {1, {{32, 0, 16}}}).ok());
  EXPECT_FALSE(WriteMpTable(*mem, {1, {{1, 4, 16}}}).ok());
  EXPECT_FALSE(WriteMpTable(*mem, {1, {{1, 0, 24}}}).ok());
}

TEST(MpTableLimitsTest, RejectsBadCpuCounts) {
  absl::StatusOr<GuestMemory> mem =
      GuestMemory::Create(16 * layout::kMiB, false);
  ASSERT_TRUE(mem.ok());
  absl::Status s = WriteMpTable(*mem, {0, {}});
  EXPECT_THAT(s.message(), HasSubstr("use 1 to 254"));
  s = WriteMpTable(*mem, {255, {}});
  EXPECT_THAT(s.message(), HasSubstr("use 1 to 254"));
}

TEST(MpTableLimitsTest, TableMustFitBelowA0000) {
  absl::StatusOr<GuestMemory> mem =
      GuestMemory::Create(16 * layout::kMiB, false);
  ASSERT_TRUE(mem.ok());
  // 1 KiB of EBDA: 16 + 44 + 16 (buses) + 8 (IOAPIC) + 120 (ISA IRQs) + 16
  // (LINTs) bytes leave room for 40 processor entries of 20 bytes.
  EXPECT_TRUE(WriteMpTable(*mem, {40, {}}).ok());
  absl::Status s = WriteMpTable(*mem, {41, {}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("use at most 40 vCPUs"));
}

}  // namespace
}  // namespace microvm::boot
