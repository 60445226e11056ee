// SPDX-License-Identifier: Apache-2.0
// Plain descriptions of a VFIO device (regions, interrupts) and of the type1
// IOMMU, parsed from the buffers the kernel fills, capability chains
// included. Pure logic: tests feed synthetic buffers.
#ifndef MICROVM_DEVICES_VFIO_INFO_H_
#define MICROVM_DEVICES_VFIO_INFO_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace microvm::vfio {

// One entry of VFIO_REGION_INFO_CAP_SPARSE_MMAP: a part of a region that
// may be mmapped (offsets relative to the region).
struct MmapArea {
  uint64_t offset;
  uint64_t size;
};

struct RegionInfo {
  uint32_t index = 0;
  uint32_t flags = 0;   // VFIO_REGION_INFO_FLAG_*
  uint64_t size = 0;
  uint64_t offset = 0;  // of the region within the device fd
  // Present when the kernel sent VFIO_REGION_INFO_CAP_SPARSE_MMAP: only
  // these areas may be mmapped (e.g. around an MSI-X table).
  std::optional<std::vector<MmapArea>> sparse_mmap;
  // VFIO_REGION_INFO_CAP_MSIX_MAPPABLE: the MSI-X table's page may be
  // mmapped too (the host protects the table with interrupt remapping).
  bool msix_mappable = false;
  // VFIO_REGION_INFO_CAP_TYPE: device-specific region type.
  std::optional<uint32_t> type;
  std::optional<uint32_t> subtype;

  bool readable() const;
  bool writable() const;
  bool mmappable() const;
  // The areas that may be mmapped: the sparse list, else the whole region
  // when mmappable, else none.
  std::vector<MmapArea> MmapAreas() const;
};

struct IrqInfo {
  uint32_t index = 0;
  uint32_t flags = 0;  // VFIO_IRQ_INFO_*
  uint32_t count = 0;  // vectors; 0 when the device lacks this interrupt
};

struct DeviceInfo {
  std::string name;     // e.g. "0000:01:00.0"
  uint32_t flags = 0;   // VFIO_DEVICE_FLAGS_*
  std::vector<RegionInfo> regions;  // indexed by region index
  std::vector<IrqInfo> irqs;        // indexed by IRQ index

  bool is_pci() const;
  bool can_reset() const;
};

// A valid IOVA range, inclusive at both ends as the kernel reports it.
struct IovaRange {
  uint64_t start;
  uint64_t end;
};

struct IommuInfo {
  uint64_t iova_pgsizes = 0;  // bitmap of supported page sizes
  // From VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE; absent from old kernels,
  // in which case every IOVA counts as valid.
  std::optional<std::vector<IovaRange>> valid_iovas;
  // From VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL: how many more mappings we may make.
  std::optional<uint32_t> dma_avail;

  // Smallest supported IOMMU page (the alignment of every mapping); 4096
  // when the kernel did not say.
  uint64_t min_page_size() const;
};

// Parses what VFIO_DEVICE_GET_REGION_INFO wrote into `buf` (the whole
// argsz-sized buffer, capabilities after the fixed struct).
absl::StatusOr<RegionInfo> ParseRegionInfo(absl::Span<const uint8_t> buf);

// Parses what VFIO_IOMMU_GET_INFO wrote into `buf`.
absl::StatusOr<IommuInfo> ParseIommuInfo(absl::Span<const uint8_t> buf);

}  // namespace microvm::vfio

#endif  // MICROVM_DEVICES_VFIO_INFO_H_
