// SPDX-License-Identifier: Apache-2.0
// Per-thread seccomp filters (Firecracker's and Cloud Hypervisor's model):
// the lists in seccomp_policy.cc are compiled once, with libseccomp, before
// the guest runs; each thread then installs its kind's filter itself (one
// system call, no allocation) before it does any of the guest's work: the
// VMM thread once it has made the vCPU threads (so they do not run its
// filter under theirs) and before any of them enters the guest (they wait
// for it), each vCPU before its first KVM_RUN, the DMA thread before it
// maps anything.
//
// A call a filter does not allow raises SIGSYS (--seccomp=enforce); the
// handler writes one line naming the thread and the call (and an ioctl's
// request) and ends microvm with status 1. --seccomp=log lets the call
// through and the kernel logs it (dmesg: "audit: type=1326 ... syscall=N"),
// for finding a missing entry.
#ifndef MICROVM_VMM_SANDBOX_SECCOMP_H_
#define MICROVM_VMM_SANDBOX_SECCOMP_H_

#include <linux/filter.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "vmm/sandbox/seccomp_policy.h"

namespace microvm::sandbox {

enum class SeccompMode { kEnforce, kLog, kOff };

// "enforce", "log", "off"; anything else is one line saying what to give.
absl::StatusOr<SeccompMode> ParseSeccompMode(absl::string_view text);

// The mode a VM gets unless told: enforce, or what MICROVM_SECCOMP says
// (off|log|enforce). Valgrind sets it off for the programs it runs: its
// own system calls run on the client's threads, under their filters.
SeccompMode DefaultSeccompMode();

class SeccompFilters {
 public:
  // Compiles every thread kind's list under `options`; also installs the
  // SIGSYS handler (enforce). Call before any thread that installs one.
  static absl::StatusOr<std::unique_ptr<SeccompFilters>> Build(
      SeccompMode mode, const PolicyOptions& options);

  // Puts the calling thread under `kind`'s filter, for good, after
  // PR_SET_NO_NEW_PRIVS (needed without CAP_SYS_ADMIN). `name` is the
  // thread's name in the SIGSYS line ("vcpu0", "vmm", "dma"). If the
  // MICROVM_TEST_FORBIDDEN_CALL environment variable names `kind`
  // ("vmm", "vcpu", "dma": a test-only hook), the thread then makes a call
  // no filter allows (socket), to prove the line and the exit status.
  absl::Status Install(ThreadKind kind, absl::string_view name) const;

  SeccompMode mode() const { return mode_; }

 private:
  explicit SeccompFilters(SeccompMode mode) : mode_(mode) {}

  SeccompMode mode_;
  std::array<std::vector<sock_filter>, 3> programs_;
};

}  // namespace microvm::sandbox

#endif  // MICROVM_VMM_SANDBOX_SECCOMP_H_
