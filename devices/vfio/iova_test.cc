// SPDX-License-Identifier: Apache-2.0
#include "devices/vfio/iova.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace microvm::vfio {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// What an x86 host with an Intel IOMMU reports: everything below 48 bits
// except the MSI window.
IommuInfo X86Iommu() {
  IommuInfo info;
  info.iova_pgsizes = 0x40201000;  // 4K, 2M, 1G
  info.valid_iovas = std::vector<IovaRange>{{0, 0xfedfffff},
                                            {0xfef00000, 0xffffffffffff}};
  return info;
}

TEST(IovaTest, MinPageSize) {
  EXPECT_EQ(X86Iommu().min_page_size(), 4096u);
  IommuInfo none;
  EXPECT_EQ(none.min_page_size(), 4096u);
  IommuInfo big;
  big.iova_pgsizes = 0x10000 | 0x200000;
  EXPECT_EQ(big.min_page_size(), 0x10000u);
}

TEST(IovaTest, ReservedRangesAreTheGaps) {
  std::vector<IovaRange> gaps = ReservedRanges(*X86Iommu().valid_iovas);
  ASSERT_EQ(gaps.size(), 2u);
  EXPECT_EQ(gaps[0].start, 0xfee00000u);
  EXPECT_EQ(gaps[0].end, 0xfeefffffu);
  EXPECT_EQ(gaps[1].start, 0x1000000000000u);
  EXPECT_EQ(gaps[1].end, UINT64_MAX);
  EXPECT_EQ(FormatRanges(gaps),
            "0xfee00000-0xfeefffff, 0x1000000000000-0xffffffffffffffff");
  EXPECT_TRUE(ReservedRanges({{0, UINT64_MAX}}).empty());
  EXPECT_EQ(ReservedRanges({{0x1000, UINT64_MAX}}).size(), 1u);
}

TEST(IovaTest, AcceptsRamLayout) {
  IommuInfo iommu = X86Iommu();
  // Low RAM [0, 3 GiB) and high RAM from 4 GiB (memory/layout.h).
  EXPECT_TRUE(CheckDmaRange(iommu, 0, 0xC0000000, 0x7f0000000000).ok());
  EXPECT_TRUE(
      CheckDmaRange(iommu, 0x100000000, 0x40000000, 0x7f0000000000).ok());
  // Without the capability (old kernels) only alignment is checked.
  IommuInfo old;
  EXPECT_TRUE(CheckDmaRange(old, 0xfee00000, 0x1000, 0x1000).ok());
}

TEST(IovaTest, RejectsTheMsiWindowNamingRanges) {
  absl::Status s = CheckDmaRange(X86Iommu(), 0xC0000000, 0x40000000, 0);
  EXPECT_TRUE(absl::IsInvalidArgument(s));
  EXPECT_THAT(std::string(s.message()),
              AllOf(HasSubstr("guest RAM 0xc0000000-0xffffffff"),
                    HasSubstr("reserves (0xfee00000-0xfeefffff)"),
                    HasSubstr("valid IOVA ranges are 0-0xfedfffff, "
                              "0xfef00000-0xffffffffffff")));
  // Past the IOMMU's address width.
  EXPECT_FALSE(CheckDmaRange(X86Iommu(), 0xfffffffff000, 0x2000, 0).ok());
}

TEST(IovaTest, RejectsMisalignment) {
  IommuInfo iommu = X86Iommu();
  EXPECT_THAT(std::string(CheckDmaRange(iommu, 0x800, 0x1000, 0).message()),
              HasSubstr("not aligned to the IOMMU page size 0x1000"));
  EXPECT_FALSE(CheckDmaRange(iommu, 0, 0x1800, 0).ok());
  EXPECT_FALSE(CheckDmaRange(iommu, 0, 0x1000, 0x10).ok());
  EXPECT_FALSE(CheckDmaRange(iommu, 0, 0, 0).ok());
  IommuInfo wide;
  EXPECT_FALSE(CheckDmaRange(wide, UINT64_MAX - 0xfff, 0x2000, 0).ok());
}

}  // namespace
}  // namespace microvm::vfio
