// SPDX-License-Identifier: Apache-2.0
#include "devices/i8042.h"

#include <utility>

namespace microvm {
namespace {

// Status register (port 0x64 read).
constexpr uint8_t kStatusOutputFull = 0x01;
constexpr uint8_t kStatusSystemFlag = 0x04;  // set once POST passed
constexpr uint8_t kStatusCommand = 0x08;     // last write was to 0x64
constexpr uint8_t kStatusUnlocked = 0x10;    // keylock off (Linux warns if 0)
constexpr uint8_t kStatusAuxData = 0x20;

// Command byte ("controller configuration byte").
constexpr uint8_t kCtrKeyboardInt = 0x01;
constexpr uint8_t kCtrAuxInt = 0x02;
constexpr uint8_t kCtrSystemFlag = 0x04;
constexpr uint8_t kCtrKeyboardDisable = 0x10;
constexpr uint8_t kCtrAuxDisable = 0x20;
constexpr uint8_t kCtrTranslate = 0x40;

// Controller commands (port 0x64 write).
constexpr uint8_t kCmdReadCtr = 0x20;
constexpr uint8_t kCmdWriteCtr = 0x60;
constexpr uint8_t kCmdAuxDisable = 0xa7;
constexpr uint8_t kCmdAuxEnable = 0xa8;
constexpr uint8_t kCmdAuxTest = 0xa9;
constexpr uint8_t kCmdSelfTest = 0xaa;
constexpr uint8_t kCmdKeyboardTest = 0xab;
constexpr uint8_t kCmdKeyboardDisable = 0xad;
constexpr uint8_t kCmdKeyboardEnable = 0xae;
constexpr uint8_t kCmdReadOutputPort = 0xd0;
constexpr uint8_t kCmdWriteOutputPort = 0xd1;
constexpr uint8_t kCmdWriteKeyboardOutput = 0xd2;
constexpr uint8_t kCmdWriteAuxOutput = 0xd3;  // Linux: I8042_CMD_AUX_LOOP
constexpr uint8_t kCmdWriteAux = 0xd4;
constexpr uint8_t kCmdPulseFirst = 0xf0;  // 0xF0-0xFF pulse output bits 3:0

constexpr uint8_t kSelfTestPassed = 0x55;
constexpr uint8_t kPortTestPassed = 0x00;

// Output port: bit 0 is the CPU reset line (active low), bit 1 gate A20.
constexpr uint8_t kOutputPortReset = 0x01;
constexpr uint8_t kOutputPortA20 = 0x02;

// Keyboard (PS/2 device) commands and replies.
constexpr uint8_t kKbdEcho = 0xee;
constexpr uint8_t kKbdGetId = 0xf2;
constexpr uint8_t kKbdReset = 0xff;
constexpr uint8_t kKbdAck = 0xfa;
constexpr uint8_t kKbdResend = 0xfe;
constexpr uint8_t kKbdSelfTestPassed = 0xaa;
constexpr uint8_t kMf2Id[2] = {0xab, 0x83};

// Port B bits 5 (PIT channel 2 output) and 4 (refresh toggle).
constexpr uint8_t kPortBToggling = 0x30;
constexpr uint8_t kPortBWritable = 0x0f;

// Real controllers have one output register; the keyboard's multi-byte
// replies wait in the keyboard. A few bytes is all the model ever queues.
constexpr size_t kMaxQueued = 16;

}  // namespace

I8042::I8042(std::function<void()> on_reset, IrqLine* keyboard_irq,
             IrqLine* aux_irq)
    : on_reset_(std::move(on_reset)),
      keyboard_irq_(keyboard_irq),
      aux_irq_(aux_irq),
      // As a BIOS leaves it: keyboard interrupt on, POST passed, scancode
      // translation on, AUX port disabled.
      command_byte_(kCtrKeyboardInt | kCtrSystemFlag | kCtrTranslate |
                    kCtrAuxDisable),
      output_port_(kOutputPortReset | kOutputPortA20) {}

void I8042::Read(uint64_t offset, absl::Span<uint8_t> data) {
  if (data.size() != 1) {
    for (auto& b : data) b = 0xff;
    return;
  }
  absl::MutexLock lock(&mu_);
  switch (offset) {
    case 0:
      data[0] = ReadData();
      UpdateIrqs(/*fresh_edge=*/true);
      return;
    case 1:
      data[0] = ReadPortB();
      return;
    case 4:
      data[0] = ReadStatus();
      return;
    default:
      data[0] = 0xff;
  }
}

void I8042::Write(uint64_t offset, absl::Span<const uint8_t> data) {
  if (data.size() != 1) return;
  bool reset = false;
  {
    absl::MutexLock lock(&mu_);
    switch (offset) {
      case 0:
        reset = WriteData(data[0]);
        break;
      case 1:
        port_b_ = data[0] & kPortBWritable;
        break;
      case 4:
        reset = WriteCommand(data[0]);
        break;
      default:
        break;
    }
    UpdateIrqs(/*fresh_edge=*/false);
  }
  if (reset && on_reset_) on_reset_();
}

uint8_t I8042::ReadStatus() const {
  // The input buffer is never full (IBF, bit 1): writes are handled at once.
  uint8_t status = kStatusUnlocked;
  if (command_byte_ & kCtrSystemFlag) status |= kStatusSystemFlag;
  if (last_write_was_command_) status |= kStatusCommand;
  if (!output_.empty()) {
    status |= kStatusOutputFull;
    if (output_.front().aux) status |= kStatusAuxData;
  }
  return status;
}

uint8_t I8042::ReadData() {
  // An empty output buffer reads the last byte again, like the hardware.
  if (!output_.empty()) {
    last_data_ = output_.front().value;
    output_.pop_front();
  }
  return last_data_;
}

uint8_t I8042::ReadPortB() {
  port_b_toggle_ ^= kPortBToggling;
  return port_b_ | port_b_toggle_;
}

bool I8042::WriteCommand(uint8_t command) {
  last_write_was_command_ = true;
  pending_command_ = 0;
  switch (command) {
    case kCmdReadCtr:
      Push(command_byte_, false);
      return false;
    case kCmdWriteCtr:
    case kCmdWriteOutputPort:
    case kCmdWriteKeyboardOutput:
    case kCmdWriteAuxOutput:
    case kCmdWriteAux:
      pending_command_ = command;
      return false;
    case kCmdAuxDisable:
      command_byte_ |= kCtrAuxDisable;
      return false;
    case kCmdAuxEnable:
      command_byte_ &= ~kCtrAuxDisable;
      return false;
    case kCmdAuxTest:
    case kCmdKeyboardTest:
      Push(kPortTestPassed, false);
      return false;
    case kCmdSelfTest:
      Push(kSelfTestPassed, false);
      return false;
    case kCmdKeyboardDisable:
      command_byte_ |= kCtrKeyboardDisable;
      return false;
    case kCmdKeyboardEnable:
      command_byte_ &= ~kCtrKeyboardDisable;
      return false;
    case kCmdReadOutputPort:
      Push(output_port_, false);
      return false;
    default:
      break;
  }
  if (command >= kCmdPulseFirst) {
    // Bits 3:0 clear select output port lines to pulse low; line 0 is the
    // CPU reset. Linux's reboot=kbd writes 0xFE.
    return (command & kOutputPortReset) == 0;
  }
  return false;  // Unknown commands are ignored.
}

bool I8042::WriteData(uint8_t value) {
  last_write_was_command_ = false;
  uint8_t command = std::exchange(pending_command_, 0);
  switch (command) {
    case kCmdWriteCtr:
      command_byte_ = value;
      return false;
    case kCmdWriteOutputPort:
      output_port_ = value;
      return (value & kOutputPortReset) == 0;  // reset line driven low
    case kCmdWriteKeyboardOutput:
      Push(value, false);
      return false;
    case kCmdWriteAuxOutput:
      Push(value, true);
      return false;
    case kCmdWriteAux:
      Push(kKbdResend, true);  // no mouse behind the AUX port
      return false;
    default:
      KeyboardCommand(value);
      return false;
  }
}

void I8042::KeyboardCommand(uint8_t command) {
  // Parameter bytes (LEDs, typematic rate, scancode set) are all below
  // 0xED, where the commands start, and get a plain ACK too.
  switch (command) {
    case kKbdEcho:
      Push(kKbdEcho, false);
      return;
    case kKbdGetId:
      Push(kKbdAck, false);
      Push(kMf2Id[0], false);
      Push(kMf2Id[1], false);
      return;
    case kKbdReset:
      Push(kKbdAck, false);
      Push(kKbdSelfTestPassed, false);
      return;
    default:
      Push(kKbdAck, false);
  }
}

void I8042::Push(uint8_t value, bool aux) {
  if (output_.size() < kMaxQueued) output_.push_back({value, aux});
}

void I8042::UpdateIrqs(bool fresh_edge) {
  bool keyboard = false;
  bool aux = false;
  if (!output_.empty()) {
    if (output_.front().aux) {
      aux = (command_byte_ & kCtrAuxInt) != 0;
    } else {
      keyboard = (command_byte_ & kCtrKeyboardInt) != 0;
    }
  }
  auto drive = [fresh_edge](IrqLine* line, bool* state, bool level) {
    if (line == nullptr) return;
    if (*state && (fresh_edge || !level)) {
      line->Set(false);
      *state = false;
    }
    if (level && !*state) {
      line->Set(true);
      *state = true;
    }
  };
  drive(keyboard_irq_, &keyboard_line_, keyboard);
  drive(aux_irq_, &aux_line_, aux);
}

}  // namespace microvm
