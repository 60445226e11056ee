// SPDX-License-Identifier: Apache-2.0
#include "devices/vfio/vfio_ioctl.h"

#include <utility>

#include "base/ioctl.h"

namespace microvm::vfio {
namespace {

IoctlFunction& Override() {
  static IoctlFunction* fn = new IoctlFunction();
  return *fn;
}

}  // namespace

absl::StatusOr<int> VfioIoctlRaw(int fd, unsigned long request,
                                 const char* name, uintptr_t arg) {
  if (Override()) return Override()(fd, request, name, arg);
  return ::microvm::Ioctl(fd, request, name, arg);
}

ScopedIoctlOverride::ScopedIoctlOverride(IoctlFunction fn)
    : previous_(std::exchange(Override(), std::move(fn))) {}

ScopedIoctlOverride::~ScopedIoctlOverride() {
  Override() = std::move(previous_);
}

}  // namespace microvm::vfio
