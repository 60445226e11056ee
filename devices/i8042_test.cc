// SPDX-License-Identifier: Apache-2.0
#include "devices/i8042.h"

#include <vector>

#include "gtest/gtest.h"

namespace microvm {
namespace {

constexpr uint64_t kData = 0, kPortB = 1, kStatus = 4;

class FakeIrq : public IrqLine {
 public:
  explicit FakeIrq(uint32_t gsi) : gsi_(gsi) {}
  void Set(bool high) override {
    if (high && !high_) ++edges;
    high_ = high;
  }
  uint32_t gsi() const override { return gsi_; }
  bool high() const { return high_; }
  int edges = 0;

 private:
  uint32_t gsi_;
  bool high_ = false;
};

class I8042Test : public ::testing::Test {
 protected:
  uint8_t In(uint64_t port) {
    uint8_t v = 0;
    dev_.Read(port, absl::MakeSpan(&v, 1));
    return v;
  }
  void Out(uint64_t port, uint8_t v) {
    dev_.Write(port, absl::MakeConstSpan(&v, 1));
  }
  // Like Linux's i8042_command: command, parameters, then read replies.
  std::vector<uint8_t> Command(uint8_t cmd, std::vector<uint8_t> params = {}) {
    EXPECT_EQ(In(kStatus) & 0x02, 0);  // input buffer free
    Out(kStatus, cmd);
    for (uint8_t p : params) Out(kData, p);
    std::vector<uint8_t> replies;
    while (In(kStatus) & 0x01) replies.push_back(In(kData));
    return replies;
  }

  int resets_ = 0;
  FakeIrq kbd_{1};
  FakeIrq aux_{12};
  I8042 dev_{[this] { ++resets_; }, &kbd_, &aux_};
};

TEST_F(I8042Test, StatusIsSaneAtReset) {
  uint8_t status = In(kStatus);
  EXPECT_EQ(status & 0x01, 0);  // nothing to read: Linux's flush succeeds
  EXPECT_EQ(status & 0x02, 0);
  EXPECT_EQ(status & 0x10, 0x10);  // not keylocked
  EXPECT_NE(status, 0xff);
}

TEST_F(I8042Test, LinuxProbeSequence) {
  EXPECT_EQ(Command(0xaa), std::vector<uint8_t>{0x55});  // self test
  std::vector<uint8_t> ctr = Command(0x20);
  ASSERT_EQ(ctr.size(), 1u);
  EXPECT_EQ(ctr[0] & 0x01, 0x01);  // keyboard interrupt on
  EXPECT_EQ(Command(0x60, {0x47}), std::vector<uint8_t>{});
  EXPECT_EQ(In(kStatus) & 0x08, 0);  // last write went to the data port
  EXPECT_EQ(Command(0x20), std::vector<uint8_t>{0x47});
  // AUX: loopback with the AUX flag, then port disable/enable bits.
  Out(kStatus, 0xd3);
  EXPECT_EQ(In(kStatus) & 0x08, 0x08);
  Out(kData, 0x5a);
  EXPECT_EQ(In(kStatus) & 0x21, 0x21);
  EXPECT_EQ(In(kData), 0x5a);
  Command(0xa7);
  EXPECT_EQ(Command(0x20)[0] & 0x20, 0x20);
  Command(0xa8);
  EXPECT_EQ(Command(0x20)[0] & 0x20, 0x00);
  EXPECT_EQ(Command(0xa9), std::vector<uint8_t>{0x00});
  EXPECT_EQ(Command(0xab), std::vector<uint8_t>{0x00});
  EXPECT_EQ(resets_, 0);
}

TEST_F(I8042Test, KeyboardAnswersAtkbdProbe) {
  Out(kData, 0xf2);  // GETID
  EXPECT_EQ(In(kData), 0xfa);
  EXPECT_EQ(In(kData), 0xab);
  EXPECT_EQ(In(kData), 0x83);
  EXPECT_EQ(In(kStatus) & 0x01, 0);
  Out(kData, 0xed);  // set LEDs, then its parameter
  EXPECT_EQ(In(kData), 0xfa);
  Out(kData, 0x02);
  EXPECT_EQ(In(kData), 0xfa);
  Out(kData, 0xff);
  EXPECT_EQ(In(kData), 0xfa);
  EXPECT_EQ(In(kData), 0xaa);
  Out(kStatus, 0xd4);  // to the (absent) mouse
  Out(kData, 0xf2);
  EXPECT_EQ(In(kStatus) & 0x21, 0x21);
  EXPECT_EQ(In(kData), 0xfe);
}

TEST_F(I8042Test, EachReplyByteIsAFreshKeyboardInterrupt) {
  Out(kData, 0xf2);
  EXPECT_TRUE(kbd_.high());
  EXPECT_EQ(kbd_.edges, 1);
  In(kData);
  EXPECT_EQ(kbd_.edges, 2);
  In(kData);
  EXPECT_EQ(kbd_.edges, 3);
  In(kData);
  EXPECT_FALSE(kbd_.high());
  EXPECT_EQ(aux_.edges, 0);
  // AUX data raises IRQ 12 only once AUX interrupts are enabled.
  Command(0x60, {0x47 | 0x02});
  Out(kStatus, 0xd3);
  Out(kData, 0xa5);
  EXPECT_TRUE(aux_.high());
  EXPECT_EQ(In(kData), 0xa5);
  EXPECT_FALSE(aux_.high());
  // With keyboard interrupts disabled, replies are polled only.
  Command(0x60, {0x44});
  int before = kbd_.edges;
  Out(kData, 0xee);
  EXPECT_EQ(kbd_.edges, before);
  EXPECT_EQ(In(kData), 0xee);
}

TEST_F(I8042Test, PulseResetLineCallsOnReset) {
  Out(kStatus, 0xff);  // pulse nothing
  Out(kStatus, 0xfd);  // pulse line 1 (A20), not reset
  EXPECT_EQ(resets_, 0);
  Out(kStatus, 0xfe);
  EXPECT_EQ(resets_, 1);
  Out(kStatus, 0xd1);  // output port with the reset line low
  Out(kData, 0x02);
  EXPECT_EQ(resets_, 2);
  Out(kStatus, 0xd1);  // A20 on, reset line high: no reset
  Out(kData, 0xdf);
  EXPECT_EQ(resets_, 2);
  EXPECT_EQ(Command(0xd0), std::vector<uint8_t>{0xdf});
}

TEST_F(I8042Test, UnknownCommandsAndWideAccessesAreIgnored) {
  EXPECT_EQ(Command(0x12), std::vector<uint8_t>{});
  EXPECT_EQ(Command(0xc8), std::vector<uint8_t>{});
  uint32_t wide = 0xfe;
  dev_.Write(kStatus, absl::MakeConstSpan(reinterpret_cast<uint8_t*>(&wide), 4));
  EXPECT_EQ(resets_, 0);
  uint8_t r[2] = {};
  dev_.Read(kData, absl::MakeSpan(r, 2));
  EXPECT_EQ(r[0], 0xff);
  EXPECT_EQ(In(2), 0xff);
}

TEST_F(I8042Test, PortBKeepsGateBitsAndTogglesPitOutput) {
  Out(kPortB, 0x03);
  uint8_t a = In(kPortB);
  uint8_t b = In(kPortB);
  EXPECT_EQ(a & 0x0f, 0x03);
  EXPECT_EQ(b & 0x0f, 0x03);
  EXPECT_NE(a & 0x20, b & 0x20);  // a PIT-calibration poll loop terminates
}

}  // namespace
}  // namespace microvm
