// SPDX-License-Identifier: Apache-2.0
// The one thin layer through which microvm issues ioctls on /dev/kvm, VM,
// vCPU and VFIO fds. Errors name the ioctl and keep errno, so "KVM_CREATE_VM:
// Device or resource busy (errno 16)" reaches the user instead of a bare -1.
#ifndef MICROVM_BASE_IOCTL_H_
#define MICROVM_BASE_IOCTL_H_

#include <cstdint>
#include <type_traits>

#include "absl/status/statusor.h"

namespace microvm {

namespace internal {
// Returns the ioctl result (>= 0) or -errno. EINTR is not retried: callers
// such as KVM_RUN need to see it.
long RawIoctl(int fd, unsigned long request, uintptr_t arg);
absl::Status IoctlError(const char* name, long neg_errno);
}  // namespace internal

template <typename Arg>
absl::StatusOr<int> Ioctl(int fd, unsigned long request, const char* name,
                          Arg arg) {
  uintptr_t raw;
  if constexpr (std::is_pointer_v<Arg>) {
    raw = reinterpret_cast<uintptr_t>(arg);
  } else {
    raw = static_cast<uintptr_t>(arg);
  }
  long r = internal::RawIoctl(fd, request, raw);
  if (r < 0) return internal::IoctlError(name, r);
  return static_cast<int>(r);
}

}  // namespace microvm

// MVM_IOCTL(fd, KVM_RUN, 0): the request's name goes into the error message.
#define MVM_IOCTL(fd, request, arg) ::microvm::Ioctl(fd, request, #request, arg)

#endif  // MICROVM_BASE_IOCTL_H_
