// SPDX-License-Identifier: Apache-2.0
#include "pci/config_space.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace microvm::pci {
namespace {

using ::testing::ElementsAre;

uint32_t ReadN(const ConfigSpace& c, uint32_t offset, size_t size) {
  uint8_t buf[4] = {0xaa, 0xaa, 0xaa, 0xaa};
  c.Read(offset, absl::MakeSpan(buf, size));
  uint32_t v = 0;
  for (size_t i = 0; i < size; ++i) v |= uint32_t{buf[i]} << (8 * i);
  return v;
}

void WriteN(ConfigSpace& c, uint32_t offset, size_t size, uint32_t value) {
  uint8_t buf[4];
  for (size_t i = 0; i < 4; ++i) buf[i] = value >> (8 * i);
  c.Write(offset, absl::MakeConstSpan(buf, size));
}

TEST(ConfigSpaceTest, StartsZeroAndReadOnly) {
  ConfigSpace c;
  EXPECT_EQ(c.size(), 4096u);
  WriteN(c, 0x40, 4, 0xffffffff);
  EXPECT_EQ(ReadN(c, 0x40, 4), 0u);
  c.Set32(0x40, 0x12345678);
  WriteN(c, 0x40, 4, 0);
  EXPECT_EQ(ReadN(c, 0x40, 4), 0x12345678u);
}

TEST(ConfigSpaceTest, WritableMaskKeepsReadOnlyBits) {
  ConfigSpace c;
  c.Set32(0x40, 0xa5a5a5a5);
  c.SetWritable(0x40, 4, 0x0000ff0f);
  WriteN(c, 0x40, 4, 0x12345678);
  EXPECT_EQ(ReadN(c, 0x40, 4), 0xa5a556a8u);
  EXPECT_EQ(c.Writable(0x40, 4), 0x0000ff0fu);
}

TEST(ConfigSpaceTest, W1cClearsOnlyBitsWrittenAsOne) {
  ConfigSpace c;
  c.Set16(kStatus, 0xf910);
  c.SetW1c(kStatus, 2, kStatusErrors);
  WriteN(c, kStatus, 2, 0x0000);  // writing 0 changes nothing
  EXPECT_EQ(ReadN(c, kStatus, 2), 0xf910u);
  WriteN(c, kStatus, 2, 0x8100);  // clears bits 15 and 8
  EXPECT_EQ(ReadN(c, kStatus, 2), 0x7810u);
  WriteN(c, kStatus, 2, 0xffff);  // CAP_LIST (bit 4) is not W1C
  EXPECT_EQ(ReadN(c, kStatus, 2), 0x0010u);
}

TEST(ConfigSpaceTest, EverySizeAtEveryOffsetWithinADword) {
  ConfigSpace c;
  c.SetWritable(0x40, 4, 0xffffffff);
  c.Set32(0x40, 0x44332211);
  for (uint32_t size : {1u, 2u, 4u}) {
    for (uint32_t off = 0; off + size <= 4; ++off) {
      uint32_t expect = 0x44332211u >> (8 * off);
      if (size < 4) expect &= (1u << (8 * size)) - 1;
      EXPECT_EQ(ReadN(c, 0x40 + off, size), expect) << size << "@" << off;
    }
  }
  WriteN(c, 0x41, 2, 0xbeef);
  EXPECT_EQ(c.Get32(0x40), 0x44beef11u);
  WriteN(c, 0x43, 1, 0x99);
  EXPECT_EQ(c.Get32(0x40), 0x99beef11u);
}

TEST(ConfigSpaceTest, AccessCrossingADwordIsRejected) {
  ConfigSpace c;
  c.SetWritable(0x40, 4, 0xffffffff);
  c.SetWritable(0x44, 4, 0xffffffff);
  c.Set32(0x40, 0x11111111);
  EXPECT_FALSE(ConfigSpace::ValidAccess(0x43, 2));
  EXPECT_FALSE(ConfigSpace::ValidAccess(0x42, 4));
  EXPECT_FALSE(ConfigSpace::ValidAccess(0x40, 3));
  EXPECT_FALSE(ConfigSpace::ValidAccess(0x40, 8));
  EXPECT_FALSE(ConfigSpace::ValidAccess(4096, 1));
  EXPECT_TRUE(ConfigSpace::ValidAccess(4095, 1));
  EXPECT_EQ(ReadN(c, 0x43, 2), 0u);
  WriteN(c, 0x43, 2, 0xffff);
  WriteN(c, 0x42, 4, 0xffffffff);
  EXPECT_EQ(c.Get32(0x40), 0x11111111u);
  EXPECT_EQ(c.Get32(0x44), 0u);
}

TEST(ConfigSpaceTest, ConventionalSpaceReadsZeroBeyond256) {
  ConfigSpace c(ConfigSpace::kConventionalSize);
  EXPECT_EQ(c.size(), 256u);
  c.Set32(0x100, 0xffffffff);  // dropped
  WriteN(c, 0x100, 4, 0xffffffff);
  EXPECT_EQ(ReadN(c, 0x100, 4), 0u);
  EXPECT_EQ(ReadN(c, 0xffc, 4), 0u);
}

TEST(ConfigSpaceTest, CapabilityChain) {
  ConfigSpace c;
  EXPECT_EQ(c.Get16(kStatus) & kStatusCapList, 0);
  EXPECT_EQ(c.Capabilities().size(), 0u);
  auto a = c.AddCapability(kCapPowerManagement, 8);
  auto b = c.AddCapability(kCapMsi, 10);  // rounded up to 12
  auto d = c.AddCapability(kCapVendor, 5);
  ASSERT_TRUE(a.ok() && b.ok() && d.ok());
  EXPECT_EQ(*a, 0x40u);
  EXPECT_EQ(*b, 0x48u);
  EXPECT_EQ(*d, 0x54u);
  EXPECT_NE(c.Get16(kStatus) & kStatusCapList, 0);
  EXPECT_EQ(c.Get8(kCapabilitiesPointer), 0x40);
  EXPECT_EQ(c.Get8(0x40), kCapPowerManagement);
  EXPECT_EQ(c.Get8(0x41), 0x48);
  EXPECT_EQ(c.Get8(0x49), 0x54);
  EXPECT_EQ(c.Get8(0x55), 0);
  EXPECT_THAT(c.Capabilities(), ElementsAre(0x40, 0x48, 0x54));
  EXPECT_EQ(c.FindCapability(kCapMsi), 0x48u);
  EXPECT_EQ(c.FindCapability(kCapMsix), std::nullopt);
  // The guest cannot rewrite the chain.
  WriteN(c, kCapabilitiesPointer, 1, 0x80);
  WriteN(c, 0x41, 1, 0x00);
  EXPECT_THAT(c.Capabilities(), ElementsAre(0x40, 0x48, 0x54));
}

TEST(ConfigSpaceTest, CapabilitySpaceRunsOut) {
  ConfigSpace c;
  ASSERT_TRUE(c.AddCapability(kCapVendor, 0xb0).ok());  // 0x40-0xef
  EXPECT_TRUE(c.AddCapability(kCapVendor, 0x10).ok());  // 0xf0-0xff
  auto full = c.AddCapability(kCapVendor, 4);
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(c.AddCapability(kCapVendor, 1).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ConfigSpaceTest, CorruptChainWalkTerminates) {
  ConfigSpace c;
  ASSERT_TRUE(c.AddCapability(kCapVendor, 4).ok());
  c.Set8(0x41, 0x40);  // points at itself
  EXPECT_EQ(c.Capabilities().size(), 48u);
  c.Set32(0x100, 0x10000001);  // extended cap 1, next = 0x100
  EXPECT_EQ(c.Capabilities().size(), 48u + 960u);
}

TEST(ConfigSpaceTest, ExtendedCapabilityChain) {
  ConfigSpace c;
  auto a = c.AddExtendedCapability(0x0001, 1, 0x30);  // AER
  auto b = c.AddExtendedCapability(0x000b, 1, 8);     // vendor-specific
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, 0x100u);
  EXPECT_EQ(*b, 0x130u);
  EXPECT_EQ(c.Get32(0x100), 0x1301'0001u);
  EXPECT_EQ(c.Get32(0x130), 0x0001'000bu);
  EXPECT_EQ(c.FindExtendedCapability(0x000b), 0x130u);
  EXPECT_EQ(c.FindExtendedCapability(0x0002), std::nullopt);
  EXPECT_THAT(c.Capabilities(), ElementsAre(0x100, 0x130));

  ConfigSpace small(ConfigSpace::kConventionalSize);
  EXPECT_EQ(small.AddExtendedCapability(1, 1, 8).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(ConfigSpaceTest, HostileAccessesNeverEscape) {
  ConfigSpace c(ConfigSpace::kConventionalSize);
  c.SetWritable(0xfc, 4, 0xffffffff);
  for (uint32_t off = 0; off < 8192; ++off) {
    for (size_t size : {0, 1, 2, 3, 4, 8}) {
      std::vector<uint8_t> buf(size, 0x5a);
      c.Read(off, absl::MakeSpan(buf));
      std::fill(buf.begin(), buf.end(), 0x5a);
      c.Write(off, absl::MakeConstSpan(buf));
    }
  }
  EXPECT_EQ(c.Get32(0xfc), 0x5a5a5a5au);
}

}  // namespace
}  // namespace microvm::pci
