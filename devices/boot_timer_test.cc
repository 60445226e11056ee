// SPDX-License-Identifier: Apache-2.0
#include "devices/boot_timer.h"

#include <cstdint>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace microvm {
namespace {

using ::testing::HasSubstr;

struct Seen {
  uint8_t marker;
  absl::Duration since;
  bool last;
};

TEST(BootTimerTest, ReportsTheFirstByteOfEveryWriteWithItsTime) {
  std::vector<Seen> seen;
  BootTimer timer(BootTimer::Clock::now() - std::chrono::milliseconds(5),
                  [&](uint8_t m, absl::Duration d, bool last) {
                    seen.push_back({m, d, last});
                  });
  const uint8_t init[] = {BootTimer::kInitMarker};
  const uint8_t wide[] = {7, 1, 2, 3};
  timer.Write(0, init);
  timer.Write(0x800, wide);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].marker, BootTimer::kInitMarker);
  EXPECT_GE(seen[0].since, absl::Milliseconds(5));
  EXPECT_LE(seen[0].since, seen[1].since);
  EXPECT_EQ(seen[1].marker, 7);
  EXPECT_FALSE(seen[1].last);
}

TEST(BootTimerTest, AGuestThatKeepsWritingIsCutOff) {
  int reports = 0;
  bool last_flagged = false;
  BootTimer timer(BootTimer::Clock::now(),
                  [&](uint8_t, absl::Duration, bool last) {
                    ++reports;
                    last_flagged = last;
                  });
  const uint8_t b[] = {1};
  for (int i = 0; i < 10000; ++i) timer.Write(0, b);
  EXPECT_EQ(reports, BootTimer::kMaxReports);
  EXPECT_TRUE(last_flagged);
}

TEST(BootTimerTest, ReadsAreZeroAndEmptyWritesAreIgnored) {
  int reports = 0;
  BootTimer timer(BootTimer::Clock::now(),
                  [&](uint8_t, absl::Duration, bool) { ++reports; });
  uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  timer.Read(3, data);
  for (uint8_t b : data) EXPECT_EQ(b, 0);
  timer.Write(0, absl::Span<const uint8_t>());
  EXPECT_EQ(reports, 0);
}

TEST(BootTimerTest, DescribesTheInitMarker) {
  EXPECT_EQ(BootTimer::Describe(123, absl::Microseconds(612345), false),
            "boot timer: guest marker 123 (init) at 612.345 ms after microvm "
            "started");
  EXPECT_THAT(BootTimer::Describe(9, absl::Milliseconds(1), true),
              HasSubstr("further markers are ignored"));
}

}  // namespace
}  // namespace microvm
