// SPDX-License-Identifier: Apache-2.0
// What each kind of microvm thread may ask of the kernel once the guest
// runs: the seccomp allow-lists, as data (seccomp_policy.cc, one entry a
// line with its reason, as Firecracker keeps its filters in JSON). Pure: no
// libseccomp here; vmm/sandbox/seccomp.h compiles the lists into filters.
//
// A thread made by another keeps its maker's filter and adds its own (the
// kernel runs both, the stricter answer wins): the vCPU and DMA-mapping
// threads are made by the VMM thread after its filter is in place, so the
// VMM list must allow whatever they do as well. seccomp_policy_test checks
// that it does.
#ifndef MICROVM_VMM_SANDBOX_SECCOMP_POLICY_H_
#define MICROVM_VMM_SANDBOX_SECCOMP_POLICY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace microvm::sandbox {

enum class ThreadKind {
  kVmm,   // main(): set-up, then the event loop (and every restart's set-up)
  kVcpu,  // one per vCPU: KVM_RUN and the devices' MMIO/PIO handlers
  kDma,   // --dma_map=overlap: pins guest RAM for DMA beside the guest
};
absl::string_view ThreadKindName(ThreadKind kind);

// What an entry allows of its system call's arguments.
enum class ArgCheck {
  kAny,          // every call
  kIoctl,        // ioctl with this request number (`value`) only
  kNoExec,       // mmap/mprotect without PROT_EXEC (argument 2)
  kThread,       // clone with CLONE_THREAD: threads, never processes
  kOption,       // prctl/seccomp with this first argument (`value`)
  kOwnProcess,   // tgkill of a thread of this process (argument 0)
  kFilterNoFlags,  // seccomp(SECCOMP_SET_MODE_FILTER, 0, ...): no flag (as
                   // SPEC_ALLOW, which would turn a mitigation off)
  kFailNoSys,    // not allowed: fails with ENOSYS (clone3, so glibc falls
                 // back to clone, whose flags a filter can see)
};

// When an entry applies.
enum class When {
  kAlways,
  kRestart,  // --on_reboot=restart: the next boot is built in this thread
};

struct Rule {
  unsigned kinds;  // bits: 1 << ThreadKind
  long nr;         // system call number (x86-64)
  const char* name;
  ArgCheck check;
  uint64_t value;  // kIoctl: request; kOption: first argument
  When when;
  const char* reason;
};

struct PolicyOptions {
  bool restart = false;  // --on_reboot=restart
  // A sanitizer runtime (ASan, UBSan) is in the program: its own calls
  // (reports, LeakSanitizer's check at exit) are allowed too.
  bool sanitizer = false;
};

// Every rule for `kind` under `options`.
std::vector<Rule> RulesFor(ThreadKind kind, const PolicyOptions& options);

// True when this program has a sanitizer runtime (built with
// --config=asan or --config=ubsan).
bool BuiltWithSanitizer();

}  // namespace microvm::sandbox

#endif  // MICROVM_VMM_SANDBOX_SECCOMP_POLICY_H_
