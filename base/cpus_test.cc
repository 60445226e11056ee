// SPDX-License-Identifier: Apache-2.0
#include "base/cpus.h"

#include "gtest/gtest.h"

namespace microvm {
namespace {

TEST(CpusTest, ListsRangesAsTheKernelDoes) {
  EXPECT_EQ(CpuList({}), "");
  EXPECT_EQ(CpuList({0}), "0");
  EXPECT_EQ(CpuList({0, 1, 2, 3, 6}), "0-3,6");
  EXPECT_EQ(CpuList({1, 3, 4, 5, 7, 8}), "1,3-5,7-8");
}

TEST(CpusTest, ThisThreadMayRunSomewhere) {
  absl::StatusOr<std::vector<int>> cpus = AllowedCpus();
  ASSERT_TRUE(cpus.ok()) << cpus.status();
  ASSERT_FALSE(cpus->empty());
  for (size_t i = 1; i < cpus->size(); ++i) EXPECT_LT((*cpus)[i - 1], (*cpus)[i]);
}

}  // namespace
}  // namespace microvm
