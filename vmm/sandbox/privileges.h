// SPDX-License-Identifier: Apache-2.0
// No privileges left once the guest runs: after every file and device is
// open, microvm switches to --user's ids (if given) and gives up every
// capability, so a guest that took over microvm would hold no more than an
// unprivileged process of that user (plus its seccomp filters).
#ifndef MICROVM_VMM_SANDBOX_PRIVILEGES_H_
#define MICROVM_VMM_SANDBOX_PRIVILEGES_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace microvm::sandbox {

struct UserIds {
  uid_t uid = 0;
  gid_t gid = 0;
};

// --user's "UID:GID" (numbers); anything else is one line saying what to
// give.
absl::StatusOr<UserIds> ParseUserIds(absl::string_view text);

// Call before any thread but the caller exists: capabilities are per
// thread, and threads made later inherit the caller's. In order:
//  - `locked_bytes` > 0 (VFIO pins that much guest RAM, charged to
//    RLIMIT_MEMLOCK once CAP_IPC_LOCK is gone): the limit is raised to it
//    while CAP_SYS_RESOURCE allows, else a limit too small is one line;
//  - `user`: supplementary groups dropped, then the gid and uid switched
//    (real, effective and saved);
//  - every capability dropped: bounding set (where CAP_SETPCAP allows),
//    ambient, inheritable, permitted, effective.
absl::Status DropPrivileges(const std::optional<UserIds>& user,
                            uint64_t locked_bytes);

}  // namespace microvm::sandbox

#endif  // MICROVM_VMM_SANDBOX_PRIVILEGES_H_
