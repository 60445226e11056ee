// SPDX-License-Identifier: Apache-2.0
#include "devices/console_output.h"

#include <sys/timerfd.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "base/status.h"

namespace microvm {

absl::StatusOr<std::unique_ptr<ConsoleOutput>> ConsoleOutput::Create(
    EventLoop* loop, int fd) {
  UniqueFd timer(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!timer) return LastErrnoError("creating the console output's timer");
  std::unique_ptr<ConsoleOutput> out(new ConsoleOutput(fd, std::move(timer)));
  ConsoleOutput* raw = out.get();
  MVM_ASSIGN_OR_RETURN(out->watch_,
                       loop->Add(out->timer_.get(),
                                 [raw](uint32_t) { raw->OnTimer(); }));
  RegisterHeldConsole(raw, fd);
  return out;
}

ConsoleOutput::~ConsoleOutput() {
  watch_.Reset();
  UnregisterHeldConsole(this);
  WriteHeld();
}

void ConsoleOutput::Write(absl::Span<const uint8_t> data) {
  absl::MutexLock lock(&mu_);
  held_.append(reinterpret_cast<const char*>(data.data()), data.size());
  if (std::memchr(data.data(), '\n', data.size()) != nullptr) {
    WriteLocked(held_.rfind('\n') + 1);
  }
  if (held_.size() >= kMaxHeld) WriteLocked(held_.size());
  if (held_.empty() || armed_) return;
  // The first byte of a line the guest has not ended: out by the deadline.
  itimerspec when{};
  when.it_value.tv_nsec = absl::ToInt64Nanoseconds(kFlushDelay);
  if (::timerfd_settime(timer_.get(), 0, &when, nullptr) == 0) {
    armed_ = true;
  } else {
    WriteLocked(held_.size());  // No timer: nothing may wait.
  }
}

void ConsoleOutput::WriteHeld() {
  absl::MutexLock lock(&mu_);
  WriteLocked(held_.size());
}

void ConsoleOutput::WriteLocked(size_t bytes) {
  if (bytes == 0) return;
  // A dead console drops output; the guest cannot be told.
  (void)WriteConsole(
      fd_, absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(held_.data()),
                               bytes));
  held_.erase(0, bytes);
}

void ConsoleOutput::OnTimer() {
  // Nothing to learn from the count; a spurious wake-up (EAGAIN) only
  // writes early.
  uint64_t expirations;
  if (::read(timer_.get(), &expirations, sizeof(expirations)) < 0) {
    expirations = 0;
  }
  absl::MutexLock lock(&mu_);
  armed_ = false;
  WriteLocked(held_.size());
}

}  // namespace microvm
