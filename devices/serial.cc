// SPDX-License-Identifier: Apache-2.0
#include "devices/serial.h"

#include <algorithm>
#include <utility>

#include "base/messages.h"

namespace microvm {
namespace {

// Register offsets (16550D table II). With LCR.DLAB set, offsets 0 and 1
// reach the divisor latch instead of RBR/THR and IER.
constexpr uint64_t kRbrThr = 0;  // DLL with DLAB
constexpr uint64_t kIer = 1;     // DLM with DLAB
constexpr uint64_t kIirFcr = 2;
constexpr uint64_t kLcr = 3;
constexpr uint64_t kMcr = 4;
constexpr uint64_t kLsr = 5;
constexpr uint64_t kMsr = 6;
constexpr uint64_t kScr = 7;

// IER bits.
constexpr uint8_t kIerRxData = 0x01;     // ERBFI
constexpr uint8_t kIerThrEmpty = 0x02;   // ETBEI
constexpr uint8_t kIerLineStatus = 0x04; // ELSI
constexpr uint8_t kIerModem = 0x08;      // EDSSI
constexpr uint8_t kIerMask = 0x0f;       // bits 7:4 are always 0 on a 16550A

// IIR values, highest priority first (16550D table IV).
constexpr uint8_t kIirNoInt = 0x01;
constexpr uint8_t kIirLineStatus = 0x06;
constexpr uint8_t kIirRxData = 0x04;
constexpr uint8_t kIirRxTimeout = 0x0c;
constexpr uint8_t kIirThrEmpty = 0x02;
constexpr uint8_t kIirModem = 0x00;
constexpr uint8_t kIirFifoEnabled = 0xc0;

// FCR bits.
constexpr uint8_t kFcrEnable = 0x01;
constexpr uint8_t kFcrClearRx = 0x02;
// Bit 2 clears the transmit FIFO, which is always empty here.
constexpr size_t kRxTriggerLevels[4] = {1, 4, 8, 14};

constexpr uint8_t kLcrDlab = 0x80;

// MCR bits.
constexpr uint8_t kMcrDtr = 0x01;
constexpr uint8_t kMcrRts = 0x02;
constexpr uint8_t kMcrOut1 = 0x04;
constexpr uint8_t kMcrOut2 = 0x08;
constexpr uint8_t kMcrLoop = 0x10;
constexpr uint8_t kMcrMask = 0x1f;

// LSR bits.
constexpr uint8_t kLsrDataReady = 0x01;
constexpr uint8_t kLsrOverrun = 0x02;
constexpr uint8_t kLsrThrEmpty = 0x20;
constexpr uint8_t kLsrTxEmpty = 0x40;

// MSR bits.
constexpr uint8_t kMsrDeltaCts = 0x01;
constexpr uint8_t kMsrDeltaDsr = 0x02;
constexpr uint8_t kMsrTrailingRi = 0x04;
constexpr uint8_t kMsrDeltaDcd = 0x08;
constexpr uint8_t kMsrCts = 0x10;
constexpr uint8_t kMsrDsr = 0x20;
constexpr uint8_t kMsrRi = 0x40;
constexpr uint8_t kMsrDcd = 0x80;

}  // namespace

Serial::Serial(IrqLine* irq, OutputSink out) : irq_(irq), out_(std::move(out)) {}

void Serial::SetRxSpaceCallback(std::function<void()> callback) {
  absl::MutexLock lock(&mu_);
  rx_space_ = std::move(callback);
}

void Serial::Read(uint64_t offset, absl::Span<uint8_t> data) {
  {
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < data.size(); ++i) {
      uint64_t reg = offset + i;
      data[i] = reg < kPortCount ? ReadRegister(reg) : 0xff;
      NoteIrqState();
    }
  }
  Finish();
}

void Serial::Write(uint64_t offset, absl::Span<const uint8_t> data) {
  {
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < data.size(); ++i) {
      uint64_t reg = offset + i;
      if (reg < kPortCount) WriteRegister(reg, data[i]);
      NoteIrqState();
    }
  }
  Finish();
}

