// SPDX-License-Identifier: Apache-2.0
// The host CPUs a thread may run on, and how the kernel lists them.
#ifndef MICROVM_BASE_CPUS_H_
#define MICROVM_BASE_CPUS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace microvm {

// The CPUs the calling thread may run on (sched_getaffinity: taskset and the
// cgroup's cpuset), ascending.
absl::StatusOr<std::vector<int>> AllowedCpus();

// "0-3,6": `cpus` (ascending) as taskset -c and /proc/PID/status
// (Cpus_allowed_list) print them.
std::string CpuList(const std::vector<int>& cpus);

}  // namespace microvm

#endif  // MICROVM_BASE_CPUS_H_
