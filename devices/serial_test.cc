// SPDX-License-Identifier: Apache-2.0
#include "devices/serial.h"

#include <fcntl.h>
#include <unistd.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace microvm {
namespace {

constexpr uint64_t RBR = 0, THR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2,
                   FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7;

// Counts rising edges, as an edge-triggered IOAPIC pin would.
class FakeIrq : public IrqLine {
 public:
  void Set(bool high) override {
    if (high && !high_) ++edges;
    high_ = high;
    ++sets;
  }
  uint32_t gsi() const override { return 4; }
  bool high() const { return high_; }
  int edges = 0;
  int sets = 0;

 private:
  bool high_ = false;
};

class SerialTest : public ::testing::Test {
 protected:
  SerialTest()
      : serial_(&irq_, [this](absl::Span<const uint8_t> data) {
          out_.append(data.begin(), data.end());
        }) {}

  uint8_t In(uint64_t reg) {
    uint8_t v = 0;
    serial_.Read(reg, absl::MakeSpan(&v, 1));
    return v;
  }
  void Out(uint64_t reg, uint8_t v) {
    serial_.Write(reg, absl::MakeConstSpan(&v, 1));
  }
  size_t Enqueue(const std::string& s) {
    return serial_.Enqueue(absl::MakeConstSpan(
        reinterpret_cast<const uint8_t*>(s.data()), s.size()));
  }

