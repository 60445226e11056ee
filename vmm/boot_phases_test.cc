// SPDX-License-Identifier: Apache-2.0
#include "vmm/boot_phases.h"

#include <chrono>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace microvm {
namespace {

using std::chrono::microseconds;

TEST(BootPhasesTest, EachPhaseRunsFromTheLastMark) {
  const BootPhases::Clock::time_point t0{};
  BootPhases phases(t0);
  phases.Mark("flags", t0 + microseconds(310));
  phases.Mark("guest memory", t0 + microseconds(352));
  phases.Mark("vCPUs", t0 + microseconds(2352));
  ASSERT_EQ(phases.phases().size(), 3u);
  EXPECT_EQ(phases.phases()[0].took, absl::Microseconds(310));
  EXPECT_EQ(phases.phases()[1].took, absl::Microseconds(42));
  EXPECT_EQ(phases.phases()[2].took, absl::Milliseconds(2));
  EXPECT_EQ(phases.Describe(),
            "set-up: flags 0.310 ms, guest memory 0.042 ms, vCPUs 2.000 ms");
}

TEST(BootPhasesTest, AMarkBeforeTheLastCountsAsNoTime) {
  const BootPhases::Clock::time_point t0{};
  BootPhases phases(t0);
  phases.Mark("a", t0 + microseconds(500));
  phases.Mark("b", t0 + microseconds(400));
  phases.Mark("c", t0 + microseconds(700));
  EXPECT_EQ(phases.phases()[1].took, absl::ZeroDuration());
  EXPECT_EQ(phases.phases()[2].took, absl::Microseconds(200));
}

TEST(BootPhasesTest, APhaseBeforeTheStartMovesNoMark) {
  const BootPhases::Clock::time_point t0{};
  BootPhases phases(t0);
  phases.Add("process start to main", absl::Microseconds(900));
  phases.Mark("flags", t0 + microseconds(310));
  EXPECT_EQ(phases.Describe(), "set-up: process start to main 0.900 ms, flags 0.310 ms");
}

// The process ran before this test's main(): exec, the loader, gtest's
// static initializers. Read from the kernel's schedstat (no timing asserted:
// only that there is some, and that a later main() start leaves more).
TEST(BootPhasesTest, TimeBeforeMainIsThereAndEndsAtMain) {
  const BootPhases::Clock::time_point now = BootPhases::Clock::now();
  absl::StatusOr<absl::Duration> before = TimeBeforeMain(now);
  ASSERT_TRUE(before.ok()) << before.status();
  EXPECT_GT(*before, absl::ZeroDuration());
  // A main() that started an hour ago: everything since the fork came after it.
  absl::StatusOr<absl::Duration> none = TimeBeforeMain(now - std::chrono::hours(1));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, absl::ZeroDuration());
}

TEST(BootPhasesTest, NothingMarkedDescribesAsEmpty) {
  BootPhases phases(BootPhases::Clock::now());
  EXPECT_EQ(phases.Describe(), "");
}

}  // namespace
}  // namespace microvm
