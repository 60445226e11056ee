// SPDX-License-Identifier: Apache-2.0
// Feeds host input (normally stdin) to the guest's serial port.
//
// Watches the fd through the EventLoop, reads what is there into a small
// buffer and hands it to Serial::Enqueue(). When the guest is slower than the
// typist, the buffer fills, the fd stops being watched (so the host side
// blocks instead of losing bytes) and the Serial's rx-space callback, which
// signals an eventfd, resumes the flow once the guest has read. Every piece
// of state lives on the loop thread; the only thing vCPU threads touch is
// that eventfd.
//
// An fd that epoll refuses (a regular file, /dev/null) is treated as always
// readable and read on demand, so `vmm < script.txt` works. End of input
// stops reading; it does not stop the VM.
#ifndef MICROVM_DEVICES_CONSOLE_INPUT_H_
#define MICROVM_DEVICES_CONSOLE_INPUT_H_

#include <termios.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "base/event_fd.h"
#include "base/event_loop.h"
#include "devices/serial.h"

namespace microvm {

struct ConsoleInputOptions {
  // When the fd is a terminal it is put in raw mode. By default that
  // includes clearing ISIG, so ^C and ^Z go to the guest (as with QEMU
  // -nographic and Firecracker); set this to keep them acting on the VMM.
  bool host_signals = false;
  // Bytes held for the guest beyond the UART's own FIFO.
  size_t buffer_size = 4096;
};

class ConsoleInput {
 public:
  // `loop` and `serial` are not owned and must outlive the result; `fd` is
  // not owned either and must stay open until the result is destroyed.
  // Call Create, and destroy the result, on the loop thread or while the
  // loop is not running (the EventLoop lets a running handler finish after
  // its Watch is dropped).
  static absl::StatusOr<std::unique_ptr<ConsoleInput>> Create(
      EventLoop* loop, int fd, Serial* serial,
      ConsoleInputOptions options = {});

  // Detaches from the serial and the loop, and restores the terminal
  // settings if Create changed them.
  ~ConsoleInput();

  ConsoleInput(const ConsoleInput&) = delete;
  ConsoleInput& operator=(const ConsoleInput&) = delete;

  // True once the input reached end of file (or failed); any bytes still
  // buffered keep flowing to the guest. Thread-safe.
  bool eof() const { return eof_.load(); }

 private:
  ConsoleInput(EventLoop* loop, int fd, Serial* serial, size_t buffer_size,
               std::shared_ptr<EventFd> space);

  void OnSpace();
  // Moves buffered bytes to the serial and reads more input when there is
  // room and the input is not watched by epoll.
  void Pump();
  // Reads into the buffer; false when nothing was read.
  bool ReadInput();
  absl::StatusOr<EventLoop::Watch> WatchInput();
  // Watches the fd exactly when it is pollable, not at EOF, and the buffer
  // has room.
  void UpdateWatch();

  EventLoop* const loop_;
  const int fd_;
  Serial* const serial_;
  std::optional<termios> saved_termios_;
  // Signalled by the serial (on a vCPU thread) when its FIFO has room again.
  // Shared so a callback already copied out of the serial stays harmless
  // after this object is gone.
  const std::shared_ptr<EventFd> space_;
  std::vector<uint8_t> buffer_;
  size_t buffered_ = 0;
  bool pollable_ = true;
  bool watching_ = false;
  std::atomic<bool> eof_{false};
  // Last, so they are dropped first.
  EventLoop::Watch space_watch_;
  EventLoop::Watch input_watch_;
};

}  // namespace microvm

#endif  // MICROVM_DEVICES_CONSOLE_INPUT_H_
