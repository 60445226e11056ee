// SPDX-License-Identifier: Apache-2.0
#include "base/status.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace microvm {

absl::Status ErrnoError(int err, absl::string_view what) {
  std::string message =
      absl::StrCat(what, ": ", std::strerror(err), " (errno ", err, ")");
  switch (err) {
    case ENOENT:
    case ENODEV:
    case ENXIO:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    case EINVAL:
    case E2BIG:
      return absl::InvalidArgumentError(message);
    case ENOMEM:
    case ENOSPC:
    case EMFILE:
    case ENFILE:
      return absl::ResourceExhaustedError(message);
    case EBUSY:
    case EEXIST:
      return absl::FailedPreconditionError(message);
    case EINTR:
    case EAGAIN:
      return absl::UnavailableError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(context, ": ", status.message()));
}

}  // namespace microvm
