// SPDX-License-Identifier: Apache-2.0
#include "pci/msix.h"

#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace microvm::pci {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Type = MsiAction::Type;

MsiActions Write32(MsixTable& t, uint64_t offset, uint32_t value) {
  uint8_t buf[4];
  for (int i = 0; i < 4; ++i) buf[i] = value >> (8 * i);
  return t.WriteTable(offset, absl::MakeConstSpan(buf));
}

MsiActions Write64(MsixTable& t, uint64_t offset, uint64_t value) {
  uint8_t buf[8];
  for (int i = 0; i < 8; ++i) buf[i] = value >> (8 * i);
  return t.WriteTable(offset, absl::MakeConstSpan(buf));
}

uint64_t Read(const MsixTable& t, uint64_t offset, size_t size,
              bool pba = false) {
  uint8_t buf[8] = {0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa};
  if (pba) {
    t.ReadPba(offset, absl::MakeSpan(buf, size));
  } else {
    t.ReadTable(offset, absl::MakeSpan(buf, size));
  }
  uint64_t v = 0;
  for (size_t i = 0; i < size; ++i) v |= uint64_t{buf[i]} << (8 * i);
  return v;
}

// Programs entry v with a message and unmasks it, as Linux does.
void Program(MsixTable& t, uint32_t v, uint64_t address, uint32_t data) {
  Write64(t, v * 16, address);
  Write32(t, v * 16 + 8, data);
  Write32(t, v * 16 + 12, 0);
}

TEST(MsixCapabilityTest, Registers) {
  ConfigSpace space;
  auto cap = MsixCapability::Add(space, {64, 2, 0x1000, 2, 0x1800});
  ASSERT_TRUE(cap.ok()) << cap.status();
  const uint32_t at = cap->offset();
  EXPECT_EQ(space.FindCapability(kCapMsix), at);
  EXPECT_EQ(space.Get16(at + 2), 63);
  EXPECT_EQ(space.Get32(at + 4), 0x1002u);
  EXPECT_EQ(space.Get32(at + 8), 0x1802u);
  uint8_t ones[4] = {0xff, 0xff, 0xff, 0xff};
  space.Write(at, absl::MakeConstSpan(ones));
  space.Write(at + 4, absl::MakeConstSpan(ones));
  EXPECT_EQ(space.Get16(at + 2), 0xc000 | 63);  // enable + function mask
  EXPECT_EQ(space.Get32(at + 4), 0x1002u);

  MsixTable table(64);
  EXPECT_THAT(cap->Update(space, table),
              ElementsAre(MsiAction{Type::kEnable, 64},
                          MsiAction{Type::kFunctionMask}));
  EXPECT_TRUE(table.enabled());
  EXPECT_TRUE(table.function_masked());

  EXPECT_FALSE(MsixCapability::Add(space, {0}).ok());
  EXPECT_FALSE(MsixCapability::Add(space, {2049}).ok());
  EXPECT_FALSE(MsixCapability::Add(space, {4, 6}).ok());
  EXPECT_FALSE(MsixCapability::Add(space, {4, 0, 4}).ok());
}

TEST(MsixTableTest, ResetStateAndSizes) {
  MsixTable t(65);
  EXPECT_EQ(t.size(), 65u);
  EXPECT_EQ(t.table_bytes(), 65u * 16);
  EXPECT_EQ(t.pba_bytes(), 16u);
  EXPECT_EQ(Read(t, 12, 4), 1u);  // vector control: masked
  EXPECT_EQ(Read(t, 8, 8), uint64_t{1} << 32);
  EXPECT_FALSE(t.InUse(0));
  EXPECT_EQ(MsixTable(0).size(), 1u);
  EXPECT_EQ(MsixTable(5000).size(), 2048u);
}

