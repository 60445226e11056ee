// SPDX-License-Identifier: Apache-2.0
// The release archive (//:release_archive) as a user meets it: its SHA-256
// file matches, it unpacks into one directory microvm-VERSION-x86_64 holding
// the binary, README.md, SECURITY.md, LICENSE and NOTICE, and that binary,
// run from there, says its version and boots the tiny hello guest.
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/shell.h"

namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kArchive[] = "microvm-x86_64.tar.gz";
constexpr char kHello[] = "tests/guests/hello.elf";

using microvm::testing::RunShell;
using microvm::testing::ShellResult;

std::vector<std::string> List(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(name);
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::string Version() {
  std::string v;
  std::ifstream("VERSION") >> v;
  return v;
}

class ReleaseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = getenv("TEST_TMPDIR");
    dir_ = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/unpacked");
    ASSERT_EQ(RunShell("rm -rf " + dir_).status, 0);
    ASSERT_EQ(mkdir(dir_.c_str(), 0755), 0);
    ASSERT_EQ(List(dir_).size(), 0u);
    ShellResult r = RunShell(absl::StrCat("tar -xzf ", kArchive, " -C ", dir_));
    ASSERT_EQ(r.status, 0) << r.out;
    top_ = absl::StrCat("microvm-", Version(), "-x86_64");
  }

  std::string dir_;
  std::string top_;
};

TEST_F(ReleaseTest, ChecksumMatches) {
  std::ifstream file(absl::StrCat(kArchive, ".sha256"));
  std::string sum, name;
  file >> sum >> name;
  EXPECT_EQ(name, top_ + ".tar.gz");
  ShellResult r = RunShell(absl::StrCat("sha256sum ", kArchive));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out.substr(0, 64), sum);
}

TEST_F(ReleaseTest, UnpacksIntoOneDirectoryWithTheBinaryAndDocuments) {
  EXPECT_THAT(List(dir_), ElementsAre(top_));
  EXPECT_THAT(List(dir_ + "/" + top_),
              ElementsAre("LICENSE", "NOTICE", "README.md", "SECURITY.md", "microvm"));
  struct stat st;
  ASSERT_EQ(stat((dir_ + "/" + top_ + "/microvm").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
  std::ifstream license(dir_ + "/" + top_ + "/LICENSE");
  std::string text((std::istreambuf_iterator<char>(license)), std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("Apache License"));
  EXPECT_THAT(text, HasSubstr("Version 2.0, January 2004"));
}

TEST_F(ReleaseTest, BinarySaysItsVersionAndBootsTheHelloGuest) {
  const std::string binary = dir_ + "/" + top_ + "/microvm";
  ShellResult v = RunShell(binary + " --version");
  ASSERT_EQ(v.status, 0) << v.out;
  std::vector<std::string> lines = absl::StrSplit(v.out, '\n');
  EXPECT_EQ(lines[0], "microvm " + Version());

  // From the unpacked directory, as a user would run it.
  char cwd[4096];
  ASSERT_NE(getcwd(cwd, sizeof cwd), nullptr);
  ShellResult r = RunShell(absl::StrCat("cd ", dir_, "/", top_, " && ./microvm --kernel ", cwd, "/",
                             kHello, " --mem 64 </dev/null"));
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("Hello from a microvm guest"));
}

}  // namespace
