// SPDX-License-Identifier: Apache-2.0
#include "devices/vfio/info.h"

#include <cstring>
#include <vector>

#include "base/linux_uapi.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace microvm::vfio {
namespace {

using ::testing::HasSubstr;

// Builds buffers the way the kernel lays them out: a fixed struct, then
// capabilities linked by `next` offsets from the buffer's start.
class Buffer {
 public:
  template <typename T>
  size_t Append(const T& value) {
    size_t at = bytes_.size();
    bytes_.resize(at + sizeof(T));
    std::memcpy(bytes_.data() + at, &value, sizeof(T));
    return at;
  }
  template <typename T>
  void Put(size_t at, const T& value) {
    std::memcpy(bytes_.data() + at, &value, sizeof(T));
  }
  absl::Span<const uint8_t> span() const { return bytes_; }
  size_t size() const { return bytes_.size(); }

 private:
  std::vector<uint8_t> bytes_;
};

vfio_region_info RegionHeader(uint32_t flags, uint32_t cap_offset) {
  vfio_region_info r = {};
  r.argsz = 0;  // not read by the parser
  r.flags = flags;
  r.index = VFIO_PCI_BAR0_REGION_INDEX;
  r.cap_offset = cap_offset;
  r.size = 0x4000;
  r.offset = 0x10000000000;
  return r;
}

TEST(RegionInfoTest, PlainRegion) {
  Buffer b;
  b.Append(RegionHeader(VFIO_REGION_INFO_FLAG_READ |
                            VFIO_REGION_INFO_FLAG_WRITE |
                            VFIO_REGION_INFO_FLAG_MMAP,
                        0));
  auto r = ParseRegionInfo(b.span());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->size, 0x4000u);
  EXPECT_EQ(r->offset, 0x10000000000u);
  EXPECT_TRUE(r->readable() && r->writable() && r->mmappable());
  EXPECT_FALSE(r->sparse_mmap.has_value());
  EXPECT_FALSE(r->msix_mappable);
  ASSERT_EQ(r->MmapAreas().size(), 1u);
  EXPECT_EQ(r->MmapAreas()[0].size, 0x4000u);
}

TEST(RegionInfoTest, SparseMmapAndMsixMappableChain) {
  Buffer b;
  const uint32_t flags = VFIO_REGION_INFO_FLAG_READ |
                         VFIO_REGION_INFO_FLAG_MMAP |
                         VFIO_REGION_INFO_FLAG_CAPS;
  b.Append(RegionHeader(flags, sizeof(vfio_region_info)));
  // Sparse mmap: the MSI-X table at 0x1000-0x1fff is left out.
  vfio_region_info_cap_sparse_mmap sparse = {};
  sparse.header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
  sparse.header.version = 1;
  sparse.nr_areas = 2;
  size_t sparse_at = b.Append(sparse);
  b.Append(vfio_region_sparse_mmap_area{0, 0x1000});
  b.Append(vfio_region_sparse_mmap_area{0x2000, 0x2000});
  vfio_info_cap_header msix = {VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, 1, 0};
  size_t msix_at = b.Append(msix);
  sparse.header.next = static_cast<uint32_t>(msix_at);
  b.Put(sparse_at, sparse);

  auto r = ParseRegionInfo(b.span());
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_TRUE(r->sparse_mmap.has_value());
  ASSERT_EQ(r->sparse_mmap->size(), 2u);
  EXPECT_EQ((*r->sparse_mmap)[1].offset, 0x2000u);
  EXPECT_EQ((*r->sparse_mmap)[1].size, 0x2000u);
  EXPECT_TRUE(r->msix_mappable);
  EXPECT_EQ(r->MmapAreas().size(), 2u);
}

TEST(RegionInfoTest, RegionTypeCapability) {
  Buffer b;
  b.Append(RegionHeader(VFIO_REGION_INFO_FLAG_CAPS, sizeof(vfio_region_info)));
  vfio_region_info_cap_type type = {};
  type.header.id = VFIO_REGION_INFO_CAP_TYPE;
  type.type = VFIO_REGION_TYPE_PCI_VENDOR_TYPE | 0x8086;
  type.subtype = 3;
  b.Append(type);
  auto r = ParseRegionInfo(b.span());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r->type, VFIO_REGION_TYPE_PCI_VENDOR_TYPE | 0x8086);
  EXPECT_EQ(*r->subtype, 3u);
  EXPECT_TRUE(r->MmapAreas().empty());  // not mmappable
}

