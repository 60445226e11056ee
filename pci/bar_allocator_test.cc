// SPDX-License-Identifier: Apache-2.0
#include "pci/bar_allocator.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace microvm::pci {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kGiB = uint64_t{1} << 30;

BarRequest Req(uint8_t dev, int index, BarType type, uint64_t size) {
  return BarRequest{PciAddress{0, dev, 0}, index, type, size};
}

TEST(PlaceBarsTest, LargestFirstEachAlignedToItsSize) {
  BarWindows w;
  w.mmio64_base = 64 * kGiB;
  w.mmio64_size = 64 * kGiB;
  auto placed = PlaceBars(
      {Req(1, 0, BarType::kMemory32, 4096), Req(1, 1, BarType::kIo, 32),
       Req(2, 0, BarType::kMemory64, 16 * kMiB),
       Req(2, 2, BarType::kMemory64, 4 * kGiB), Req(3, 0, BarType::kIo, 256),
       Req(3, 1, BarType::kMemory32, 1 * kMiB)},
      w);
  ASSERT_TRUE(placed.ok()) << placed.status();
  EXPECT_THAT(*placed, ElementsAre(0xc1100000, 0xc100, 0xc0000000, 64 * kGiB,
                                   0xc000, 0xc1000000));
}

TEST(PlaceBarsTest, LargeBarFallsBackBelow4GiBWithoutA64BitWindow) {
  auto placed =
      PlaceBars({Req(1, 0, BarType::kMemory64, 256 * kMiB)}, BarWindows{});
  ASSERT_TRUE(placed.ok()) << placed.status();
  EXPECT_THAT(*placed, ElementsAre(0xc0000000));
}

TEST(PlaceBarsTest, SmallBarFallsBackAbove4GiBWhenFull) {
  BarWindows w;
  w.mmio32_size = 4096;
  w.mmio64_base = 8 * kGiB;
  w.mmio64_size = kGiB;
  auto placed = PlaceBars({Req(1, 0, BarType::kMemory64, 4096),
                           Req(1, 2, BarType::kMemory64, 4096)},
                          w);
  ASSERT_TRUE(placed.ok()) << placed.status();
  EXPECT_THAT(*placed, ElementsAre(0xc0000000, 8 * kGiB));
}

TEST(PlaceBarsTest, ClearErrorWhenSomethingDoesNotFit) {
  auto placed = PlaceBars({Req(4, 2, BarType::kMemory32, kGiB)}, BarWindows{});
  ASSERT_FALSE(placed.ok());
  EXPECT_EQ(placed.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(placed.status().message(), HasSubstr("00:04.0 BAR 2"));
  EXPECT_THAT(placed.status().message(), HasSubstr("32-bit MMIO window"));

  BarWindows w;
  w.io_size = 0x100;
  placed =
      PlaceBars({Req(1, 0, BarType::kIo, 256), Req(2, 0, BarType::kIo, 4)}, w);
  EXPECT_FALSE(placed.ok());
  EXPECT_THAT(placed.status().message(), HasSubstr("0x0 bytes left"));
}

// A 64-bit BAR bigger than the 64-bit window (and than the 32-bit one it
// falls back to): one error that names the BAR and both windows, with no
// line break, so main prints it as one line.
TEST(PlaceBarsTest, BarLargerThanBothWindows) {
  BarWindows w;
  w.mmio64_base = 4 * kGiB;
  w.mmio64_size = 64 * kGiB;
  auto placed = PlaceBars({Req(1, 0, BarType::kMemory32, 4096),
                           Req(3, 2, BarType::kMemory64, 128 * kGiB)},
                          w);
  ASSERT_FALSE(placed.ok());
  EXPECT_EQ(placed.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(placed.status().message(),
              HasSubstr("00:03.0 BAR 2 (64-bit memory, 0x2000000000 bytes)"));
  EXPECT_THAT(placed.status().message(),
              HasSubstr("64-bit MMIO window [0x100000000, 0x1100000000) "
                        "(0x1000000000 bytes left) nor the 32-bit MMIO window"));
  EXPECT_THAT(placed.status().message(), Not(HasSubstr("\n")));
}

TEST(PlaceBarsTest, NothingToPlace) {
  auto placed = PlaceBars({}, BarWindows{});
  ASSERT_TRUE(placed.ok());
  EXPECT_TRUE(placed->empty());
}

}  // namespace
}  // namespace microvm::pci
