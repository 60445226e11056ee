// SPDX-License-Identifier: Apache-2.0
#include "devices/console_input.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace microvm {

absl::StatusOr<std::unique_ptr<ConsoleInput>> ConsoleInput::Create(
    EventLoop* loop, int fd, Serial* serial, ConsoleInputOptions options) {
  if (loop == nullptr || serial == nullptr || fd < 0 ||
      options.buffer_size == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "console input: needs a loop, a serial port, an open fd (got ", fd,
        ") and a non-empty buffer"));
  }
  MVM_ASSIGN_OR_RETURN(EventFd space_fd, EventFd::Create());
  std::unique_ptr<ConsoleInput> self(
      new ConsoleInput(loop, fd, serial, options.buffer_size,
                       std::make_shared<EventFd>(std::move(space_fd))));

  if (::isatty(fd)) {
    termios saved{};
    if (::tcgetattr(fd, &saved) != 0) {
      return LastErrnoError(
          absl::StrCat("reading terminal settings of console input fd ", fd));
    }
    // Raw input, like cfmakeraw(), except that output processing (OPOST) is
    // kept: the VMM's own messages on the same terminal still get CR-LF.
    termios raw = saved;
    raw.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR |
                     ICRNL | IXON);
    raw.c_lflag &= ~(ECHO | ECHONL | ICANON | IEXTEN);
    if (!options.host_signals) raw.c_lflag &= ~ISIG;
    raw.c_cflag &= ~(CSIZE | PARENB);
    raw.c_cflag |= CS8;
    // read() returns as soon as one byte is there, so reading after epoll
    // reports the fd readable never blocks (the fd is left blocking: it is
    // shared with the shell, which would not expect O_NONBLOCK).
    raw.c_cc[VMIN] = 1;
    raw.c_cc[VTIME] = 0;
    if (::tcsetattr(fd, TCSANOW, &raw) != 0) {
      return LastErrnoError(absl::StrCat(
          "putting console input fd ", fd, " in raw mode"));
    }
    self->saved_termios_ = saved;
  }

  ConsoleInput* raw_self = self.get();
  MVM_ASSIGN_OR_RETURN(
      self->space_watch_,
      loop->Add(self->space_->fd(), [raw_self](uint32_t) {
        raw_self->OnSpace();
      }));
  absl::StatusOr<EventLoop::Watch> watch = self->WatchInput();
  if (watch.ok()) {
    self->input_watch_ = std::move(*watch);
    self->watching_ = true;
  } else if (watch.status().code() == absl::StatusCode::kPermissionDenied) {
    // EPERM: the fd does not support polling (regular file, /dev/null).
    self->pollable_ = false;
  } else {
    return Annotate(watch.status(), "watching console input");
  }
  std::shared_ptr<EventFd> space = self->space_;
  serial->SetRxSpaceCallback([space] { (void)space->Signal(); });
  // A non-pollable input is read on demand, starting now.
  if (!self->pollable_) MVM_RETURN_IF_ERROR(space->Signal());
  return self;
}

ConsoleInput::ConsoleInput(EventLoop* loop, int fd, Serial* serial,
                           size_t buffer_size, std::shared_ptr<EventFd> space)
    : loop_(loop),
      fd_(fd),
      serial_(serial),
      space_(std::move(space)),
      buffer_(buffer_size) {}

ConsoleInput::~ConsoleInput() {
  serial_->SetRxSpaceCallback(nullptr);
  input_watch_.Reset();
  space_watch_.Reset();
  if (saved_termios_.has_value()) {
    // Nothing useful to do if this fails while shutting down.
    (void)::tcsetattr(fd_, TCSANOW, &*saved_termios_);
  }
}

void ConsoleInput::OnSpace() {
  (void)space_->Consume();
  Pump();
}

void ConsoleInput::Pump() {
  for (;;) {
    if (buffered_ > 0) {
      size_t n = serial_->Enqueue(absl::MakeConstSpan(buffer_.data(), buffered_));
      std::memmove(buffer_.data(), buffer_.data() + n, buffered_ - n);
      buffered_ -= n;
      // A short Enqueue arms the serial's rx-space callback: wait for it.
      if (buffered_ > 0) break;
    }
    if (pollable_ || !ReadInput()) break;
  }
  UpdateWatch();
}

bool ConsoleInput::ReadInput() {
  if (eof_ || buffered_ == buffer_.size()) return false;
  ssize_t n;
  do {
    n = ::read(fd_, buffer_.data() + buffered_, buffer_.size() - buffered_);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    buffered_ += static_cast<size_t>(n);
    return true;
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
  // 0 is end of file; EIO is what a terminal gives once it has hung up.
  eof_ = true;
  return false;
}

absl::StatusOr<EventLoop::Watch> ConsoleInput::WatchInput() {
  return loop_->Add(fd_, [this](uint32_t) {
    ReadInput();
    Pump();
  });
}

void ConsoleInput::UpdateWatch() {
  bool want = pollable_ && !eof_ && buffered_ < buffer_.size();
  if (want == watching_) return;
  if (!want) {
    input_watch_.Reset();
    watching_ = false;
    return;
  }
  absl::StatusOr<EventLoop::Watch> watch = WatchInput();
  if (!watch.ok()) {
    // Cannot happen for an fd epoll accepted before short of running out
    // of memory; there is no caller to tell, so input ends.
    eof_ = true;
    return;
  }
  input_watch_ = std::move(*watch);
  watching_ = true;
}

}  // namespace microvm
