// SPDX-License-Identifier: Apache-2.0
#include "pci/msi.h"

#include <cstdint>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pci/pci_header.h"

namespace microvm::pci {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Type = MsiAction::Type;

class MsiTest : public ::testing::Test {
 protected:
  void Make(const MsiConfig& config) {
    auto cap = MsiCapability::Add(space_, config);
    ASSERT_TRUE(cap.ok()) << cap.status();
    cap_.emplace(*cap);
  }
  // A guest write, then the capability's look at it.
  MsiActions Write(uint32_t offset, size_t size, uint32_t value) {
    uint8_t buf[4];
    for (int i = 0; i < 4; ++i) buf[i] = value >> (8 * i);
    space_.Write(cap_->offset() + offset, absl::MakeConstSpan(buf, size));
    return cap_->Update(space_);
  }
  uint32_t Reg(uint32_t offset, size_t size = 4) {
    return space_.Get(cap_->offset() + offset, size);
  }

  ConfigSpace space_;
  std::optional<MsiCapability> cap_;
};

TEST_F(MsiTest, LayoutOf64BitWithMasking) {
  Make({8, true, true});
  EXPECT_EQ(cap_->offset(), 0x40u);
  EXPECT_EQ(cap_->length(), 24u);
  EXPECT_EQ(space_.FindCapability(kCapMsi), 0x40u);
  // MMC = 3 (8 vectors), 64-bit, per-vector masking; nothing enabled.
  EXPECT_EQ(Reg(2, 2), (3u << 1) | (1u << 7) | (1u << 8));
  EXPECT_EQ(Write(4, 4, 0xffffffff), MsiActions{});
  EXPECT_EQ(Reg(4), 0xfffffffcu);  // bits 1:0 reserved
  Write(8, 4, 0xffffffff);
  EXPECT_EQ(Reg(8), 0xffffffffu);
  Write(12, 4, 0xffffffff);
  EXPECT_EQ(Reg(12), 0xffffu);  // 16-bit data
  Write(16, 4, 0xffffffff);
  EXPECT_EQ(Reg(16), 0xffu);  // mask bits for 8 vectors only
  Write(20, 4, 0xffffffff);
  EXPECT_EQ(Reg(20), 0u);  // pending is read-only
  Write(2, 2, 0xffff);
  EXPECT_EQ(Reg(2, 2) & 0x71, 0x31u);  // enable + MME 3
}

TEST_F(MsiTest, LayoutOf32BitWithoutMasking) {
  Make({1, false, false});
  EXPECT_EQ(cap_->length(), 12u);
  EXPECT_EQ(Reg(2, 2), 0u);
  Write(8, 2, 0x4321);
  EXPECT_EQ(Reg(8, 2), 0x4321u);
  EXPECT_FALSE(cap_->Overlaps(0x40 + 12, 4));
  EXPECT_TRUE(cap_->Overlaps(0x40 + 11, 1));
  EXPECT_TRUE(cap_->Overlaps(0x3f, 2));
}

TEST_F(MsiTest, EnableWithMultipleVectors) {
  Make({4, true, false});
  EXPECT_THAT(Write(4, 4, 0xfee01000), IsEmpty());
  EXPECT_THAT(Write(12, 2, 0x4043), IsEmpty());
  // MME = 2 (4 vectors) and enable in one write.
  auto actions = Write(2, 2, (2 << 4) | 1);
  EXPECT_THAT(actions,
              ElementsAre(MsiAction{Type::kEnable, 4},
                          MsiAction{Type::kUnmask, 0, {0xfee01000, 0x4040}},
                          MsiAction{Type::kUnmask, 1, {0xfee01000, 0x4041}},
                          MsiAction{Type::kUnmask, 2, {0xfee01000, 0x4042}},
                          MsiAction{Type::kUnmask, 3, {0xfee01000, 0x4043}}));
  EXPECT_EQ(cap_->enabled_vectors(), 4u);
  EXPECT_TRUE(cap_->Fire(space_, 3));
  EXPECT_FALSE(cap_->Fire(space_, 4));

  // A new message while enabled reroutes every vector.
  actions = Write(4, 4, 0xfee02000);
  ASSERT_EQ(actions.size(), 4u);
  EXPECT_EQ(actions[1], (MsiAction{Type::kRoute, 1, {0xfee02000, 0x4041}}));

  actions = Write(2, 2, 2 << 4);
  EXPECT_THAT(actions,
              ElementsAre(MsiAction{Type::kMask, 0}, MsiAction{Type::kMask, 1},
                          MsiAction{Type::kMask, 2}, MsiAction{Type::kMask, 3},
                          MsiAction{Type::kDisable}));
  EXPECT_FALSE(cap_->Fire(space_, 0));
}

TEST_F(MsiTest, MmeAboveMmcIsClamped) {
  Make({2, false, false});
  auto actions = Write(2, 2, (5 << 4) | 1);
  EXPECT_EQ((Reg(2, 2) >> 4) & 7, 1u);
  ASSERT_FALSE(actions.empty());
  EXPECT_EQ(actions[0], (MsiAction{Type::kEnable, 2}));
}

TEST_F(MsiTest, ChangingVectorCountWhileEnabledRestarts) {
  Make({4, true, false});
  Write(2, 2, 1);
  auto actions = Write(2, 2, (1 << 4) | 1);
  EXPECT_THAT(
      actions,
      ElementsAre(MsiAction{Type::kMask, 0}, MsiAction{Type::kDisable},
                  MsiAction{Type::kEnable, 2}, MsiAction{Type::kUnmask, 0},
                  MsiAction{Type::kUnmask, 1, {0, 1}}));
}

TEST_F(MsiTest, PerVectorMaskPendingAndUnmask) {
  Make({2, true, true});
  Write(4, 4, 0xfee00000);
  Write(12, 2, 0x30);
  Write(16, 4, 0x2);  // mask vector 1 before enabling
  EXPECT_THAT(Write(2, 2, (1 << 4) | 1),
              ElementsAre(MsiAction{Type::kEnable, 2},
                          MsiAction{Type::kUnmask, 0, {0xfee00000, 0x30}}));
  EXPECT_TRUE(cap_->Delivers(0));
  EXPECT_FALSE(cap_->Delivers(1));
  EXPECT_FALSE(cap_->Fire(space_, 1));
  EXPECT_EQ(Reg(20), 0x2u);  // pending bit 1

  EXPECT_THAT(Write(16, 4, 0x1), ElementsAre(MsiAction{Type::kMask, 0},
                                             MsiAction{Type::kUnmask,
                                                       1,
                                                       {0xfee00000, 0x31},
                                                       /*pending=*/true}));
  EXPECT_EQ(Reg(20), 0u);
  EXPECT_FALSE(cap_->Fire(space_, 0));
  EXPECT_EQ(Reg(20), 0x1u);
}

TEST_F(MsiTest, ThirtyTwoVectors) {
  Make({32, true, true});
  Write(16, 4, 0xffffffff);
  EXPECT_EQ(Reg(16), 0xffffffffu);
  auto actions = Write(2, 2, (5 << 4) | 1);
  EXPECT_THAT(actions, ElementsAre(MsiAction{Type::kEnable, 32}));
  actions = Write(16, 4, 0x7fffffff);
  EXPECT_THAT(actions, ElementsAre(MsiAction{Type::kUnmask, 31, {0, 31}}));
}

TEST(MsiAddTest, RejectsBadVectorCounts) {
  ConfigSpace space;
  EXPECT_FALSE(MsiCapability::Add(space, {0}).ok());
  EXPECT_FALSE(MsiCapability::Add(space, {3}).ok());
  EXPECT_FALSE(MsiCapability::Add(space, {64}).ok());
}

TEST_F(MsiTest, HostileWritesEverywhere) {
  Make({8, true, true});
  for (uint32_t off = 0x3c; off < 0x60; ++off) {
    for (size_t size : {1, 2, 4}) {
      for (uint32_t value : {0u, 0xffffffffu, 0x5a5a5a5au, 0x00700001u}) {
        uint8_t buf[4];
        for (int i = 0; i < 4; ++i) buf[i] = value >> (8 * i);
        space_.Write(off, absl::MakeConstSpan(buf, size));
        cap_->Update(space_);
        for (uint32_t v = 0; v < 40; ++v) cap_->Fire(space_, v);
      }
    }
  }
  EXPECT_LE(cap_->enabled_vectors(), 8u);
}

}  // namespace
}  // namespace microvm::pci