TEST(RegionInfoTest, MalformedChainsAreErrors) {
  {  // `next` points back into the fixed struct.
    Buffer b;
    b.Append(RegionHeader(VFIO_REGION_INFO_FLAG_CAPS, 8));
    b.Append(vfio_info_cap_header{VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, 1, 0});
    EXPECT_THAT(std::string(ParseRegionInfo(b.span()).status().message()),
                HasSubstr("malformed capability chain"));
  }
  {  // A loop.
    Buffer b;
    b.Append(RegionHeader(VFIO_REGION_INFO_FLAG_CAPS, sizeof(vfio_region_info)));
    b.Append(vfio_info_cap_header{VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, 1,
                                  sizeof(vfio_region_info)});
    EXPECT_FALSE(ParseRegionInfo(b.span()).ok());
  }
  {  // Past the end.
    Buffer b;
    b.Append(RegionHeader(VFIO_REGION_INFO_FLAG_CAPS, 4096));
    EXPECT_FALSE(ParseRegionInfo(b.span()).ok());
  }
  {  // More sparse areas than the buffer holds.
    Buffer b;
    b.Append(RegionHeader(VFIO_REGION_INFO_FLAG_CAPS, sizeof(vfio_region_info)));
    vfio_region_info_cap_sparse_mmap sparse = {};
    sparse.header.id = VFIO_REGION_INFO_CAP_SPARSE_MMAP;
    sparse.nr_areas = 3;
    b.Append(sparse);
    b.Append(vfio_region_sparse_mmap_area{0, 0x1000});
    EXPECT_THAT(std::string(ParseRegionInfo(b.span()).status().message()),
                HasSubstr("3 areas do not fit"));
  }
  EXPECT_FALSE(ParseRegionInfo({}).ok());
}

TEST(IommuInfoTest, PageSizesIovaRangesAndDmaAvail) {
  Buffer b;
  vfio_iommu_type1_info info = {};
  info.flags = VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS;
  info.iova_pgsizes = 0x40201000;
  info.cap_offset = sizeof(info);
  size_t info_at = b.Append(info);
  vfio_iommu_type1_info_cap_iova_range ranges = {};
  ranges.header.id = VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE;
  ranges.header.version = 1;
  ranges.nr_iovas = 2;
  size_t ranges_at = b.Append(ranges);
  b.Append(vfio_iova_range{0, 0xfedfffff});
  b.Append(vfio_iova_range{0xfef00000, 0xffffffffffff});
  vfio_iommu_type1_info_dma_avail avail = {};
  avail.header.id = VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL;
  avail.avail = 65535;
  ranges.header.next = static_cast<uint32_t>(b.Append(avail));
  b.Put(ranges_at, ranges);
  (void)info_at;

  auto r = ParseIommuInfo(b.span());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->iova_pgsizes, 0x40201000u);
  EXPECT_EQ(r->min_page_size(), 0x1000u);
  ASSERT_TRUE(r->valid_iovas.has_value());
  ASSERT_EQ(r->valid_iovas->size(), 2u);
  EXPECT_EQ((*r->valid_iovas)[0].end, 0xfedfffffu);
  EXPECT_EQ((*r->valid_iovas)[1].start, 0xfef00000u);
  EXPECT_EQ(*r->dma_avail, 65535u);
}

TEST(IommuInfoTest, OldKernelWithoutCaps) {
  Buffer b;
  vfio_iommu_type1_info info = {};
  info.flags = VFIO_IOMMU_INFO_PGSIZES;
  info.iova_pgsizes = 0x1000;
  b.Append(info);
  auto r = ParseIommuInfo(b.span());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->valid_iovas.has_value());
  EXPECT_FALSE(r->dma_avail.has_value());
  EXPECT_FALSE(ParseIommuInfo(absl::MakeConstSpan(b.span().data(), 8)).ok());
}

}  // namespace
}  // namespace microvm::vfio
