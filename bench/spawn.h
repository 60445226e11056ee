// SPDX-License-Identifier: Apache-2.0
// Starting the microvm binary from a benchmark: posix_spawn with chosen
// stdio, and waiting for its exit status.
#ifndef MICROVM_BENCH_SPAWN_H_
#define MICROVM_BENCH_SPAWN_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace microvm::bench {

// Spawns `argv` with stdout to `out_fd` (-1: /dev/null), stdin from
// /dev/null, and stderr to /dev/null unless `keep_stderr`.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, int out_fd,
                            bool keep_stderr);

// The same with every stdio fd chosen: stdin from `in_fd`, stdout and stderr
// to `out_fd` and `err_fd` (-1: /dev/null).
absl::StatusOr<pid_t> SpawnWithStdio(const std::vector<std::string>& argv,
                                     int in_fd, int out_fd, int err_fd);

// Waits for `pid`: its exit status, or 128 + the signal that killed it.
absl::StatusOr<int> WaitExit(pid_t pid);

// Waits up to `timeout_ms` for one byte on `fd`; nullopt-like: the byte, or
// -1 when none came.
int ReadByte(int fd, int timeout_ms);

}  // namespace microvm::bench

#endif  // MICROVM_BENCH_SPAWN_H_
