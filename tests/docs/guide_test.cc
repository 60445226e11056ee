// SPDX-License-Identifier: Apache-2.0
// README.md's "Pass through a device of your own" and microvm's error
// messages say the same: every remedy a message names (base/remedies.h, the
// vfio-pci bind commands from devices/vfio/sysfs) is in the guide, the bind
// commands are the guide's own step, and each marked step is valid shell.
// The lab runs those steps (tools/lab/scenarios/guide.sh).
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "base/remedies.h"
#include "devices/vfio/sysfs.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace microvm {
namespace {

namespace fs = std::filesystem;
using ::testing::Contains;
using ::testing::HasSubstr;

constexpr char kDev[] = "0000:01:00.0";  // the guide's example address

std::string Guide() {
  std::ifstream file("README.md");
  std::stringstream text;
  text << file.rdbuf();
  const std::string readme = text.str();
  const size_t start = readme.find("\n## Pass through a device of your own\n");
  if (start == std::string::npos) return "";
  const size_t end = readme.find("\n## ", start + 1);
  return readme.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

// Whitespace runs as one space: the guide's prose wraps quoted messages.
std::string Flat(const std::string& text) {
  std::string out;
  for (char c : text) {
    const bool space = c == ' ' || c == '\n' || c == '\t';
    if (space && (out.empty() || out.back() == ' ')) continue;
    out += space ? ' ' : c;
  }
  return out;
}

// The "<!-- guide-step: NAME -->" blocks: NAME -> command lines.
std::map<std::string, std::vector<std::string>> Steps(const std::string& guide) {
  std::map<std::string, std::vector<std::string>> steps;
  std::string step;
  bool in_block = false;
  for (absl::string_view line : absl::StrSplit(guide, '\n')) {
    if (absl::ConsumePrefix(&line, "<!-- guide-step: ")) {
      step = std::string(absl::StripSuffix(line, " -->"));
      steps[step];
      in_block = false;
    } else if (!step.empty() && absl::ConsumePrefix(&line, "    ")) {
      steps[step].emplace_back(line);
      in_block = true;
    } else if (in_block || (!step.empty() && !line.empty())) {
      step.clear();
      in_block = false;
    }
  }
  return steps;
}

class GuideTest : public ::testing::Test {
 protected:
  void SetUp() override {
    guide_ = Guide();
    ASSERT_FALSE(guide_.empty()) << "README.md has no '## Pass through a device of your own'";
    flat_ = Flat(guide_);
    steps_ = Steps(guide_);
  }
  std::string guide_, flat_;
  std::map<std::string, std::vector<std::string>> steps_;
};

TEST_F(GuideTest, HasEveryStepTheLabRuns) {
  for (const char* name : {"iommu", "group", "bind", "user", "run", "return"}) {
    ASSERT_TRUE(steps_.count(name)) << "no guide-step " << name;
    EXPECT_FALSE(steps_[name].empty()) << "guide-step " << name << " has no commands";
  }
}

TEST_F(GuideTest, QuotesEveryRemedyTheMessagesName) {
  for (const std::string& remedy :
       {std::string(remedy::kIommuOff), std::string(remedy::kKvmAccess),
        absl::StrFormat(remedy::kVfioGroupAccess, "/dev/vfio/N"), std::string(remedy::kMemlock),
        std::string(remedy::kHugepages), absl::StrFormat(remedy::kNonViableGroup, "$DEV")}) {
    EXPECT_THAT(flat_, HasSubstr(Flat(remedy))) << "the guide does not quote: " << remedy;
  }
}

TEST_F(GuideTest, BindStepIsWhatMicrovmPrintsForABoundDevice) {
  // A fake /sys with the guide's device bound to nvme, in IOMMU group 7.
  const char* tmp = getenv("TEST_TMPDIR");
  const fs::path root = fs::path(tmp != nullptr ? tmp : "/tmp") / "guide-sysfs";
  fs::remove_all(root);
  const fs::path dev = root / "bus/pci/devices" / kDev;
  fs::create_directories(dev);
  fs::create_directories(root / "bus/pci/drivers/nvme");
  fs::create_directory_symlink(root / "bus/pci/drivers/nvme", dev / "driver");
  const std::string message(vfio::CheckBoundToVfioPci(root.string(), kDev).message());
  fs::remove_all(root);

  // The message as the guide quotes it, and each of its commands, with the
  // address as $DEV, one line of the bind step.
  const std::string prefix = absl::StrFormat("PCI device %s is bound to nvme, not vfio-pci; as "
                                             "root run: modprobe vfio-pci; echo %s > ",
                                             kDev, kDev);
  ASSERT_THAT(message, HasSubstr(prefix));
  EXPECT_THAT(flat_, HasSubstr(Flat(prefix.substr(0, prefix.size() - 1))));
  const size_t at = message.find("as root run: ");
  for (absl::string_view command :
       absl::StrSplit(message.substr(at + sizeof("as root run: ") - 1), "; ")) {
    const std::string line = absl::StrReplaceAll(command, {{kDev, "$DEV"}});
    EXPECT_THAT(steps_["bind"], Contains(line)) << "guide-step bind lacks: " << line;
  }
}

TEST_F(GuideTest, MessagesUseTheRemedies) {
  // No IOMMU group: the message ends with the remedy the guide quotes.
  const char* tmp = getenv("TEST_TMPDIR");
  const fs::path root = fs::path(tmp != nullptr ? tmp : "/tmp") / "guide-sysfs2";
  fs::remove_all(root);
  fs::create_directories(root / "bus/pci/devices" / kDev);
  EXPECT_THAT(std::string(vfio::IommuGroupOf(root.string(), kDev).status().message()),
              HasSubstr(remedy::kIommuOff));
  fs::remove_all(root);
  vfio::GroupMember other;
  other.address = "0000:01:00.1";
  other.driver = "snd_hda_intel";
  EXPECT_THAT(std::string(vfio::NonViableGroupError(7, kDev, {other}).message()),
              HasSubstr(absl::StrFormat(remedy::kNonViableGroup, kDev)));
}

TEST_F(GuideTest, EveryStepIsValidShell) {
  for (const auto& [name, lines] : steps_) {
    std::string script;
    for (const std::string& l : lines) script += l + "\n";
    FILE* sh = popen("sh -n 2>&1", "w");
    ASSERT_NE(sh, nullptr);
    fputs(script.c_str(), sh);
    const int status = pclose(sh);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "guide-step " << name << " is not valid sh:\n" << script;
  }
}

}  // namespace
}  // namespace microvm
