// SPDX-License-Identifier: Apache-2.0
// The allow-lists as data: every entry says why; the threads the VMM thread
// makes can do nothing its own list forbids (they keep its filter under
// theirs); nothing that opens a file, makes a socket or runs a program is
// on any list of the release.
#include "vmm/sandbox/seccomp_policy.h"

#include <sys/syscall.h>

#include <set>
#include <string>
#include <tuple>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace microvm::sandbox {
namespace {

constexpr ThreadKind kKinds[] = {ThreadKind::kVmm, ThreadKind::kVcpu,
                                 ThreadKind::kDma};

using Key = std::tuple<long, ArgCheck, uint64_t>;

std::set<Key> Keys(ThreadKind kind, const PolicyOptions& options) {
  std::set<Key> keys;
  for (const Rule& r : RulesFor(kind, options)) {
    keys.insert({r.nr, r.check, r.value});
  }
  return keys;
}

TEST(SeccompPolicyTest, EveryEntryHasAReasonAndNoDuplicates) {
  for (bool restart : {false, true}) {
    for (ThreadKind kind : kKinds) {
      std::set<Key> seen;
      for (const Rule& r : RulesFor(kind, {restart, false})) {
        EXPECT_GT(std::string(r.reason).size(), 3u) << r.name;
        EXPECT_TRUE(seen.insert({r.nr, r.check, r.value}).second)
            << r.name << " twice for " << ThreadKindName(kind);
      }
    }
  }
}

TEST(SeccompPolicyTest, ThreadsTheVmmMakesNeedNothingItsListLacks) {
  for (bool restart : {false, true}) {
    const std::set<Key> vmm = Keys(ThreadKind::kVmm, {restart, false});
    for (ThreadKind kind : {ThreadKind::kVcpu, ThreadKind::kDma}) {
      for (const Rule& r : RulesFor(kind, {restart, false})) {
        EXPECT_EQ(vmm.count({r.nr, r.check, r.value}), 1u)
            << r.name << " is on the " << ThreadKindName(kind)
            << " list but not the vmm's";
      }
    }
  }
}

TEST(SeccompPolicyTest, NoFilesSocketsOrProgramsInTheRelease) {
  const std::set<long> forbidden = {
      SYS_open,    SYS_openat,   SYS_openat2,  SYS_creat,   SYS_socket,
      SYS_connect, SYS_execve,   SYS_execveat, SYS_fork,    SYS_vfork,
      SYS_ptrace,  SYS_mount,    SYS_setuid,   SYS_capset,  SYS_unlink,
      SYS_kill,    SYS_process_vm_writev,      SYS_init_module,
      SYS_memfd_create};
  for (bool restart : {false, true}) {
    for (ThreadKind kind : kKinds) {
      for (const Rule& r : RulesFor(kind, {restart, false})) {
        EXPECT_EQ(forbidden.count(r.nr), 0u)
            << r.name << " on the " << ThreadKindName(kind) << " list";
        if (r.nr == SYS_clone) {
          EXPECT_EQ(r.check, ArgCheck::kThread);
        }
        if (r.nr == SYS_mmap || r.nr == SYS_mprotect) {
          EXPECT_EQ(r.check, ArgCheck::kNoExec) << r.name;
        }
        if (r.nr == SYS_prctl) {
          EXPECT_EQ(r.check, ArgCheck::kOption) << r.name;
        }
        if (r.nr == SYS_seccomp) {
          EXPECT_EQ(r.check, ArgCheck::kFilterNoFlags) << r.name;
        }
        if (r.nr == SYS_tgkill) {
          EXPECT_EQ(r.check, ArgCheck::kOwnProcess) << r.name;
        }
      }
    }
  }
}

TEST(SeccompPolicyTest, VcpuAndDmaListsAreNarrowerThanTheVmms) {
  const PolicyOptions options;
  const std::set<Key> vmm = Keys(ThreadKind::kVmm, options);
  const std::set<Key> vcpu = Keys(ThreadKind::kVcpu, options);
  const std::set<Key> dma = Keys(ThreadKind::kDma, options);
  EXPECT_LT(vcpu.size(), vmm.size());
  EXPECT_LT(dma.size(), vcpu.size());
  // Only the event loop waits for events; only the VMM makes threads.
  for (long nr : {SYS_epoll_wait, SYS_epoll_pwait, SYS_clone}) {
    EXPECT_EQ(vcpu.count({nr, nr == SYS_clone ? ArgCheck::kThread
                                              : ArgCheck::kAny,
                          0}),
              0u)
        << nr;
  }
  // The DMA thread's ioctls are mapping and undoing a failed mapping.
  int ioctls = 0;
  for (const Rule& r : RulesFor(ThreadKind::kDma, options)) {
    ioctls += r.check == ArgCheck::kIoctl;
  }
  EXPECT_EQ(ioctls, 2);
}

TEST(SeccompPolicyTest, RestartEntriesOnlyWithRestart) {
  const std::set<Key> plain = Keys(ThreadKind::kVmm, {false, false});
  const std::set<Key> restart = Keys(ThreadKind::kVmm, {true, false});
  EXPECT_GT(restart.size(), plain.size());
  EXPECT_EQ(plain.count({SYS_epoll_create1, ArgCheck::kAny, 0}), 0u);
  EXPECT_EQ(restart.count({SYS_epoll_create1, ArgCheck::kAny, 0}), 1u);
  EXPECT_EQ(Keys(ThreadKind::kVcpu, {false, false}),
            Keys(ThreadKind::kVcpu, {true, false}));
}

}  // namespace
}  // namespace microvm::sandbox
