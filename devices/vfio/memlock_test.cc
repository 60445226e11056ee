// SPDX-License-Identifier: Apache-2.0
#include "devices/vfio/memlock.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace microvm::vfio {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kMiB = 1 << 20;

TEST(MemlockTest, EnoughUnlimitedOrCapableIsOk) {
  EXPECT_TRUE(CheckLockedMemory(512 * kMiB, {512 * kMiB, false}).ok());
  EXPECT_TRUE(CheckLockedMemory(512 * kMiB, {std::nullopt, false}).ok());
  EXPECT_TRUE(CheckLockedMemory(512 * kMiB, {8 << 20, true}).ok());
}

TEST(MemlockTest, TooSmallNamesTheLimitAndTheSizeNeeded) {
  const absl::Status s = CheckLockedMemory(512 * kMiB, {8 * kMiB, false});
  EXPECT_TRUE(absl::IsResourceExhausted(s));
  const std::string m(s.message());
  EXPECT_THAT(m, HasSubstr("512 MiB of guest RAM"));
  EXPECT_THAT(m, HasSubstr("limit is 8192 KiB"));
  EXPECT_THAT(m, HasSubstr("ulimit -l 524288"));
  EXPECT_THAT(m, HasSubstr("CAP_IPC_LOCK"));
  EXPECT_EQ(m.find('\n'), std::string::npos);
}

TEST(MemlockTest, CurrentRightsAreReadable) {
  absl::StatusOr<LockedMemoryRights> rights = CurrentLockedMemoryRights();
  ASSERT_TRUE(rights.ok()) << rights.status();
}

}  // namespace
}  // namespace microvm::vfio
