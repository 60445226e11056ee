// SPDX-License-Identifier: Apache-2.0
#include "devices/power.h"

#include "gtest/gtest.h"

namespace microvm {
namespace {

class SleepControlTest : public ::testing::Test {
 protected:
  void Out(uint8_t v) { dev_.Write(0, absl::MakeConstSpan(&v, 1)); }
  int poweroffs_ = 0;
  SleepControl dev_{[this] { ++poweroffs_; }};
};

TEST_F(SleepControlTest, S5WithSleepEnablePowersOff) {
  EXPECT_EQ(SleepControl::kPowerOffValue, 0x34);
  Out(0x34);
  EXPECT_EQ(poweroffs_, 1);
  Out(0x34 | 0xc3);  // reserved bits do not matter
  EXPECT_EQ(poweroffs_, 2);
}

TEST_F(SleepControlTest, OtherValuesAreIgnored) {
  Out(0x14);  // S5 type without SLP_EN
  Out(0x20);  // SLP_EN with S0
  Out(0x24);  // S1
  Out(0x30);  // S4
  Out(0x3c);  // type 7
  Out(0x80);  // Linux clearing WAK_STS
  uint16_t wide = 0x34;
  dev_.Write(0, absl::MakeConstSpan(reinterpret_cast<uint8_t*>(&wide), 2));
  EXPECT_EQ(poweroffs_, 0);
}

TEST_F(SleepControlTest, StatusReadsWakeStatusClear) {
  uint8_t v = 0xff;
  dev_.Read(0, absl::MakeSpan(&v, 1));
  EXPECT_EQ(v & 0x80, 0);
  uint8_t wide[4] = {0xff, 0xff, 0xff, 0xff};
  dev_.Read(0, absl::MakeSpan(wide, 4));
  EXPECT_EQ(wide[3], 0);
}

TEST(SleepControlNoCallbackTest, NullCallbackIsSafe) {
  SleepControl dev(nullptr);
  uint8_t v = 0x34;
  dev.Write(0, absl::MakeConstSpan(&v, 1));
}

}  // namespace
}  // namespace microvm