  FakeIrq irq_;
  std::string out_;
  Serial serial_;
};

TEST_F(SerialTest, ResetStateLooksLikeAnIdle16550) {
  EXPECT_EQ(In(IER), 0);
  EXPECT_EQ(In(IIR), 0x01);  // no interrupt, FIFOs off
  EXPECT_EQ(In(LSR), 0x60);  // THRE | TEMT
  EXPECT_EQ(In(MSR), 0xb0);  // CTS | DSR | DCD, no deltas
  EXPECT_EQ(irq_.sets, 0);
}

TEST_F(SerialTest, TransmitsToSink) {
  for (char c : std::string("hi\n")) Out(THR, static_cast<uint8_t>(c));
  EXPECT_EQ(out_, "hi\n");
  EXPECT_EQ(In(LSR) & 0x60, 0x60);
  EXPECT_FALSE(irq_.high());  // THRE interrupt not enabled
}

TEST_F(SerialTest, DlabSwitchesToDivisorLatch) {
  Out(IER, 0x05);
  Out(LCR, 0x83);
  Out(DLL, 0x01);
  Out(DLM, 0x02);
  EXPECT_EQ(In(DLL), 0x01);
  EXPECT_EQ(In(DLM), 0x02);
  EXPECT_TRUE(out_.empty());  // divisor write is not a transmit
  Out(LCR, 0x03);
  EXPECT_EQ(In(LCR), 0x03);
  EXPECT_EQ(In(IER), 0x05);
  Out(THR, 'x');
  EXPECT_EQ(out_, "x");
  Out(LCR, 0x83);
  EXPECT_EQ(In(DLL), 0x01);  // latch kept
}

TEST_F(SerialTest, IerKeepsOnlyLowNibbleAndScratchHoldsAnything) {
  // Linux autoconfig: writes 0x0f and expects 0x0f, and bit 6 (XScale UUE)
  // must not stick.
  Out(IER, 0xff);
  EXPECT_EQ(In(IER), 0x0f);
  Out(SCR, 0xa5);
  EXPECT_EQ(In(SCR), 0xa5);
  Out(MCR, 0xff);
  EXPECT_EQ(In(MCR), 0x1f);
}

TEST_F(SerialTest, FifoEnableIsReportedInIirAndTriggerLevels) {
  Out(FCR, 0x01);
  EXPECT_EQ(In(IIR), 0xc1);
  // Linux's 16750 probe sets FCR bit 5; a 16550A ignores it.
  Out(FCR, 0x21);
  EXPECT_EQ(In(IIR) & 0xe0, 0xc0);
  Out(FCR, 0x00);
  EXPECT_EQ(In(IIR), 0x01);
}

TEST_F(SerialTest, ThreInterruptFollowsLinux8250Expectations) {
  // Enabling ETBEI with THR empty raises THRE at once (a rising edge).
  Out(IER, 0x02);
  EXPECT_TRUE(irq_.high());
  EXPECT_EQ(irq_.edges, 1);
  EXPECT_EQ(In(IIR) & 0x0f, 0x02);
  // Reading IIR while THRE is the source clears it and drops the line.
  EXPECT_FALSE(irq_.high());
  EXPECT_EQ(In(IIR) & 0x0f, 0x01);
  // serial8250_do_startup's UART_BUG_THRE test: IER 0 then THRI again must
  // report THRE again.
  Out(IER, 0x00);
  Out(IER, 0x02);
  EXPECT_EQ(In(IIR) & 0x0f, 0x02);
  EXPECT_EQ(irq_.edges, 2);
  // Writing THR clears THRE, transmission sets it again: a fresh edge.
  Out(THR, 'a');
  EXPECT_TRUE(irq_.high());
  EXPECT_EQ(irq_.edges, 3);
  // Even when the line was still high (IIR not read), a THR write produces
  // a new edge, like QEMU's lower-then-raise.
  Out(THR, 'b');
  EXPECT_EQ(irq_.edges, 4);
  EXPECT_TRUE(irq_.high());
  // Disabling ETBEI drops the line.
  Out(IER, 0x00);
  EXPECT_FALSE(irq_.high());
  EXPECT_EQ(In(IIR), 0x01);
  EXPECT_EQ(out_, "ab");
}

TEST_F(SerialTest, ReadingIirDoesNotClearThreWhenAnotherSourceIsReported) {
  Out(IER, 0x03);
  EXPECT_EQ(In(IIR) & 0x0f, 0x02);  // THRE, cleared by this read
  Out(THR, 'z');                    // THRE pending again
  ASSERT_EQ(Enqueue("r"), 1u);
  EXPECT_EQ(In(IIR) & 0x0f, 0x04);  // RX data outranks THRE
  EXPECT_EQ(In(RBR), 'r');
  EXPECT_EQ(In(IIR) & 0x0f, 0x02);  // THRE survived the earlier IIR read
  EXPECT_EQ(In(IIR) & 0x0f, 0x01);
  EXPECT_FALSE(irq_.high());
}

TEST_F(SerialTest, ReceivedDataRaisesAndClearsInterrupt) {
  Out(FCR, 0x81);  // FIFO on, trigger level 8
  Out(IER, 0x01);
  EXPECT_FALSE(irq_.high());
  ASSERT_EQ(Enqueue("ab"), 2u);
  EXPECT_TRUE(irq_.high());
  EXPECT_EQ(irq_.edges, 1);
  EXPECT_EQ(In(IIR), 0xcc);  // below trigger: character timeout
  EXPECT_EQ(In(LSR) & 0x01, 0x01);
  EXPECT_EQ(In(RBR), 'a');
  EXPECT_TRUE(irq_.high());
  EXPECT_EQ(In(RBR), 'b');
  EXPECT_FALSE(irq_.high());
  EXPECT_EQ(In(LSR) & 0x01, 0x00);
  ASSERT_EQ(Enqueue("0123456789"), 10u);
  EXPECT_EQ(irq_.edges, 2);  // a new interrupt after all cleared: new edge
  EXPECT_EQ(In(IIR), 0xc4);  // at or above trigger: data available
}

TEST_F(SerialTest, FifoHoldsSixteenAndReportsShortEnqueue) {
  Out(FCR, 0x01);
  std::string in(20, 'x');
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<char>('a' + i);
  EXPECT_EQ(Enqueue(in), 16u);
  EXPECT_EQ(Enqueue("q"), 0u);
  EXPECT_EQ(In(LSR) & 0x02, 0);  // back-pressure, not overrun
  for (size_t i = 0; i < 16; ++i) EXPECT_EQ(In(RBR), in[i]);
  EXPECT_EQ(In(LSR) & 0x01, 0);
}

TEST_F(SerialTest, WithoutFifoOnlyOneByteIsHeld) {
  EXPECT_EQ(Enqueue("ab"), 1u);
  EXPECT_EQ(In(RBR), 'a');
  EXPECT_EQ(Enqueue("b"), 1u);
  EXPECT_EQ(In(RBR), 'b');
}

TEST_F(SerialTest, FifoResetEmptiesReceiver) {
  Out(FCR, 0x01);
  ASSERT_EQ(Enqueue("abc"), 3u);
  Out(FCR, 0x03);
  EXPECT_EQ(In(LSR) & 0x01, 0);
  ASSERT_EQ(Enqueue("d"), 1u);
  Out(FCR, 0x00);  // turning FIFOs off clears them too
  EXPECT_EQ(In(LSR) & 0x01, 0);
}

TEST_F(SerialTest, RxSpaceCallbackRunsOnceRoomAppearsAfterShortEnqueue) {
  int calls = 0;
  serial_.SetRxSpaceCallback([&] { ++calls; });
  ASSERT_EQ(Enqueue("a"), 1u);  // FIFO off: holding register full
  In(RBR);
  EXPECT_EQ(calls, 0);  // nobody was refused
  ASSERT_EQ(Enqueue("bc"), 1u);
  EXPECT_EQ(calls, 0);
  EXPECT_EQ(In(RBR), 'b');
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(Enqueue("c"), 1u);
  In(RBR);
  EXPECT_EQ(calls, 1);
}

TEST_F(SerialTest, RxSpaceCallbackMayEnqueue) {
  std::string pending = "xyz";
  serial_.SetRxSpaceCallback([&] {
    size_t n = Enqueue(pending);
    pending.erase(0, n);
  });
  ASSERT_EQ(Enqueue("w"), 1u);
  ASSERT_EQ(Enqueue(pending), 0u);
  std::string got;
  while (In(LSR) & 0x01) got.push_back(static_cast<char>(In(RBR)));
  EXPECT_EQ(got, "wxyz");
}

TEST_F(SerialTest, LoopbackReflectsModemControlAndData) {
  // Linux autoconfig: MCR = LOOP | RTS | OUT2 must read MSR high nibble 0x90.
  Out(MCR, 0x1a);
  EXPECT_EQ(In(MSR) & 0xf0, 0x90);
  Out(MCR, 0x1f);
  EXPECT_EQ(In(MSR), 0xf0 | 0x02);  // DSR changed: DDSR; RI rising: none
  Out(FCR, 0x01);
  Out(THR, 'L');
  EXPECT_TRUE(out_.empty());  // looped back, not sent
  EXPECT_EQ(In(LSR) & 0x01, 0x01);
  EXPECT_EQ(In(RBR), 'L');
  // The receiver is cut off from the line in loopback.
  int calls = 0;
  serial_.SetRxSpaceCallback([&] { ++calls; });
  EXPECT_EQ(Enqueue("h"), 0u);
  Out(MCR, 0x0b);
  EXPECT_EQ(calls, 1);  // leaving loopback makes room
  EXPECT_EQ(Enqueue("h"), 1u);
  EXPECT_EQ(In(MSR) & 0xf0, 0xb0);
}

TEST_F(SerialTest, ModemStatusInterruptOnDeltas) {
  Out(IER, 0x08);
  Out(MCR, 0x10);  // loopback, all lines drop: DCTS, DDSR, DDCD
  EXPECT_TRUE(irq_.high());
  EXPECT_EQ(In(IIR), 0x00);
  EXPECT_EQ(In(MSR), 0x0b);
  EXPECT_FALSE(irq_.high());
  Out(MCR, 0x14);  // OUT1 -> RI on
  EXPECT_EQ(In(MSR), 0x40);  // no delta for RI rising
  Out(MCR, 0x10);            // RI off: trailing edge
  EXPECT_EQ(In(MSR), 0x04);
}

TEST_F(SerialTest, OverrunSetsLineStatusInterruptAndClearsOnLsrRead) {
  Out(IER, 0x05);
  Out(MCR, 0x10);
  Out(FCR, 0x01);
  for (int i = 0; i < 16; ++i) Out(THR, static_cast<uint8_t>('A' + i));
  EXPECT_EQ(In(IIR), 0xc4);  // FIFO full: data available
  Out(THR, '!');             // lost
  EXPECT_EQ(In(IIR), 0xc6);  // line status outranks data
  EXPECT_EQ(In(LSR), 0x63);  // THRE | TEMT | OE | DR
  EXPECT_EQ(In(LSR), 0x61);  // OE cleared by the read
  EXPECT_EQ(In(IIR), 0xc4);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(In(RBR), 'A' + i);
  EXPECT_FALSE(irq_.high());
}

TEST_F(SerialTest, OverrunWithoutFifoKeepsNewestByte) {
  Out(MCR, 0x10);
  Out(THR, '1');
  Out(THR, '2');
  EXPECT_EQ(In(LSR) & 0x03, 0x03);
  EXPECT_EQ(In(RBR), '2');
}

TEST_F(SerialTest, PriorityOrderLineStatusDataThreModem) {
  Out(MCR, 0x10);
  Out(FCR, 0x01);
  for (int i = 0; i < 17; ++i) Out(THR, 'x');  // overrun
  Out(MCR, 0x12);                              // CTS delta
  Out(IER, 0x0f);
  EXPECT_EQ(In(IIR) & 0x0f, 0x06);
  In(LSR);
  EXPECT_EQ(In(IIR) & 0x0f, 0x04);
  while (In(LSR) & 1) In(RBR);
  EXPECT_EQ(In(IIR) & 0x0f, 0x02);
  EXPECT_EQ(In(IIR) & 0x0f, 0x00);
  In(MSR);
  EXPECT_EQ(In(IIR) & 0x0f, 0x01);
  EXPECT_FALSE(irq_.high());
}

TEST_F(SerialTest, WideAccessesActPerByte) {
  Out(LCR, 0x80);
  uint8_t w[2] = {0x34, 0x12};
  serial_.Write(DLL, absl::MakeConstSpan(w, 2));
  uint8_t r[4] = {};
  serial_.Read(DLL, absl::MakeSpan(r, 2));
  EXPECT_EQ(r[0], 0x34);
  EXPECT_EQ(r[1], 0x12);
  // Past the last register: all ones, no crash.
  serial_.Read(6, absl::MakeSpan(r, 4));
  EXPECT_EQ(r[2], 0xff);
  EXPECT_EQ(r[3], 0xff);
  serial_.Write(7, absl::MakeConstSpan(w, 2));
  EXPECT_EQ(In(SCR), 0x34);
}

TEST(SerialThreadTest, ConcurrentInputAndGuestReadsLoseNothing) {
  FakeIrq irq;
  std::mutex irq_mu;  // FakeIrq itself is not thread-safe
  class LockedIrq : public IrqLine {
   public:
    LockedIrq(FakeIrq* irq, std::mutex* mu) : irq_(irq), mu_(mu) {}
    void Set(bool high) override {
      std::lock_guard<std::mutex> l(*mu_);
      irq_->Set(high);
    }
    uint32_t gsi() const override { return 4; }
    FakeIrq* irq_;
    std::mutex* mu_;
  } locked(&irq, &irq_mu);
  Serial serial(&locked, nullptr);
  uint8_t fcr = 0x01, ier = 0x01;
  serial.Write(2, absl::MakeConstSpan(&fcr, 1));
  serial.Write(1, absl::MakeConstSpan(&ier, 1));
  constexpr int kBytes = 3000;
  std::thread producer([&] {
    for (int i = 0; i < kBytes;) {
      uint8_t b = static_cast<uint8_t>(i);
      size_t n = serial.Enqueue(absl::MakeConstSpan(&b, 1));
      if (n == 0) std::this_thread::yield();
      i += static_cast<int>(n);
    }
  });
  for (int i = 0; i < kBytes;) {
    uint8_t lsr = 0;
    serial.Read(5, absl::MakeSpan(&lsr, 1));
    if ((lsr & 1) == 0) continue;
    uint8_t b = 0;
    serial.Read(0, absl::MakeSpan(&b, 1));
    ASSERT_EQ(b, static_cast<uint8_t>(i));
    ++i;
  }
  producer.join();
  std::lock_guard<std::mutex> l(irq_mu);
  EXPECT_FALSE(irq.high());  // all read: the line ends low
}

}  // namespace
}  // namespace microvm
