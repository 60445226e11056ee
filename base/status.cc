// SPDX-License-Identifier: Apache-2.0
#include "base/status.h"

#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace microvm {

namespace {

constexpr char kErrnoPayload[] = "microvm/errno";

absl::Status WithErrno(absl::Status status, int err) {
  status.SetPayload(kErrnoPayload, absl::Cord(absl::StrCat(err)));
  return status;
}

absl::Status ErrnoStatus(int err, std::string message) {
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

}  // namespace

absl::Status ErrnoError(int err, absl::string_view what) {
  return WithErrno(
      ErrnoStatus(err, absl::StrCat(what, ": ", std::strerror(err), " (errno ",
                                    err, ")")),
      err);
}

absl::Status Annotate(const absl::Status& status, absl::string_view context) {
  if (status.ok()) return status;
  return Reworded(status, absl::StrCat(context, ": ", status.message()));
}

absl::Status Reworded(const absl::Status& status, absl::string_view message) {
  if (status.ok()) return status;
  absl::Status reworded(status.code(), message);
  if (const int err = ErrnoOf(status); err != 0) {
    return WithErrno(std::move(reworded), err);
  }
  return reworded;
}

int ErrnoOf(const absl::Status& status) {
  const auto payload = status.GetPayload(kErrnoPayload);
  int err = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &err)) {
    return 0;
  }
  return err;
}

}  // namespace microvm
