// SPDX-License-Identifier: Apache-2.0
// Just enough of the PC's i8042 keyboard controller for Linux to probe it
// quickly and for a guest to reset the machine through it.
//
// Register the device once at port 0x60 with kPortCount ports, so offset 0
// is the data port (0x60) and offset 4 the status/command port (0x64).
// Offset 1 is port 0x61, "system control port B": its gate and speaker bits
// belong to PIT channel 2. When the VMM creates KVM's in-kernel PIT
// (KVM_CREATE_PIT2), KVM serves 0x61 itself and accesses never get here;
// without it, Linux's PIT-based TSC calibration spins until bit 5 (channel 2
// output) reads 1, so bit 5 (and bit 4, refresh) toggle on every read here
// and the calibration fails fast instead of hanging (Linux then trusts
// kvmclock's TSC frequency). Offsets 2 and 3 read all ones.
//
// The controller answers the commands Linux's i8042 driver and atkbd send
// (read/write the command byte, self tests, port enable/disable, AUX
// loopback, output port), and a keyboard behind it acknowledges every
// command and identifies as an MF2 keyboard. There is no mouse: bytes sent
// to the AUX device get 0xFE back. Command 0xFE (pulse output port bit 0,
// the CPU reset line), or writing the output port with bit 0 clear, calls
// `on_reset`. Unknown commands are ignored.
//
// Response bytes raise IRQ 1 (keyboard) or IRQ 12 (AUX) when enabled in the
// command byte and the lines were given; each byte gives a fresh edge. With
// no AUX line Linux's AUX IRQ test waits 250 ms and gives up on the AUX
// port; `i8042.noaux` on the kernel command line skips that.
//
// Thread safety: accesses may come from several vCPUs; state is guarded by a
// mutex, IrqLine::Set is called with it held (the line must not call back
// into this device), `on_reset` is called without it.
#ifndef MICROVM_DEVICES_I8042_H_
#define MICROVM_DEVICES_I8042_H_

#include <cstdint>
#include <deque>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "base/bus.h"
#include "base/irq.h"

namespace microvm {

class I8042 final : public BusDevice {
 public:
  static constexpr uint16_t kBasePort = 0x60;
  static constexpr uint64_t kPortCount = 5;  // 0x60-0x64
  static constexpr uint32_t kKeyboardIrq = 1;
  static constexpr uint32_t kAuxIrq = 12;

  // `on_reset` runs on the vCPU thread that asked for the reset. The IRQ
  // lines (not owned, may be null) must outlive this.
  explicit I8042(std::function<void()> on_reset, IrqLine* keyboard_irq = nullptr,
                 IrqLine* aux_irq = nullptr);

  // BusDevice. Accesses wider than a byte are ignored (reads: all ones).
  void Read(uint64_t offset, absl::Span<uint8_t> data) override;
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override;

 private:
  struct OutByte {
    uint8_t value;
    bool aux;
  };

  uint8_t ReadStatus() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  uint8_t ReadData() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint8_t ReadPortB() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Both return true when the guest asked for a reset.
  bool WriteCommand(uint8_t command) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool WriteData(uint8_t value) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void KeyboardCommand(uint8_t command) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Push(uint8_t value, bool aux) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drives the IRQ lines; `fresh_edge` first lowers them so that a byte
  // following the one just read interrupts again.
  void UpdateIrqs(bool fresh_edge) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::function<void()> on_reset_;
  IrqLine* const keyboard_irq_;
  IrqLine* const aux_irq_;

  absl::Mutex mu_;
  uint8_t command_byte_ ABSL_GUARDED_BY(mu_);
  uint8_t output_port_ ABSL_GUARDED_BY(mu_);
  uint8_t port_b_ ABSL_GUARDED_BY(mu_) = 0;
  uint8_t port_b_toggle_ ABSL_GUARDED_BY(mu_) = 0;
  // A controller command waiting for its data byte (0x60, 0xD1-0xD4), or 0.
  uint8_t pending_command_ ABSL_GUARDED_BY(mu_) = 0;
  bool last_write_was_command_ ABSL_GUARDED_BY(mu_) = false;
  uint8_t last_data_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<OutByte> output_ ABSL_GUARDED_BY(mu_);
  bool keyboard_line_ ABSL_GUARDED_BY(mu_) = false;
  bool aux_line_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace microvm

#endif  // MICROVM_DEVICES_I8042_H_
