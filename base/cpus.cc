// SPDX-License-Identifier: Apache-2.0
#include "base/cpus.h"

#include <sched.h>

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace microvm {

absl::StatusOr<std::vector<int>> AllowedCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) != 0) {
    return LastErrnoError("sched_getaffinity");
  }
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

std::string CpuList(const std::vector<int>& cpus) {
  std::string out;
  for (size_t i = 0; i < cpus.size(); ++i) {
    size_t last = i;
    while (last + 1 < cpus.size() && cpus[last + 1] == cpus[last] + 1) ++last;
    absl::StrAppend(&out, out.empty() ? "" : ",", cpus[i],
                    last > i ? absl::StrCat("-", cpus[last]) : "");
    i = last;
  }
  return out;
}

}  // namespace microvm
