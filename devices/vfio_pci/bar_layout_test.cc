// SPDX-License-Identifier: Apache-2.0
#include "devices/vfio_pci/bar_layout.h"

#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace microvm::vfio_pci {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr uint64_t kPage = 4096;

TEST(MmapPiecesTest, WholeBarWithoutTrapsIsOnePiece) {
  std::vector<vfio::MmapArea> areas = {{0, 0x100000}};
  EXPECT_THAT(MmapPieces(0x100000, areas, {}, kPage),
              ElementsAre(BarRange{0, 0x100000}));
}

TEST(MmapPiecesTest, MsixTableAndPbaPagesAreCutOut) {
  // 16 KiB BAR, table at 0x2000 (64 entries = 1 KiB), PBA at 0x3000.
  std::vector<vfio::MmapArea> areas = {{0, 0x4000}};
  std::vector<BarRange> trapped = {{0x2000, 0x400}, {0x3000, 8}};
  EXPECT_THAT(MmapPieces(0x4000, areas, trapped, kPage),
              ElementsAre(BarRange{0, 0x2000}));
}

TEST(MmapPiecesTest, TableInTheMiddleSplitsTheArea) {
  std::vector<vfio::MmapArea> areas = {{0, 0x10000}};
  std::vector<BarRange> trapped = {{0x5010, 0x100}};  // inside one page
  EXPECT_THAT(MmapPieces(0x10000, areas, trapped, kPage),
              ElementsAre(BarRange{0, 0x5000}, BarRange{0x6000, 0xa000}));
}

TEST(MmapPiecesTest, TableStraddlingPagesTakesBoth) {
  std::vector<vfio::MmapArea> areas = {{0, 0x8000}};
  std::vector<BarRange> trapped = {{0x2ff0, 0x20}};
  EXPECT_THAT(MmapPieces(0x8000, areas, trapped, kPage),
              ElementsAre(BarRange{0, 0x2000}, BarRange{0x4000, 0x4000}));
}

TEST(MmapPiecesTest, SparseAreasShrinkToPagesAndStaySeparate) {
  // The kernel's sparse list around a table at 0x3000 on a 64 KiB-page
  // host would look like this; here areas also start/end off-page.
  std::vector<vfio::MmapArea> areas = {{0x100, 0x2f00}, {0x4000, 0x3800}};
  EXPECT_THAT(MmapPieces(0x8000, areas, {}, kPage),
              ElementsAre(BarRange{0x1000, 0x2000}, BarRange{0x4000, 0x3000}));
}

TEST(MmapPiecesTest, SubPageBarAndNoAreasMapNothing) {
  std::vector<vfio::MmapArea> small = {{0, 0x100}};
  EXPECT_THAT(MmapPieces(0x100, small, {}, kPage), IsEmpty());
  EXPECT_THAT(MmapPieces(0x4000, {}, {}, kPage), IsEmpty());
}

TEST(MmapPiecesTest, AreasPastTheBarAreClipped) {
  std::vector<vfio::MmapArea> areas = {{0, 0x10000}, {0x20000, 0x1000}};
  EXPECT_THAT(MmapPieces(0x4000, areas, {}, kPage),
              ElementsAre(BarRange{0, 0x4000}));
}

TEST(MmapPiecesTest, TrapCoveringEverythingLeavesNothing) {
  std::vector<vfio::MmapArea> areas = {{0, 0x2000}};
  std::vector<BarRange> trapped = {{0, 0x2000}};
  EXPECT_THAT(MmapPieces(0x2000, areas, trapped, kPage), IsEmpty());
}

}  // namespace
}  // namespace microvm::vfio_pci
