// SPDX-License-Identifier: Apache-2.0
// Locked memory for DMA: VFIO's type1 IOMMU pins every page it maps and
// charges it to the process's RLIMIT_MEMLOCK, unless the process has
// CAP_IPC_LOCK. Checked before anything is mapped, so a limit too small for
// guest RAM is one line naming `ulimit -l` and the size needed, not a
// mapping refused part-way through.
#ifndef MICROVM_DEVICES_VFIO_MEMLOCK_H_
#define MICROVM_DEVICES_VFIO_MEMLOCK_H_

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace microvm::vfio {

// What the check looks at: the limit in bytes (nullopt: unlimited) and
// whether CAP_IPC_LOCK is in the effective set.
struct LockedMemoryRights {
  std::optional<uint64_t> limit;
  bool cap_ipc_lock = false;
};

// This process's, from getrlimit and capget.
absl::StatusOr<LockedMemoryRights> CurrentLockedMemoryRights();

// OK when `bytes` of guest RAM may be pinned with `rights`, else
// ResourceExhausted: "N MiB of guest RAM must be pinned ... ulimit -l K".
absl::Status CheckLockedMemory(uint64_t bytes,
                               const LockedMemoryRights& rights);

}  // namespace microvm::vfio

#endif  // MICROVM_DEVICES_VFIO_MEMLOCK_H_
