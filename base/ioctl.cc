// SPDX-License-Identifier: Apache-2.0
#include "base/ioctl.h"

#include <sys/ioctl.h>

#include <cerrno>

#include "base/status.h"

namespace microvm::internal {

long RawIoctl(int fd, unsigned long request, uintptr_t arg) {
  long r = ::ioctl(fd, request, arg);
  return r < 0 ? -errno : r;
}

absl::Status IoctlError(const char* name, long neg_errno) {
  return ErrnoError(static_cast<int>(-neg_errno), name);
}

}  // namespace microvm::internal
