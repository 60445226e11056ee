// SPDX-License-Identifier: Apache-2.0
// What a microvm binary is: its version (the top-level VERSION file), the
// commit it was built from (Bazel's workspace status,
// tools/build/workspace_status.sh) and how it was built (Bazel's compilation
// mode, and a sanitizer when one is linked in). `microvm --version` prints
// VersionText(); benchmark reports carry BuildSummary() so every number says
// which build it measured (the release is `-c opt`).
#ifndef MICROVM_VMM_VERSION_H_
#define MICROVM_VMM_VERSION_H_

#include <string>

namespace microvm {

namespace build_info {
// Defined in the generated build_info.cc (vmm/BUILD.bazel).
extern const char kVersion[];          // "0.1.0"
extern const char kCommit[];           // "1a2b3c4d5e6f", "...-dirty" or ""
extern const char kCompilationMode[];  // "opt", "fastbuild" or "dbg"
}  // namespace build_info

// True for the release build: optimized, assertions off, no sanitizer.
bool IsReleaseBuild();

// One line: "microvm 0.1.0 (commit 1a2b3c4d5e6f, opt build)".
std::string BuildSummary();

// Several lines for --version: version, commit, build mode and what it means.
std::string VersionText();

}  // namespace microvm

#endif  // MICROVM_VMM_VERSION_H_
