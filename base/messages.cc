// SPDX-License-Identifier: Apache-2.0
#include "base/messages.h"

#include <errno.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"

namespace microvm {
namespace {

// All of `data` to `fd`: EINTR retried, EAGAIN waited out (a non-blocking
// terminal or pipe that is full). False on any other failure.
bool WriteAll(int fd, absl::string_view data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, -1) >= 0 || errno == EINTR) continue;
    }
    return false;
  }
  return true;
}

bool SameFile(int a, int b) {
  struct stat sa, sb;
  return ::fstat(a, &sa) == 0 && ::fstat(b, &sb) == 0 &&
         sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

MessageStream& Stderr() {
  static MessageStream* const stream = [] {
    auto* s = new MessageStream(STDERR_FILENO);
    // A message still waiting when microvm exits on a path that did not
    // flush is written then, not lost.
    std::atexit(FlushMessages);
    return s;
  }();
  return *stream;
}

}  // namespace

void Message(absl::string_view message) { Stderr().Message(message); }

void MessageLines(absl::string_view lines) { Stderr().MessageLines(lines); }

bool WriteConsole(int fd, absl::Span<const uint8_t> data) {
  return Stderr().WriteConsole(fd, data);
}

void FlushMessages() { Stderr().Flush(); }

void RegisterHeldConsole(HeldConsole* console, int fd) {
  Stderr().Register(console, fd);
}

void UnregisterHeldConsole(HeldConsole* console) {
  Stderr().Unregister(console);
}

void MessageStream::Register(HeldConsole* console, int fd) {
  if (!SameFile(fd, message_fd_)) return;
  absl::MutexLock lock(&consoles_mu_);
  consoles_.push_back(console);
}

void MessageStream::Unregister(HeldConsole* console) {
  absl::MutexLock lock(&consoles_mu_);
  consoles_.erase(std::remove(consoles_.begin(), consoles_.end(), console),
                  consoles_.end());
}

void MessageStream::WriteHeldConsoles() {
  absl::MutexLock lock(&consoles_mu_);
  for (HeldConsole* console : consoles_) console->WriteHeld();
}

void MessageStream::Message(absl::string_view message) {
  MessageLines(absl::StrCat("microvm: ", message, "\n"));
}

void MessageStream::MessageLines(absl::string_view lines) {
  WriteHeldConsoles();
  absl::MutexLock lock(&mu_);
  if (!mid_line_) {
    (void)WriteAll(message_fd_, lines);  // Nowhere to report a dead stderr.
    return;
  }
  if (held_.empty()) held_since_ = Clock::now();
  held_.emplace_back(lines);
  if (Clock::now() - held_since_ >= kHoldLimit) Release(true);
}

bool MessageStream::WriteConsole(int fd, absl::Span<const uint8_t> data) {
  absl::string_view text(reinterpret_cast<const char*>(data.data()),
                         data.size());
  {
    absl::MutexLock lock(&mu_);
    if (SharesMessageFile(fd)) {
      if (text.empty()) return true;
      // Up to the last newline, then the messages that waited for it, then
      // the rest of the new line.
      const size_t end = held_.empty() ? absl::string_view::npos
                                       : text.rfind('\n');
      bool ok = true;
      if (end != absl::string_view::npos) {
        ok = WriteAll(fd, text.substr(0, end + 1));
        mid_line_ = false;
        Release(false);
        text.remove_prefix(end + 1);
      }
      ok = WriteAll(fd, text) && ok;
      if (!text.empty()) mid_line_ = text.back() != '\n';
      if (!held_.empty() && Clock::now() - held_since_ >= kHoldLimit) {
        Release(true);
      }
      return ok;
    }
  }
  // Another file: nothing to keep in order with, and a console that blocks
  // must not hold up the messages.
  return WriteAll(fd, text);
}

void MessageStream::Flush() {
  WriteHeldConsoles();
  absl::MutexLock lock(&mu_);
  Release(true);
}

bool MessageStream::SharesMessageFile(int fd) {
  if (fd != console_fd_) {
    console_fd_ = fd;
    console_shared_ = SameFile(fd, message_fd_);
  }
  return console_shared_;
}

void MessageStream::Release(bool break_line) {
  if (held_.empty() && !break_line) return;
  if (break_line && mid_line_) {
    (void)WriteAll(message_fd_, "\n");
    mid_line_ = false;
  }
  for (const std::string& line : held_) (void)WriteAll(message_fd_, line);
  held_.clear();
}

}  // namespace microvm
