// SPDX-License-Identifier: Apache-2.0
// A 16550A UART, as the PC's COM1 (I/O ports 0x3F8-0x3FF, IRQ 4).
//
// Register semantics follow the National Semiconductor PC16550D datasheet
// ("PC16550D UART with FIFOs", June 1995), cited below as "16550D". The model
// transmits instantly: a byte written to THR goes straight to the output sink,
// so LSR.THRE and LSR.TEMT are set again by the time the guest looks. Host
// input comes in through Enqueue() into a 16-byte receive FIFO (1 byte deep
// while FIFOs are disabled), with back-pressure instead of overruns: a caller
// that could not put everything in gets told so, and is called back when the
// guest has made room.
//
// Interrupts: IIR reports the highest-priority pending source (16550D
// table IV): receiver line status, received data (or character timeout),
// THR empty, modem status. The IRQ line is high while any enabled source is
// pending. Because the line goes to an edge-triggered IOAPIC pin, whenever
// the set of pending sources becomes empty, even for a moment inside one
// register access (e.g. a THR write clears THRE and transmission sets it
// again), the line is lowered before it is raised again: every interrupt
// that follows a moment with none pending is a fresh rising edge. That is
// what the Linux 8250 driver expects of real hardware (and what QEMU's
// hw/char/serial.c does).
//
// Not modelled: MCR.OUT2 gating the ISA IRQ output (QEMU and Firecracker do
// not gate either; tiny guests need not set OUT2), baud rate timing, parity,
// framing and break errors, the character-timeout delay (data below the FIFO
// trigger level is reported as a timeout interrupt at once).
#ifndef MICROVM_DEVICES_SERIAL_H_
#define MICROVM_DEVICES_SERIAL_H_

#include <cstddef>
#include <cstdint>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "base/bus.h"
#include "base/irq.h"

namespace microvm {

class Serial final : public BusDevice {
 public:
  // Where transmitted bytes go. Called on a vCPU thread with the device lock
  // held (so output keeps the order the guest wrote it in); it may block,
  // which stalls that vCPU like a slow line would.
  using OutputSink = std::function<void(absl::Span<const uint8_t>)>;

  static constexpr uint16_t kCom1Port = 0x3f8;
  static constexpr uint32_t kCom1Irq = 4;
  static constexpr uint64_t kPortCount = 8;
  static constexpr size_t kFifoSize = 16;

  // `irq` (not owned, may be null for a polled UART) must outlive this.
  Serial(IrqLine* irq, OutputSink out);

  // BusDevice, offsets 0-7. Multi-byte accesses act as consecutive byte
  // accesses (as an x86 `inw`/`outw` to an 8-bit ISA device does).
  void Read(uint64_t offset, absl::Span<uint8_t> data) override;
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override;

  // Host input: appends as much of `bytes` as the receive FIFO has room for
  // and returns how many were taken (0 in loopback mode, where the receiver
  // is disconnected from the line). Thread-safe. When fewer than all were
  // taken, the rx-space callback runs once room appears.
  size_t Enqueue(absl::Span<const uint8_t> bytes);

  // Called (on whichever thread made room: a vCPU reading RBR, resetting the
  // FIFO or leaving loopback) after an Enqueue() was short and the FIFO has
  // room again. Runs without the device lock held, so it may call
  // Enqueue(). Should be quick (e.g. signal an eventfd). Thread-safe.
  void SetRxSpaceCallback(std::function<void()> callback);

 private:
  uint8_t ReadRegister(uint64_t offset) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteRegister(uint64_t offset, uint8_t value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteThr(uint8_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteFcr(uint8_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void WriteMcr(uint8_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Puts one received byte in the FIFO, or flags an overrun if it is full.
  void Receive(uint8_t byte) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint8_t PopRx() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ClearRx() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  size_t RxCapacity() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // MSR bits 7:4 as the modem lines currently drive them.
  uint8_t ModemLines() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // IIR bits 3:0 for the highest-priority enabled pending interrupt, or
  // kIirNoInt.
  uint8_t InterruptId() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Records a moment with nothing pending (see the header comment).
  void NoteIrqState() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends every access: brings the IRQ line in line with the state and runs
  // the rx-space callback if it is due. Takes the locks itself.
  void Finish() ABSL_LOCKS_EXCLUDED(mu_, irq_mu_);

  IrqLine* const irq_;

  // Lock order: irq_mu_ before mu_. irq_mu_ serializes IrqLine::Set calls
  // so the line follows the state in order; mu_ is not held across them.
  absl::Mutex irq_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  bool line_high_ ABSL_GUARDED_BY(irq_mu_) = false;

  mutable absl::Mutex mu_;
  OutputSink out_ ABSL_GUARDED_BY(mu_);
  std::function<void()> rx_space_ ABSL_GUARDED_BY(mu_);
  uint8_t ier_ ABSL_GUARDED_BY(mu_) = 0;
  uint8_t lcr_ ABSL_GUARDED_BY(mu_) = 0;
  uint8_t mcr_ ABSL_GUARDED_BY(mu_) = 0;
  uint8_t lsr_errors_ ABSL_GUARDED_BY(mu_) = 0;  // LSR.OE (sticky until read)
  uint8_t msr_deltas_ ABSL_GUARDED_BY(mu_) = 0;  // MSR bits 3:0
  uint8_t scr_ ABSL_GUARDED_BY(mu_) = 0;
  uint8_t dll_ ABSL_GUARDED_BY(mu_) = 12;  // 9600 baud from 1.8432 MHz
  uint8_t dlm_ ABSL_GUARDED_BY(mu_) = 0;
  bool fifo_enabled_ ABSL_GUARDED_BY(mu_) = false;
  size_t rx_trigger_ ABSL_GUARDED_BY(mu_) = 1;
  bool thr_pending_ ABSL_GUARDED_BY(mu_) = false;  // THRE interrupt latch
  // Receive FIFO as a ring.
  uint8_t rx_[kFifoSize] ABSL_GUARDED_BY(mu_) = {};
  size_t rx_head_ ABSL_GUARDED_BY(mu_) = 0;
  size_t rx_count_ ABSL_GUARDED_BY(mu_) = 0;
  // An Enqueue() was short and the rx-space callback is owed.
  bool rx_starved_ ABSL_GUARDED_BY(mu_) = false;
  // The pending set was empty at some point since the line was last driven.
  bool irq_dipped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace microvm

#endif  // MICROVM_DEVICES_SERIAL_H_
