// SPDX-License-Identifier: Apache-2.0
// The filters in a real process (a death test's child): what libraries do
// lazily on a filtered thread stays inside its list. No KVM needed: the
// kernel's seccomp is the real thing here.
#include "vmm/sandbox/seccomp.h"

#include <csignal>
#include <cstdlib>
#include <thread>
#include <vector>

#include "absl/debugging/failure_signal_handler.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace microvm::sandbox {
namespace {

std::unique_ptr<SeccompFilters> Filters() {
  absl::StatusOr<std::unique_ptr<SeccompFilters>> f = SeccompFilters::Build(
      SeccompMode::kEnforce, {false, BuiltWithSanitizer()});
  if (!f.ok()) {
    fprintf(stderr, "%s\n", std::string(f.status().message()).c_str());
    std::_Exit(2);
  }
  return *std::move(f);
}

// A vCPU thread's heap that grows by a few MiB and is freed again: glibc
// reads /proc/sys/vm/overcommit_memory the first time a thread's heap
// shrinks, which a guest could cause (routing buffers made and freed as it
// programs MSI-X vectors). The filters are built so that it never does.
TEST(SeccompDeathTest, AVcpuHeapThatGrowsAndShrinksStaysInItsList) {
  EXPECT_EXIT(
      {
        std::unique_ptr<SeccompFilters> filters = Filters();
        std::thread vcpu([&] {
          if (!filters->Install(ThreadKind::kVcpu, "vcpu0").ok()) {
            std::_Exit(3);
          }
          std::vector<void*> blocks;
          for (int i = 0; i < 4096; ++i) blocks.push_back(std::malloc(1024));
          // Newest first: each merges into the heap's top chunk.
          for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) {
            std::free(*it);
          }
        });
        vcpu.join();
        std::_Exit(0);
      },
      testing::ExitedWithCode(0), "");
}

// A crash on a filtered thread (a bug) still ends with the crash's report,
// not with the sandbox's line about the calls the report makes.
TEST(SeccompDeathTest, ACrashOnAFilteredThreadIsReported) {
  EXPECT_DEATH(
      {
        absl::FailureSignalHandlerOptions crash;
        crash.symbolize_stacktrace = false;
        absl::InstallFailureSignalHandler(crash);
        std::unique_ptr<SeccompFilters> filters = Filters();
        std::thread vcpu([&] {
          if (!filters->Install(ThreadKind::kVcpu, "vcpu0").ok()) {
            std::_Exit(3);
          }
          std::raise(SIGABRT);
        });
        vcpu.join();
      },
      "SIGABRT");
}

}  // namespace
}  // namespace microvm::sandbox
