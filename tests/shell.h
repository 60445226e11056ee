// SPDX-License-Identifier: Apache-2.0
// For tests that run a program the way a user does: a shell command, its
// exit status and everything it printed.
#ifndef MICROVM_TESTS_SHELL_H_
#define MICROVM_TESTS_SHELL_H_

#include <string>

namespace microvm::testing {

struct ShellResult {
  int status = -1;  // exit status; -1 when killed by a signal or not run
  std::string out;  // stdout and stderr, interleaved
};

// Runs `command` with /bin/sh (stderr joined to stdout).
ShellResult RunShell(const std::string& command);

}  // namespace microvm::testing

#endif  // MICROVM_TESTS_SHELL_H_
