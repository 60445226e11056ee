// SPDX-License-Identifier: Apache-2.0
#include "pci/pci_header.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace microvm::pci {
namespace {

constexpr PciIds kIds{0x1234, 0x11e8, 0x00ff00, 0x10, 0x1af4, 0x1100};

uint32_t Read32(const PciHeader& h, uint32_t offset) {
  uint8_t buf[4];
  h.Read(offset, absl::MakeSpan(buf));
  return buf[0] | buf[1] << 8 | buf[2] << 16 | uint32_t{buf[3]} << 24;
}

ConfigWriteResult Write(PciHeader& h, uint32_t offset, size_t size,
                        uint32_t value) {
  uint8_t buf[4];
  for (int i = 0; i < 4; ++i) buf[i] = value >> (8 * i);
  return h.Write(offset, absl::MakeConstSpan(buf, size));
}

uint32_t SizeBar(PciHeader& h, uint32_t reg) {
  Write(h, reg, 4, 0xffffffff);
  return Read32(h, reg);
}

TEST(PciHeaderTest, IdsAreReadOnly) {
  PciHeader h(kIds, IntxPin::kIntA);
  EXPECT_EQ(Read32(h, kVendorId), 0x11e81234u);
  EXPECT_EQ(Read32(h, kRevisionId), 0x00ff0010u);
  EXPECT_EQ(Read32(h, kSubsystemVendorId), 0x11001af4u);
  EXPECT_EQ(Read32(h, kCacheLineSize) >> 16, 0u);  // header type 0
  for (uint32_t reg :
       {kVendorId, kRevisionId, kSubsystemVendorId, kCapabilitiesPointer}) {
    const uint32_t before = Read32(h, reg);
    Write(h, reg, 4, ~before);
    EXPECT_EQ(Read32(h, reg), before) << reg;
  }
}

TEST(PciHeaderTest, CommandStatusAndInterruptRegisters) {
  PciHeader h(kIds, IntxPin::kIntB);
  Write(h, kCommand, 2, 0xffff);
  EXPECT_EQ(h.command(), kCommandIo | kCommandMemory | kCommandBusMaster |
                             kCommandParity | kCommandSerr |
                             kCommandIntxDisable);
  Write(h, kCommand, 2, 0);
  EXPECT_EQ(h.command(), 0);

  h.SetIntxStatus(true);
  h.config().Set16(kStatus, h.config().Get16(kStatus) | (1 << 13));
  Write(h, kStatus, 2, 0xffff & ~(1 << 13));  // W1C of other bits only
  EXPECT_EQ(h.config().Get16(kStatus), kStatusIntx | (1 << 13));
  Write(h, kCommand, 4, 0xffff0000);  // dword write: clears status errors
  EXPECT_EQ(h.config().Get16(kStatus), kStatusIntx);
  h.SetIntxStatus(false);
  EXPECT_EQ(h.config().Get16(kStatus), 0);

  Write(h, kInterruptLine, 2, 0xffff);
  EXPECT_EQ(h.config().Get8(kInterruptLine), 0xff);
  EXPECT_EQ(h.config().Get8(kInterruptPin), 2);  // INTB, read-only
}

TEST(PciHeaderTest, BarSizingEveryKind) {
  PciHeader h(kIds, IntxPin::kNone);
  ASSERT_TRUE(h.AddBar(0, {BarType::kIo, 32}).ok());
  ASSERT_TRUE(h.AddBar(1, {BarType::kMemory32, 4096, true}).ok());
  ASSERT_TRUE(h.AddBar(2, {BarType::kMemory64, 1 << 20, true}).ok());
  ASSERT_TRUE(h.AddBar(4, {BarType::kMemory64, uint64_t{8} << 30}).ok());
  ASSERT_TRUE(h.AddRom(64 * 1024).ok());

  EXPECT_EQ(Read32(h, 0x10), 0x1u);
  EXPECT_EQ(SizeBar(h, 0x10), 0xffffffe1u);
  EXPECT_EQ(SizeBar(h, 0x14), 0xfffff008u);
  EXPECT_EQ(Read32(h, 0x18), 0xcu);
  EXPECT_EQ(SizeBar(h, 0x18), 0xfff0000cu);
  EXPECT_EQ(SizeBar(h, 0x1c), 0xffffffffu);
  EXPECT_EQ(SizeBar(h, 0x20), 0x4u);  // 8 GiB: no low address bits
  EXPECT_EQ(SizeBar(h, 0x24), 0xfffffffeu);
  EXPECT_EQ(SizeBar(h, kRomAddress), 0xffff0001u);
  Write(h, kRomAddress, 4, 0xfffff800);
  EXPECT_EQ(Read32(h, kRomAddress), 0xffff0000u);

  // Addresses are masked to the BAR's alignment; type bits stay.
  Write(h, 0x10, 4, 0x1234567f);
  EXPECT_EQ(Read32(h, 0x10), 0x12345661u);
  Write(h, 0x14, 4, 0x12345678);
  EXPECT_EQ(Read32(h, 0x14), 0x12345008u);
  Write(h, 0x18, 2, 0xffff);  // 16-bit write into the low half
  EXPECT_EQ(Read32(h, 0x18), 0xfff0000cu);

  EXPECT_EQ(h.bar(3), std::nullopt);  // upper half of BAR 2
  EXPECT_EQ(h.bar(2)->size, 1u << 20);
  EXPECT_EQ(h.bar(kRomBar)->size, 64u * 1024);
}

TEST(PciHeaderTest, UnusedBarsAndNoRomReadZero) {
  PciHeader h(kIds, IntxPin::kNone);
  for (uint32_t reg = 0x10; reg < 0x28; reg += 4) {
    EXPECT_EQ(SizeBar(h, reg), 0u);
  }
  EXPECT_EQ(SizeBar(h, kRomAddress), 0u);
}

TEST(PciHeaderTest, AddBarRejectsBadDeclarations) {
  PciHeader h(kIds, IntxPin::kNone);
  EXPECT_FALSE(h.AddBar(5, {BarType::kMemory64, 4096}).ok());
  EXPECT_FALSE(h.AddBar(6, {BarType::kMemory32, 4096}).ok());
  EXPECT_FALSE(h.AddBar(-1, {BarType::kMemory32, 4096}).ok());
  EXPECT_FALSE(h.AddBar(0, {BarType::kMemory32, 3000}).ok());
  EXPECT_FALSE(h.AddBar(0, {BarType::kMemory32, 8}).ok());
  EXPECT_FALSE(h.AddBar(0, {BarType::kMemory32, uint64_t{4} << 30}).ok());
  EXPECT_FALSE(h.AddBar(0, {BarType::kIo, 512}).ok());
  EXPECT_FALSE(h.AddBar(0, {BarType::kIo, 16, true}).ok());
  ASSERT_TRUE(h.AddBar(0, {BarType::kMemory64, 4096}).ok());
  EXPECT_FALSE(h.AddBar(1, {BarType::kMemory32, 4096}).ok());
  EXPECT_FALSE(h.AddBar(0, {BarType::kMemory32, 4096}).ok());
  EXPECT_FALSE(h.AddRom(1024).ok());
  EXPECT_FALSE(h.AddRom(32 << 20).ok());
}

TEST(PciHeaderTest, DecodeFollowsCommandAndAddress) {
  PciHeader h(kIds, IntxPin::kNone);
  ASSERT_TRUE(h.AddBar(0, {BarType::kMemory32, 4096}).ok());
  ASSERT_TRUE(h.AddBar(1, {BarType::kIo, 16}).ok());
  ASSERT_TRUE(h.AddBar(2, {BarType::kMemory64, 1 << 20, true}).ok());

  // Addresses while decode is off change nothing visible.
  EXPECT_TRUE(Write(h, 0x10, 4, 0xc0000000).bar_changes.empty());
  EXPECT_TRUE(Write(h, 0x14, 4, 0xc000).bar_changes.empty());
  Write(h, 0x18, 4, 0x00000000);
  Write(h, 0x1c, 4, 0x1);  // 0x1_0000_0000
  EXPECT_EQ(h.DecodedBar(0), std::nullopt);

  auto on = Write(h, kCommand, 2, kCommandMemory);
  ASSERT_EQ(on.bar_changes.size(), 2u);
  EXPECT_EQ(on.bar_changes[0].index, 0);
  EXPECT_EQ(on.bar_changes[0].before, std::nullopt);
  EXPECT_EQ(on.bar_changes[0].after,
            (BarRegion{0, false, 0xc0000000, 4096, false}));
  EXPECT_EQ(on.bar_changes[1].after,
            (BarRegion{2, false, 0x100000000, 1 << 20, true}));

  auto io = Write(h, kCommand, 2, kCommandMemory | kCommandIo);
  ASSERT_EQ(io.bar_changes.size(), 1u);
  EXPECT_EQ(io.bar_changes[0].after, (BarRegion{1, true, 0xc000, 16, false}));

  // Moving a decoding BAR: one change with both ends.
  auto move = Write(h, 0x10, 4, 0xc0010000);
  ASSERT_EQ(move.bar_changes.size(), 1u);
  EXPECT_EQ(move.bar_changes[0].before->address, 0xc0000000u);
  EXPECT_EQ(move.bar_changes[0].after->address, 0xc0010000u);

  // Sizing with decode on: the BAR stops decoding until restored.
  auto size = Write(h, 0x10, 4, 0xffffffff);
  ASSERT_EQ(size.bar_changes.size(), 1u);
  EXPECT_EQ(size.bar_changes[0].after, std::nullopt);
  auto restore = Write(h, 0x10, 4, 0xc0010000);
  ASSERT_EQ(restore.bar_changes.size(), 1u);
  EXPECT_EQ(restore.bar_changes[0].after->address, 0xc0010000u);

  // An unrelated write reports nothing; decode off reports every BAR.
  EXPECT_TRUE(Write(h, kInterruptLine, 1, 5).bar_changes.empty());
  EXPECT_TRUE(
      Write(h, kCommand, 2, kCommandMemory | kCommandIo | kCommandBusMaster)
          .bar_changes.empty());
  auto off = Write(h, kCommand, 2, 0);
  EXPECT_EQ(off.bar_changes.size(), 3u);
  for (const auto& c : off.bar_changes) {
    EXPECT_TRUE(c.before.has_value());
    EXPECT_FALSE(c.after.has_value());
  }
}

TEST(PciHeaderTest, DecodeRejectsZeroAndOutOfSpaceAddresses) {
  PciHeader h(kIds, IntxPin::kNone);
  ASSERT_TRUE(h.AddBar(0, {BarType::kIo, 256}).ok());
  ASSERT_TRUE(h.AddBar(1, {BarType::kMemory32, 4096}).ok());
  Write(h, kCommand, 2, kCommandIo | kCommandMemory);
  EXPECT_EQ(h.DecodedBar(0), std::nullopt);  // address 0
  Write(h, 0x10, 4, 0x10000);                // beyond the 64 KiB port space
  EXPECT_EQ(h.DecodedBar(0), std::nullopt);
  Write(h, 0x10, 4, 0xff00);
  EXPECT_EQ(h.DecodedBar(0)->address, 0xff00u);
  Write(h, 0x14, 4, 0xfffff000);  // all writable bits: sizing
  EXPECT_EQ(h.DecodedBar(1), std::nullopt);
  Write(h, 0x14, 4, 0xffffe000);
  EXPECT_EQ(h.DecodedBar(1)->address, 0xffffe000u);
}

TEST(PciHeaderTest, RomDecodesWithEnableBitAndMemorySpace) {
  PciHeader h(kIds, IntxPin::kNone);
  ASSERT_TRUE(h.AddRom(0x8000).ok());
  Write(h, kRomAddress, 4, 0xd0000000);
  Write(h, kCommand, 2, kCommandMemory);
  EXPECT_EQ(h.DecodedBar(kRomBar), std::nullopt);
  auto on = Write(h, kRomAddress, 4, 0xd0000001);
  ASSERT_EQ(on.bar_changes.size(), 1u);
  EXPECT_EQ(on.bar_changes[0].index, kRomBar);
  EXPECT_EQ(on.bar_changes[0].after,
            (BarRegion{kRomBar, false, 0xd0000000, 0x8000, false}));
  auto off = Write(h, kCommand, 2, 0);
  ASSERT_EQ(off.bar_changes.size(), 1u);
  EXPECT_EQ(off.bar_changes[0].after, std::nullopt);
}

}  // namespace
}  // namespace microvm::pci
