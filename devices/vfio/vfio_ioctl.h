// SPDX-License-Identifier: Apache-2.0
// Every ioctl of the VFIO layer goes through VfioIoctl, which forwards to
// base/ioctl.h (error names the ioctl, keeps errno). Tests replace it with
// ScopedIoctlOverride to play the kernel's part (the way rust-vmm
// vfio-ioctls routes every call through one replaceable function).
#ifndef MICROVM_DEVICES_VFIO_VFIO_IOCTL_H_
#define MICROVM_DEVICES_VFIO_VFIO_IOCTL_H_

#include <cstdint>
#include <functional>
#include <type_traits>

#include "absl/status/statusor.h"

namespace microvm::vfio {

using IoctlFunction = std::function<absl::StatusOr<int>(
    int fd, unsigned long request, const char* name, uintptr_t arg)>;

absl::StatusOr<int> VfioIoctlRaw(int fd, unsigned long request,
                                 const char* name, uintptr_t arg);

template <typename Arg>
absl::StatusOr<int> VfioIoctl(int fd, unsigned long request, const char* name,
                              Arg arg) {
  if constexpr (std::is_pointer_v<Arg>) {
    return VfioIoctlRaw(fd, request, name, reinterpret_cast<uintptr_t>(arg));
  } else {
    return VfioIoctlRaw(fd, request, name, static_cast<uintptr_t>(arg));
  }
}

// For tests: while alive, every VfioIoctl calls `fn` instead of the kernel.
// Not thread-safe; one at a time.
class ScopedIoctlOverride {
 public:
  explicit ScopedIoctlOverride(IoctlFunction fn);
  ~ScopedIoctlOverride();
  ScopedIoctlOverride(const ScopedIoctlOverride&) = delete;
  ScopedIoctlOverride& operator=(const ScopedIoctlOverride&) = delete;

 private:
  IoctlFunction previous_;
};

}  // namespace microvm::vfio

// VFIO_IOCTL(fd, VFIO_GET_API_VERSION, 0): the name goes into the error.
#define VFIO_IOCTL(fd, request, arg) \
  ::microvm::vfio::VfioIoctl(fd, request, #request, arg)

#endif  // MICROVM_DEVICES_VFIO_VFIO_IOCTL_H_
