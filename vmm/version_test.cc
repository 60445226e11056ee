// SPDX-License-Identifier: Apache-2.0
#include "vmm/version.h"

#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace microvm {
namespace {

TEST(VersionTest, VersionTextNamesVersionCommitAndBuild) {
  const std::string text = VersionText();
  EXPECT_EQ(text.rfind(std::string("microvm ") + build_info::kVersion + "\n", 0), 0u)
      << text;
  EXPECT_NE(text.find("\ncommit: "), std::string::npos) << text;
  EXPECT_NE(text.find(std::string("\nbuild: ") + build_info::kCompilationMode + ", "),
            std::string::npos)
      << text;
}

TEST(VersionTest, VersionIsTheVersionFile) {
  std::ifstream file("VERSION");
  ASSERT_TRUE(file) << "VERSION not in the runfiles";
  std::string version;
  file >> version;
  EXPECT_EQ(version, build_info::kVersion);
}

TEST(VersionTest, CompilationModeIsBazels) {
  const std::string mode = build_info::kCompilationMode;
#ifdef NDEBUG
  EXPECT_EQ(mode, "opt");
#else
  EXPECT_NE(mode, "opt");
#endif
  EXPECT_EQ(IsReleaseBuild(), mode == "opt" && BuildSummary().find('+') == std::string::npos);
}

TEST(VersionTest, SummaryIsOneLine) {
  const std::string summary = BuildSummary();
  EXPECT_EQ(summary.find('\n'), std::string::npos);
  EXPECT_NE(summary.find(std::string(" build)")), std::string::npos) << summary;
#ifdef __SANITIZE_ADDRESS__  // GCC under --config=asan
  EXPECT_NE(summary.find("+asan build)"), std::string::npos) << summary;
  EXPECT_FALSE(IsReleaseBuild());
#endif
}

}  // namespace
}  // namespace microvm
