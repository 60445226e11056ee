// SPDX-License-Identifier: Apache-2.0
#include "devices/vfio/info.h"

#include <cstring>

#include "absl/strings/str_format.h"
#include "base/linux_uapi.h"

namespace microvm::vfio {
namespace {

template <typename T>
bool ReadAt(absl::Span<const uint8_t> buf, size_t offset, T* out) {
  if (offset > buf.size() || buf.size() - offset < sizeof(T)) return false;
  std::memcpy(out, buf.data() + offset, sizeof(T));
  return true;
}

struct Cap {
  uint16_t id;
  uint16_t version;
  size_t offset;  // of its vfio_info_cap_header within the buffer
};

// Walks a VFIO capability chain (vfio.h "Capability chains"): each header's
// `next` is an offset from the start of the info struct, 0 ends the chain.
// Caps sit after the fixed struct, so an offset below `fixed_size`, past the
// buffer or a chain longer than the buffer could hold is malformed.
absl::StatusOr<std::vector<Cap>> WalkCaps(absl::Span<const uint8_t> buf,
                                          uint32_t first, size_t fixed_size,
                                          const char* what) {
  std::vector<Cap> caps;
  const size_t max_caps = buf.size() / sizeof(vfio_info_cap_header) + 1;
  for (uint32_t next = first; next != 0;) {
    vfio_info_cap_header header;
    if (next < fixed_size || !ReadAt(buf, next, &header) ||
        caps.size() >= max_caps) {
      return absl::DataLossError(absl::StrFormat(
          "%s: malformed capability chain (offset %u, buffer of %u bytes)",
          what, next, buf.size()));
    }
    caps.push_back({header.id, header.version, next});
    next = header.next;
  }
  return caps;
}

absl::StatusOr<std::vector<MmapArea>> ParseSparse(
    absl::Span<const uint8_t> buf, size_t offset) {
  vfio_region_info_cap_sparse_mmap sparse;
  if (!ReadAt(buf, offset, &sparse)) {
    return absl::DataLossError("VFIO sparse mmap capability truncated");
  }
  std::vector<MmapArea> areas;
  size_t at = offset + sizeof(sparse);
  for (uint32_t i = 0; i < sparse.nr_areas; ++i) {
    vfio_region_sparse_mmap_area area;
    if (!ReadAt(buf, at + i * sizeof(area), &area)) {
      return absl::DataLossError(absl::StrFormat(
          "VFIO sparse mmap capability: %u areas do not fit the buffer",
          sparse.nr_areas));
    }
    areas.push_back({area.offset, area.size});
  }
  return areas;
}

absl::StatusOr<std::vector<IovaRange>> ParseIovaRanges(
    absl::Span<const uint8_t> buf, size_t offset) {
  vfio_iommu_type1_info_cap_iova_range cap;
  if (!ReadAt(buf, offset, &cap)) {
    return absl::DataLossError("VFIO IOVA range capability truncated");
  }
  std::vector<IovaRange> ranges;
  size_t at = offset + sizeof(cap);
  for (uint32_t i = 0; i < cap.nr_iovas; ++i) {
    vfio_iova_range range;
    if (!ReadAt(buf, at + i * sizeof(range), &range)) {
      return absl::DataLossError(absl::StrFormat(
          "VFIO IOVA range capability: %u ranges do not fit the buffer",
          cap.nr_iovas));
    }
    ranges.push_back({range.start, range.end});
  }
  return ranges;
}

}  // namespace

bool RegionInfo::readable() const {
  return flags & VFIO_REGION_INFO_FLAG_READ;
}
bool RegionInfo::writable() const {
  return flags & VFIO_REGION_INFO_FLAG_WRITE;
}
bool RegionInfo::mmappable() const {
  return flags & VFIO_REGION_INFO_FLAG_MMAP;
}

std::vector<MmapArea> RegionInfo::MmapAreas() const {
  if (!mmappable()) return {};
  if (sparse_mmap) return *sparse_mmap;
  return {{0, size}};
}

bool DeviceInfo::is_pci() const { return flags & VFIO_DEVICE_FLAGS_PCI; }
bool DeviceInfo::can_reset() const { return flags & VFIO_DEVICE_FLAGS_RESET; }

uint64_t IommuInfo::min_page_size() const {
  if (iova_pgsizes == 0) return 4096;
  return iova_pgsizes & -iova_pgsizes;
}

absl::StatusOr<RegionInfo> ParseRegionInfo(absl::Span<const uint8_t> buf) {
  vfio_region_info raw;
  if (!ReadAt(buf, 0, &raw)) {
    return absl::DataLossError("VFIO region info shorter than its header");
  }
  RegionInfo info;
  info.index = raw.index;
  info.flags = raw.flags;
  info.size = raw.size;
  info.offset = raw.offset;
  if (!(raw.flags & VFIO_REGION_INFO_FLAG_CAPS)) return info;

  auto caps = WalkCaps(buf, raw.cap_offset, sizeof(raw), "VFIO region info");
  if (!caps.ok()) return caps.status();
  for (const Cap& cap : *caps) {
    switch (cap.id) {
      case VFIO_REGION_INFO_CAP_SPARSE_MMAP: {
        auto areas = ParseSparse(buf, cap.offset);
        if (!areas.ok()) return areas.status();
        info.sparse_mmap = std::move(*areas);
        break;
      }
      case VFIO_REGION_INFO_CAP_MSIX_MAPPABLE:
        info.msix_mappable = true;
        break;
      case VFIO_REGION_INFO_CAP_TYPE: {
        vfio_region_info_cap_type type;
        if (!ReadAt(buf, cap.offset, &type)) {
          return absl::DataLossError("VFIO region type capability truncated");
        }
        info.type = type.type;
        info.subtype = type.subtype;
        break;
      }
      default:  // Capabilities we do not use (e.g. NVLink2) are skipped.
        break;
    }
  }
  return info;
}

absl::StatusOr<IommuInfo> ParseIommuInfo(absl::Span<const uint8_t> buf) {
  vfio_iommu_type1_info raw;
  // The kernel's minimum is up to iova_pgsizes; cap_offset came later.
  constexpr size_t kMin = offsetof(vfio_iommu_type1_info, cap_offset);
  if (buf.size() < kMin) {
    return absl::DataLossError("VFIO IOMMU info shorter than its header");
  }
  std::memset(&raw, 0, sizeof(raw));
  std::memcpy(&raw, buf.data(), std::min(buf.size(), sizeof(raw)));
  IommuInfo info;
  if (raw.flags & VFIO_IOMMU_INFO_PGSIZES) info.iova_pgsizes = raw.iova_pgsizes;
  if (!(raw.flags & VFIO_IOMMU_INFO_CAPS) || raw.cap_offset == 0) return info;

  auto caps = WalkCaps(buf, raw.cap_offset, kMin, "VFIO IOMMU info");
  if (!caps.ok()) return caps.status();
  for (const Cap& cap : *caps) {
    if (cap.id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
      auto ranges = ParseIovaRanges(buf, cap.offset);
      if (!ranges.ok()) return ranges.status();
      info.valid_iovas = std::move(*ranges);
    } else if (cap.id == VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL) {
      vfio_iommu_type1_info_dma_avail avail;
      if (!ReadAt(buf, cap.offset, &avail)) {
        return absl::DataLossError("VFIO DMA avail capability truncated");
      }
      info.dma_avail = avail.avail;
    }
  }
  return info;
}

}  // namespace microvm::vfio
