// SPDX-License-Identifier: Apache-2.0
#include "vmm/sandbox/privileges.h"

#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/remedies.h"
#include "base/status.h"

namespace microvm::sandbox {
namespace {

struct Caps {
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
};

absl::StatusOr<Caps> GetCaps() {
  __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  Caps caps;
  if (::syscall(SYS_capget, &header, caps.data) != 0) {
    return LastErrnoError("capget");
  }
  return caps;
}

bool Has(const Caps& caps, int cap) {
  return (caps.data[cap / 32].effective >> (cap % 32)) & 1;
}

absl::Status RaiseLockedMemoryLimit(uint64_t bytes) {
  rlimit limit = {};
  if (::getrlimit(RLIMIT_MEMLOCK, &limit) != 0) {
    return LastErrnoError("getrlimit(RLIMIT_MEMLOCK)");
  }
  if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= bytes) {
    return absl::OkStatus();
  }
  rlimit raised = limit;
  raised.rlim_cur = bytes;
  if (raised.rlim_max != RLIM_INFINITY && raised.rlim_max < bytes) {
    raised.rlim_max = bytes;
  }
  if (::setrlimit(RLIMIT_MEMLOCK, &raised) != 0) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%d MiB of guest RAM must stay locked for DMA with --vfio once "
        "microvm drops its capabilities, but the locked-memory limit is %d "
        "KiB and raising it failed (%s): %s (ulimit -l %d)",
        bytes >> 20, limit.rlim_cur >> 10, std::strerror(errno),
        remedy::kMemlock, (bytes + 1023) >> 10));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<UserIds> ParseUserIds(absl::string_view text) {
  const size_t colon = text.find(':');
  UserIds ids;
  uint32_t uid = 0;
  uint32_t gid = 0;
  if (colon == absl::string_view::npos ||
      !absl::SimpleAtoi(text.substr(0, colon), &uid) ||
      !absl::SimpleAtoi(text.substr(colon + 1), &gid) ||
      uid == static_cast<uint32_t>(-1) || gid == static_cast<uint32_t>(-1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--user ", text,
        ": give numeric ids UID:GID, e.g. --user $(id -u kvmuser):$(id -g "
        "kvmuser)"));
  }
  ids.uid = uid;
  ids.gid = gid;
  return ids;
}

absl::Status DropPrivileges(const std::optional<UserIds>& user,
                            uint64_t locked_bytes) {
  MVM_ASSIGN_OR_RETURN(const Caps caps, GetCaps());
  if (locked_bytes > 0 && Has(caps, CAP_IPC_LOCK)) {
    MVM_RETURN_IF_ERROR(RaiseLockedMemoryLimit(locked_bytes));
  }
  if (Has(caps, CAP_SETPCAP)) {
    for (int cap = 0; cap <= CAP_LAST_CAP; ++cap) {
      // EINVAL: a capability this kernel does not know.
      if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) {
        return LastErrnoError(absl::StrCat(
            "dropping capability ", cap, " from the bounding set"));
      }
    }
  }
  (void)::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  if (user.has_value()) {
    if (::setgroups(0, nullptr) != 0 && errno != EPERM) {
      return LastErrnoError("--user: dropping supplementary groups");
    }
    if (::setresgid(user->gid, user->gid, user->gid) != 0) {
      return LastErrnoError(absl::StrCat(
          "--user: switching to gid ", user->gid,
          " (microvm must start as root, or as that user, to switch)"));
    }
    if (::setresuid(user->uid, user->uid, user->uid) != 0) {
      return LastErrnoError(absl::StrCat(
          "--user: switching to uid ", user->uid,
          " (microvm must start as root, or as that user, to switch)"));
    }
  }
  __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  Caps none;
  if (::syscall(SYS_capset, &header, none.data) != 0) {
    return LastErrnoError("dropping every capability (capset)");
  }
  return absl::OkStatus();
}

}  // namespace microvm::sandbox
