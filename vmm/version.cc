// SPDX-License-Identifier: Apache-2.0
#include "vmm/version.h"

#include <cstring>

#include "absl/strings/str_cat.h"

namespace microvm {
namespace {

// Set by vmm/BUILD.bazel under --config=asan / --config=ubsan.
#ifdef MICROVM_SANITIZER
constexpr char kSanitizer[] = MICROVM_SANITIZER;
#else
constexpr char kSanitizer[] = "";
#endif

std::string Commit() {
  return build_info::kCommit[0] != '\0' ? build_info::kCommit
                                        : "unknown (no commit information at build time)";
}

// Bazel's compilation modes (bazel help build: --compilation_mode).
const char* ModeMeaning(const std::string& mode) {
  if (mode == "opt") return "optimized (-O2), assertions off: the release build";
  if (mode == "dbg") return "debug (-g, no optimization): not for measuring";
  return "unoptimized (-O0, Bazel's default fastbuild): not for measuring; "
         "build with -c opt";
}

}  // namespace

bool IsReleaseBuild() {
  return std::strcmp(build_info::kCompilationMode, "opt") == 0 &&
         kSanitizer[0] == '\0';
}

std::string BuildSummary() {
  std::string build = build_info::kCompilationMode;
  if (kSanitizer[0] != '\0') absl::StrAppend(&build, "+", kSanitizer);
  return absl::StrCat("microvm ", build_info::kVersion, " (commit ",
                      build_info::kCommit[0] != '\0' ? build_info::kCommit
                                                     : "unknown",
                      ", ", build, " build)");
}

std::string VersionText() {
  std::string text = absl::StrCat(
      "microvm ", build_info::kVersion, "\n", "commit: ", Commit(), "\n",
      "build: ", build_info::kCompilationMode, ", ",
      ModeMeaning(build_info::kCompilationMode), "\n");
  if (kSanitizer[0] != '\0') {
    absl::StrAppend(&text, "sanitizer: ", kSanitizer, "\n");
  }
  return text;
}

}  // namespace microvm
