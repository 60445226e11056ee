// SPDX-License-Identifier: Apache-2.0
// The guest's serial console output to the host (normally stdout), a line at
// a time instead of a byte at a time.
//
// A guest writes its console one byte per port write, one exit each; written
// through at once, every byte also costs microvm a write(2) and wakes
// whoever reads the console. Here bytes are kept until the guest ends a line
// (everything up to its last newline goes out in one write), kMaxHeld are
// waiting, or kFlushDelay has passed since the first waiting byte (a prompt
// the guest leaves without a newline, an echoed keystroke): a timer on the
// event loop writes them then (once the loop runs: with --dma_map=overlap
// it first sets up the passed-through devices). Destruction writes what is
// held; a microvm killed outright (SIGKILL, the sandbox's SIGSYS) loses an
// open line's last 10 ms. 10 ms: well under what a typist notices, and
// longer than a guest takes to write a line even in the nested lab (80
// characters at ~60 us an exit pair; at 2 ms most lines went out in two
// writes there, with a timer wake-up each). A microvm message written meanwhile has them
// written first (base/messages.h, HeldConsole), so it never overtakes them.
#ifndef MICROVM_DEVICES_CONSOLE_OUTPUT_H_
#define MICROVM_DEVICES_CONSOLE_OUTPUT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "base/event_loop.h"
#include "base/messages.h"
#include "base/unique_fd.h"

namespace microvm {

class ConsoleOutput final : public HeldConsole {
 public:
  static constexpr size_t kMaxHeld = 4096;
  static constexpr absl::Duration kFlushDelay = absl::Milliseconds(10);

  // Writes to `fd` (not owned; it must stay open until the result is
  // destroyed) with base/messages.h's WriteConsole; the timer is watched on
  // `loop` (not owned, must outlive the result). Create and destroy it on
  // the loop thread or while the loop is not running.
  static absl::StatusOr<std::unique_ptr<ConsoleOutput>> Create(EventLoop* loop,
                                                               int fd);
  // Writes what it still holds.
  ~ConsoleOutput();

  ConsoleOutput(const ConsoleOutput&) = delete;
  ConsoleOutput& operator=(const ConsoleOutput&) = delete;

  // The guest wrote `data` (any thread: the vCPUs').
  void Write(absl::Span<const uint8_t> data);
  // Writes what is held now (HeldConsole; the timer and messages call it).
  void WriteHeld() override;

 private:
  ConsoleOutput(int fd, UniqueFd timer) : fd_(fd), timer_(std::move(timer)) {}
  // Writes held_ (all of it, or up to and including its last newline) under
  // mu_.
  void WriteLocked(size_t bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnTimer();

  const int fd_;
  const UniqueFd timer_;
  absl::Mutex mu_;
  std::string held_ ABSL_GUARDED_BY(mu_);
  bool armed_ ABSL_GUARDED_BY(mu_) = false;
  // Last: dropped first, so no handler runs on a half-destroyed object.
  EventLoop::Watch watch_;
};

}  // namespace microvm

#endif  // MICROVM_DEVICES_CONSOLE_OUTPUT_H_