size_t Serial::Enqueue(absl::Span<const uint8_t> bytes) {
  size_t taken = 0;
  {
    absl::MutexLock lock(&mu_);
    // 16550D 8.6: in loopback the receiver input is cut off from the line.
    if ((mcr_ & kMcrLoop) == 0) {
      taken = std::min(bytes.size(), RxCapacity() - rx_count_);
      for (size_t i = 0; i < taken; ++i) Receive(bytes[i]);
    }
    if (taken < bytes.size()) rx_starved_ = true;
    NoteIrqState();
  }
  Finish();
  return taken;
}

uint8_t Serial::ReadRegister(uint64_t offset) {
  bool dlab = (lcr_ & kLcrDlab) != 0;
  switch (offset) {
    case kRbrThr:
      return dlab ? dll_ : PopRx();
    case kIer:
      return dlab ? dlm_ : ier_;
    case kIirFcr: {
      uint8_t id = InterruptId();
      // 16550D table IV: reading IIR resets the THRE interrupt when it is
      // the one being reported.
      if (id == kIirThrEmpty) thr_pending_ = false;
      return id | (fifo_enabled_ ? kIirFifoEnabled : 0);
    }
    case kLcr:
      return lcr_;
    case kMcr:
      return mcr_;
    case kLsr: {
      uint8_t lsr = kLsrThrEmpty | kLsrTxEmpty | lsr_errors_;
      if (rx_count_ > 0) lsr |= kLsrDataReady;
      lsr_errors_ = 0;  // Error bits clear on read (16550D 8.6.3).
      return lsr;
    }
    case kMsr: {
      uint8_t msr = ModemLines() | msr_deltas_;
      msr_deltas_ = 0;
      return msr;
    }
    case kScr:
      return scr_;
  }
  return 0xff;
}

void Serial::WriteRegister(uint64_t offset, uint8_t value) {
  bool dlab = (lcr_ & kLcrDlab) != 0;
  switch (offset) {
    case kRbrThr:
      if (dlab) {
        dll_ = value;
      } else {
        WriteThr(value);
      }
      return;
    case kIer: {
      if (dlab) {
        dlm_ = value;
        return;
      }
      uint8_t ier = value & kIerMask;
      // Enabling ETBEI while THR is empty raises the THRE interrupt even if
      // an IIR read had cleared it. Linux's 8250 start-up test (UART_BUG_THRE
      // in serial8250_do_startup) toggles IER to 0 and back and expects THRE
      // to be reported again; QEMU and Bochs do the same. THR is always
      // empty here since transmission is instant.
      if ((ier ^ ier_) & kIerThrEmpty) thr_pending_ = (ier & kIerThrEmpty) != 0;
      ier_ = ier;
      return;
    }
    case kIirFcr:
      WriteFcr(value);
      return;
    case kLcr:
      lcr_ = value;
      return;
    case kMcr:
      WriteMcr(value);
      return;
    case kScr:
      scr_ = value;
      return;
    default:
      return;  // LSR and MSR writes are factory-test only; ignore.
  }
}

void Serial::WriteThr(uint8_t value) {
  // Writing THR resets the THRE interrupt; the byte then leaves at once and
  // THR is empty again, which sets it anew. The moment in between is noted
  // so the line gives a fresh edge, as QEMU's serial_xmit does.
  thr_pending_ = false;
  NoteIrqState();
  if (mcr_ & kMcrLoop) {
    Receive(value);  // 16550D 8.6: transmitter looped back to receiver.
  } else if (out_) {
    out_(absl::MakeConstSpan(&value, 1));
  }
  thr_pending_ = true;
}

void Serial::WriteFcr(uint8_t value) {
  bool enable = (value & kFcrEnable) != 0;
  // Changing FCR0 clears both FIFOs; with FCR0 clear the other bits are not
  // programmed (16550D 8.4).
  if (enable != fifo_enabled_) {
    fifo_enabled_ = enable;
    ClearRx();
  }
  if (!enable) return;
  if (value & kFcrClearRx) ClearRx();
  rx_trigger_ = kRxTriggerLevels[value >> 6];
}

