// SPDX-License-Identifier: Apache-2.0
// Test helper: runs a VM with a watchdog so a guest that hangs ends the test
// with a clear failure instead of a Bazel timeout.
#ifndef MICROVM_TESTS_VM_RUN_BOUNDED_H_
#define MICROVM_TESTS_VM_RUN_BOUNDED_H_

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "absl/status/statusor.h"
#include "vmm/vm.h"

namespace microvm::testing {

// Runs `vm` until the guest ends it or `timeout` passes, in which case the
// VM is stopped and *timed_out set.
inline absl::StatusOr<VmExit> RunBounded(Vm& vm, std::chrono::seconds timeout,
                                         bool* timed_out) {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::thread watchdog([&] {
    std::unique_lock<std::mutex> lock(mu);
    if (!cv.wait_for(lock, timeout, [&] { return done; })) {
      *timed_out = true;
      vm.Stop();
    }
  });
  absl::StatusOr<VmExit> exit = vm.Run();
  {
    std::lock_guard<std::mutex> lock(mu);
    done = true;
  }
  cv.notify_all();
  watchdog.join();
  return exit;
}

}  // namespace microvm::testing

#endif  // MICROVM_TESTS_VM_RUN_BOUNDED_H_