TEST(MsixTableTest, EntryAccessSizes) {
  MsixTable t(4);
  EXPECT_THAT(Write64(t, 16, 0x00000001'fee0100f), IsEmpty());
  EXPECT_EQ(Read(t, 16, 4), 0xfee0100cu);  // bits 1:0 dropped
  EXPECT_EQ(Read(t, 20, 4), 1u);
  EXPECT_EQ(Read(t, 16, 8), 0x00000001'fee0100cu);
  Write32(t, 24, 0x4567);
  Write32(t, 28, 0xfffffffe);  // reserved bits ignored; unmasked
  EXPECT_EQ(Read(t, 24, 8), 0x4567u);
  // 1- and 2-byte, misaligned and out-of-range accesses are ignored.
  uint8_t b[2] = {0xff, 0xff};
  t.WriteTable(24, absl::MakeConstSpan(b, 1));
  t.WriteTable(24, absl::MakeConstSpan(b, 2));
  EXPECT_THAT(Write32(t, 26, 0xffffffff), IsEmpty());
  EXPECT_THAT(Write64(t, 20, ~0ull), IsEmpty());
  EXPECT_THAT(Write32(t, 64, 0), IsEmpty());
  EXPECT_THAT(Write64(t, 60, 0), IsEmpty());
  EXPECT_EQ(Read(t, 24, 4), 0x4567u);
  EXPECT_EQ(Read(t, 24, 2), 0u);
  EXPECT_EQ(Read(t, 64, 4), 0u);
  EXPECT_EQ(Read(t, 1ull << 40, 8), 0u);
}

TEST(MsixTableTest, EnableProgramUnmaskRoute) {
  MsixTable t(4);
  EXPECT_THAT(t.SetControl(true, false),
              ElementsAre(MsiAction{Type::kEnable, 4}));
  Write64(t, 0, 0xfee00000);
  Write32(t, 8, 0x41);
  EXPECT_FALSE(t.InUse(0));
  EXPECT_THAT(Write32(t, 12, 0),
              ElementsAre(MsiAction{Type::kUnmask, 0, {0xfee00000, 0x41}}));
  EXPECT_TRUE(t.InUse(0));
  EXPECT_TRUE(t.Fire(0));
  EXPECT_THAT(Write32(t, 8, 0x42),
              ElementsAre(MsiAction{Type::kRoute, 0, {0xfee00000, 0x42}}));
  EXPECT_THAT(Write32(t, 8, 0x42), IsEmpty());
  // Data and control in one qword: unmask with the new message only.
  Write32(t, 12, 1);
  EXPECT_THAT(Write64(t, 8, 0x43),
              ElementsAre(MsiAction{Type::kUnmask, 0, {0xfee00000, 0x43}}));
  EXPECT_THAT(Write32(t, 12, 1), ElementsAre(MsiAction{Type::kMask, 0}));
  EXPECT_EQ(t.message(0), (MsiMessage{0xfee00000, 0x43}));
  EXPECT_EQ(t.message(99), MsiMessage{});
}

TEST(MsixTableTest, MaskedFireSetsPendingAndUnmaskDelivers) {
  MsixTable t(70);
  t.SetControl(true, false);
  Write64(t, 66 * 16, 0xfee00000);
  Write32(t, 66 * 16 + 8, 0x66);
  EXPECT_FALSE(t.Fire(66));  // masked at reset
  EXPECT_TRUE(t.pending(66));
  EXPECT_EQ(Read(t, 8, 8, /*pba=*/true), uint64_t{1} << 2);
  EXPECT_EQ(Read(t, 8, 4, true), 4u);
  EXPECT_EQ(Read(t, 12, 4, true), 0u);
  EXPECT_EQ(Read(t, 16, 8, true), 0u);  // beyond the PBA
  // Writes past the table (where a device may place its PBA) do nothing.
  EXPECT_THAT(Write64(t, t.table_bytes(), 0), IsEmpty());
  EXPECT_TRUE(t.pending(66));

  EXPECT_THAT(Write32(t, 66 * 16 + 12, 0),
              ElementsAre(MsiAction{Type::kUnmask,
                                    66,
                                    {0xfee00000, 0x66},
                                    /*pending=*/true}));
  EXPECT_FALSE(t.pending(66));
  EXPECT_TRUE(t.Fire(66));
  EXPECT_FALSE(t.Fire(70));
  EXPECT_FALSE(t.Fire(~0u));
}

TEST(MsixTableTest, FunctionMask) {
  MsixTable t(3);
  t.SetControl(true, false);
  Program(t, 0, 0xfee00000, 1);
  Program(t, 2, 0xfee00000, 3);
  EXPECT_THAT(
      t.SetControl(true, true),
      ElementsAre(MsiAction{Type::kFunctionMask}, MsiAction{Type::kMask, 0},
                  MsiAction{Type::kMask, 2}));
  // Still in use (host vectors stay), but nothing is delivered.
  EXPECT_TRUE(t.InUse(0));
  EXPECT_FALSE(t.Delivers(0));
  EXPECT_FALSE(t.Fire(2));
  EXPECT_TRUE(t.pending(2));
  // Unmasking an entry under the function mask delivers nothing yet.
  EXPECT_THAT(Write32(t, 16 + 12, 0), IsEmpty());
  EXPECT_THAT(t.SetControl(true, false),
              ElementsAre(MsiAction{Type::kFunctionUnmask},
                          MsiAction{Type::kUnmask, 0, {0xfee00000, 1}},
                          MsiAction{Type::kUnmask, 1},
                          MsiAction{Type::kUnmask, 2, {0xfee00000, 3}, true}));
}

TEST(MsixTableTest, DisableMasksEverythingAndDropsFires) {
  MsixTable t(2);
  t.SetControl(true, false);
  Program(t, 1, 0xfee00000, 7);
  EXPECT_THAT(
      t.SetControl(false, false),
      ElementsAre(MsiAction{Type::kMask, 1}, MsiAction{Type::kDisable}));
  EXPECT_FALSE(t.InUse(1));
  EXPECT_FALSE(t.Fire(1));
  EXPECT_FALSE(t.pending(1));
  EXPECT_THAT(t.SetControl(false, false), IsEmpty());
  // Re-enabling brings back the programmed, unmasked entry.
  EXPECT_THAT(t.SetControl(true, false),
              ElementsAre(MsiAction{Type::kEnable, 2},
                          MsiAction{Type::kUnmask, 1, {0xfee00000, 7}}));
}

TEST(MsixTableTest, HostileAccessesEverywhere) {
  MsixTable t(5);
  t.SetControl(true, false);
  for (uint64_t off = 0; off < 0x120; ++off) {
    for (size_t size : {0, 1, 2, 3, 4, 8}) {
      for (uint64_t value : {0ull, ~0ull, 0x5a5a5a5a5a5a5a5aull}) {
        uint8_t buf[8];
        for (int i = 0; i < 8; ++i) buf[i] = value >> (8 * i);
        t.WriteTable(off, absl::MakeConstSpan(buf, size));
        t.ReadTable(off, absl::MakeSpan(buf, size));
        t.ReadPba(off, absl::MakeSpan(buf, size));
        t.Fire(static_cast<uint32_t>(off % 7));
      }
    }
  }
  t.SetControl(false, true);
  EXPECT_FALSE(t.InUse(0));
}

}  // namespace
}  // namespace microvm::pci