void Serial::WriteMcr(uint8_t value) {
  uint8_t before = ModemLines();
  mcr_ = value & kMcrMask;
  uint8_t after = ModemLines();
  uint8_t changed = before ^ after;
  if (changed & kMsrCts) msr_deltas_ |= kMsrDeltaCts;
  if (changed & kMsrDsr) msr_deltas_ |= kMsrDeltaDsr;
  if (changed & kMsrDcd) msr_deltas_ |= kMsrDeltaDcd;
  // TERI: RI went from on to off.
  if ((before & kMsrRi) && !(after & kMsrRi)) msr_deltas_ |= kMsrTrailingRi;
}

void Serial::Receive(uint8_t byte) {
  if (rx_count_ < RxCapacity()) {
    rx_[(rx_head_ + rx_count_) % kFifoSize] = byte;
    ++rx_count_;
    return;
  }
  lsr_errors_ |= kLsrOverrun;
  // Without FIFOs the new byte overwrites the holding register; with them
  // the FIFO is kept and the byte in the shift register is lost (16550D
  // 8.6.3, LSR1).
  if (!fifo_enabled_) rx_[rx_head_] = byte;
}

uint8_t Serial::PopRx() {
  if (rx_count_ == 0) return 0;
  uint8_t byte = rx_[rx_head_];
  rx_head_ = (rx_head_ + 1) % kFifoSize;
  --rx_count_;
  return byte;
}

void Serial::ClearRx() {
  rx_head_ = 0;
  rx_count_ = 0;
}

size_t Serial::RxCapacity() const { return fifo_enabled_ ? kFifoSize : 1; }

uint8_t Serial::ModemLines() const {
  if ((mcr_ & kMcrLoop) == 0) {
    // No modem attached: report a ready peer (QEMU does the same), so
    // drivers that honour CTS/DSR/DCD transmit.
    return kMsrCts | kMsrDsr | kMsrDcd;
  }
  // 16550D 8.6: in loopback the modem control outputs drive the inputs.
  uint8_t lines = 0;
  if (mcr_ & kMcrRts) lines |= kMsrCts;
  if (mcr_ & kMcrDtr) lines |= kMsrDsr;
  if (mcr_ & kMcrOut1) lines |= kMsrRi;
  if (mcr_ & kMcrOut2) lines |= kMsrDcd;
  return lines;
}

uint8_t Serial::InterruptId() const {
  if ((ier_ & kIerLineStatus) && lsr_errors_ != 0) return kIirLineStatus;
  if ((ier_ & kIerRxData) && rx_count_ > 0) {
    // Below the trigger level a 16550 reports a character timeout once no
    // byte has moved for 4 character times; that delay is not modelled.
    return fifo_enabled_ && rx_count_ < rx_trigger_ ? kIirRxTimeout
                                                    : kIirRxData;
  }
  if ((ier_ & kIerThrEmpty) && thr_pending_) return kIirThrEmpty;
  if ((ier_ & kIerModem) && msr_deltas_ != 0) return kIirModem;
  return kIirNoInt;
}

void Serial::NoteIrqState() {
  if (InterruptId() == kIirNoInt) irq_dipped_ = true;
}

void Serial::Finish() {
  std::function<void()> rx_space;
  {
    absl::MutexLock irq_lock(&irq_mu_);
    bool level;
    bool dipped;
    {
      absl::MutexLock lock(&mu_);
      level = InterruptId() != kIirNoInt;
      dipped = std::exchange(irq_dipped_, false);
      if (rx_starved_ && (mcr_ & kMcrLoop) == 0 && rx_count_ < RxCapacity()) {
        rx_starved_ = false;
        rx_space = rx_space_;
      }
    }
    // Whoever holds irq_mu_ last read the state last, so the line ends up
    // matching the final state even when vCPUs and the input thread race.
    if (irq_ != nullptr) {
      if (line_high_ && (dipped || !level)) {
        irq_->Set(false);
        line_high_ = false;
      }
      if (level && !line_high_) {
        irq_->Set(true);
        line_high_ = true;
      }
    }
  }
  if (rx_space) rx_space();
}

}  // namespace microvm
