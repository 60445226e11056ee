// SPDX-License-Identifier: Apache-2.0
#include "base/event_fd.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include "base/status.h"

namespace microvm {

absl::StatusOr<EventFd> EventFd::Create() {
  int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return LastErrnoError("eventfd");
  return EventFd(UniqueFd(fd));
}

absl::Status EventFd::Signal(uint64_t value) const {
  if (::write(fd_.get(), &value, sizeof(value)) != sizeof(value)) {
    return LastErrnoError("eventfd write");
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> EventFd::Consume() const {
  uint64_t value = 0;
  ssize_t n = ::read(fd_.get(), &value, sizeof(value));
  if (n == sizeof(value)) return value;
  if (n < 0 && errno == EAGAIN) return 0;
  return LastErrnoError("eventfd read");
}

}  // namespace microvm
