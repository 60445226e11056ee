// SPDX-License-Identifier: Apache-2.0
// Errors are values: every call that can fail returns absl::Status or
// absl::StatusOr<T>. These helpers keep call sites short and messages uniform.
#ifndef MICROVM_BASE_STATUS_H_
#define MICROVM_BASE_STATUS_H_

#include <cerrno>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace microvm {

// "<what>: <strerror> (errno N)", with a status code chosen from errno so
// callers can tell "not found" from "permission denied".
absl::Status ErrnoError(int err, absl::string_view what);

// Same as ErrnoError(errno, what), for use right after a failed libc call.
inline absl::Status LastErrnoError(absl::string_view what) {
  return ErrnoError(errno, what);
}

// Prefixes the status message with context, keeping its code and errno.
absl::Status Annotate(const absl::Status& status, absl::string_view context);

// `status` with its message replaced, keeping its code and errno.
absl::Status Reworded(const absl::Status& status, absl::string_view message);

// The errno an ErrnoError (or an Annotate of one) came from; 0 if none.
// Where one status code covers several causes (ENOMEM and ENOSPC are both
// ResourceExhausted) and each has its own remedy.
int ErrnoOf(const absl::Status& status);

}  // namespace microvm

#define MVM_STATUS_CONCAT_INNER_(a, b) a##b
#define MVM_STATUS_CONCAT_(a, b) MVM_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define MVM_RETURN_IF_ERROR(expr)                          \
  do {                                                     \
    ::absl::Status mvm_status_ = (expr);                   \
    if (!mvm_status_.ok()) return mvm_status_;             \
  } while (0)

// `lhs` = value of `expr` (an absl::StatusOr<T>), or returns its error.
#define MVM_ASSIGN_OR_RETURN(lhs, expr)                                     \
  MVM_ASSIGN_OR_RETURN_IMPL_(MVM_STATUS_CONCAT_(mvm_statusor_, __LINE__), \
                             lhs, expr)
#define MVM_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return std::move(tmp).status();   \
  lhs = std::move(tmp).value()

#endif  // MICROVM_BASE_STATUS_H_
