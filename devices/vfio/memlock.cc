// SPDX-License-Identifier: Apache-2.0
#include "devices/vfio/memlock.h"

#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "absl/strings/str_format.h"
#include "base/remedies.h"
#include "base/status.h"

namespace microvm::vfio {

absl::StatusOr<LockedMemoryRights> CurrentLockedMemoryRights() {
  LockedMemoryRights rights;
  rlimit limit{};
  if (::getrlimit(RLIMIT_MEMLOCK, &limit) != 0) {
    return LastErrnoError("getrlimit(RLIMIT_MEMLOCK)");
  }
  if (limit.rlim_cur != RLIM_INFINITY) rights.limit = limit.rlim_cur;
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capget, &header, caps) != 0) {
    return LastErrnoError("capget");
  }
  rights.cap_ipc_lock =
      (caps[CAP_IPC_LOCK / 32].effective >> (CAP_IPC_LOCK % 32)) & 1;
  return rights;
}

absl::Status CheckLockedMemory(uint64_t bytes,
                               const LockedMemoryRights& rights) {
  if (rights.cap_ipc_lock || !rights.limit.has_value() ||
      *rights.limit >= bytes) {
    return absl::OkStatus();
  }
  const uint64_t kib = (bytes + 1023) / 1024;
  return absl::ResourceExhaustedError(absl::StrFormat(
      "%d MiB of guest RAM must be locked in memory for DMA with --vfio (VFIO "
      "pins all of it), but the locked-memory limit is %d KiB and microvm "
      "lacks CAP_IPC_LOCK: %s (ulimit -l %d)",
      bytes >> 20, *rights.limit / 1024, remedy::kMemlock, kib));
}

}  // namespace microvm::vfio
