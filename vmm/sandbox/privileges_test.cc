// SPDX-License-Identifier: Apache-2.0
#include "vmm/sandbox/privileges.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace microvm::sandbox {
namespace {

using ::testing::HasSubstr;

TEST(ParseUserIdsTest, NumericPairs) {
  absl::StatusOr<UserIds> ids = ParseUserIds("1000:100");
  ASSERT_TRUE(ids.ok()) << ids.status();
  EXPECT_EQ(ids->uid, 1000u);
  EXPECT_EQ(ids->gid, 100u);
  ids = ParseUserIds("0:0");
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->uid, 0u);
}

TEST(ParseUserIdsTest, AnythingElseIsOneLine) {
  for (const char* bad : {"", "1000", "1000:", ":100", "alice:kvm", "1:2:3",
                          "-1:5", "4294967295:1", "1:4294967295"}) {
    absl::StatusOr<UserIds> ids = ParseUserIds(bad);
    EXPECT_TRUE(absl::IsInvalidArgument(ids.status())) << bad;
    EXPECT_THAT(std::string(ids.status().message()),
                HasSubstr("give numeric ids UID:GID"))
        << bad;
  }
}

}  // namespace
}  // namespace microvm::sandbox
