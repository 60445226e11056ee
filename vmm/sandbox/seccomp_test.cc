// SPDX-License-Identifier: Apache-2.0
// The filters in a real process (a death test's child): what libraries do
// lazily on a filtered thread stays inside its list. No KVM needed: the
// kernel's seccomp is the real thing here.
#include "vmm/sandbox/seccomp.h"

#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
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

// The vCPU filter lets KVM_RUN through before libseccomp's program (the
// exit path's one system call): that shortcut opens nothing else. On a
// filtered vCPU thread, ioctl(KVM_RUN) on a bad fd fails with EBADF (the
// kernel ran it); a listed request does too; an unlisted request and a
// forbidden call end the process with the sandbox's line.
TEST(SeccompDeathTest, KvmRunGoesFirstAndOpensNothingElse) {
  auto on_vcpu = [](auto call) {
    std::unique_ptr<SeccompFilters> filters = Filters();
    std::thread vcpu([&] {
      if (!filters->Install(ThreadKind::kVcpu, "vcpu0").ok()) std::_Exit(3);
      call();
    });
    vcpu.join();
    std::_Exit(0);
  };
  EXPECT_EXIT(on_vcpu([] {
                if (ioctl(-1, KVM_RUN, 0) != -1 || errno != EBADF) std::_Exit(4);
                if (ioctl(-1, KVM_GET_REGS, nullptr) != -1 || errno != EBADF) std::_Exit(5);
                // The request as the kernel reads it, an unsigned int: high
                // bits set in the register do not hide KVM_RUN.
                if (syscall(SYS_ioctl, -1, (uint64_t{1} << 32) | KVM_RUN, 0) != -1 ||
                    errno != EBADF) {
                  std::_Exit(6);
                }
              }),
              testing::ExitedWithCode(0), "");
  EXPECT_EXIT(on_vcpu([] { (void)ioctl(-1, KVM_CREATE_VM, 0); }), testing::ExitedWithCode(1),
              "the sandbox stopped the vcpu0 thread: system call ioctl");
  EXPECT_EXIT(on_vcpu([] { (void)socket(AF_INET, SOCK_STREAM, 0); }),
              testing::ExitedWithCode(1),
              "the sandbox stopped the vcpu0 thread: system call socket");
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
