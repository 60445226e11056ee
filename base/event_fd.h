// SPDX-License-Identifier: Apache-2.0
// Move-only eventfd: the currency between devices, KVM (irqfd, ioeventfd)
// and VFIO (interrupt triggers).
#ifndef MICROVM_BASE_EVENT_FD_H_
#define MICROVM_BASE_EVENT_FD_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace microvm {

class EventFd {
 public:
  // Non-blocking, close-on-exec eventfd with counter 0.
  static absl::StatusOr<EventFd> Create();

  EventFd() = default;
  EventFd(EventFd&&) = default;
  EventFd& operator=(EventFd&&) = default;

  int fd() const { return fd_.get(); }
  bool valid() const { return fd_.valid(); }

  // Adds `value` to the counter (wakes readers).
  absl::Status Signal(uint64_t value = 1) const;
  // Reads and clears the counter; returns 0 when it was already 0.
  absl::StatusOr<uint64_t> Consume() const;

 private:
  explicit EventFd(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;
};

}  // namespace microvm

#endif  // MICROVM_BASE_EVENT_FD_H_
