// SPDX-License-Identifier: Apache-2.0
// Where the time to the first guest instruction goes (--boot_timer): the
// set-up is cut into phases, each ended by Mark(), and reported as one line
// before "vCPUs start at": "set-up: flags 0.310 ms, guest memory 0.042 ms,
// ...". The passed-through devices' set-up, done while the guest runs, is
// reported the same way on a line of its own.
//
// One thread marks (the one that builds the VM); not thread-safe.
#ifndef MICROVM_VMM_BOOT_PHASES_H_
#define MICROVM_VMM_BOOT_PHASES_H_

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace microvm {

class BootPhases {
 public:
  using Clock = std::chrono::steady_clock;

  // The first phase runs from `start` (microvm's main()).
  explicit BootPhases(Clock::time_point start) : last_(start) {}

  // The phase `name` ended now (or at `at`).
  void Mark(absl::string_view name) { Mark(name, Clock::now()); }
  void Mark(absl::string_view name, Clock::time_point at);

  // A phase that ran before `start` (e.g. TimeBeforeMain()), taken as it
  // is: it moves no mark.
  void Add(absl::string_view name, absl::Duration took) {
    phases_.push_back({std::string(name), took});
  }

  struct Phase {
    std::string name;
    absl::Duration took;
  };
  const std::vector<Phase>& phases() const { return phases_; }

  // "set-up: flags 0.310 ms, guest memory 0.042 ms, ..."; empty when
  // nothing was marked.
  std::string Describe() const;

 private:
  Clock::time_point last_;
  std::vector<Phase> phases_;
};

// How long the process ran before main() (exec, the loader, static
// initializers): its first thread's time on a CPU and waiting for one since
// the fork that created it (/proc/self/schedstat), less the time since
// `main_start` (main()'s clock read). Call it on the main thread, early: a
// sleep since `main_start` would count against the result (zero at least).
absl::StatusOr<absl::Duration> TimeBeforeMain(BootPhases::Clock::time_point main_start);

}  // namespace microvm

#endif  // MICROVM_VMM_BOOT_PHASES_H_
