// SPDX-License-Identifier: Apache-2.0
#include "bench/spawn.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "base/status.h"

extern char** environ;

namespace microvm::bench {

absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, int out_fd,
                            bool keep_stderr) {
  return SpawnWithStdio(argv, -1, out_fd, keep_stderr ? STDERR_FILENO : -1);
}

absl::StatusOr<pid_t> SpawnWithStdio(const std::vector<std::string>& argv,
                                     int in_fd, int out_fd, int err_fd) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const int fds[3] = {in_fd, out_fd, err_fd};
  for (int target = 0; target < 3; ++target) {
    if (fds[target] == target) continue;  // inherited as it is
    if (fds[target] >= 0) {
      posix_spawn_file_actions_adddup2(&actions, fds[target], target);
    } else {
      posix_spawn_file_actions_addopen(&actions, target, "/dev/null",
                                       target == 0 ? O_RDONLY : O_WRONLY, 0);
    }
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int err = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) return ErrnoError(err, absl::StrCat("posix_spawn ", argv[0]));
  return pid;
}

absl::StatusOr<int> WaitExit(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return LastErrnoError("waitpid");
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int ReadByte(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  unsigned char c = 0;
  if (poll(&p, 1, timeout_ms) != 1 || read(fd, &c, 1) != 1) return -1;
  return c;
}

}  // namespace microvm::bench
