// SPDX-License-Identifier: Apache-2.0
#include "devices/vfio/iova.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace microvm::vfio {

std::vector<IovaRange> ReservedRanges(absl::Span<const IovaRange> valid) {
  std::vector<IovaRange> sorted(valid.begin(), valid.end());
  std::sort(sorted.begin(), sorted.end(),
            [](const IovaRange& a, const IovaRange& b) { return a.start < b.start; });
  std::vector<IovaRange> gaps;
  uint64_t next = 0;  // first address not yet covered
  bool covered_to_top = false;
  for (const IovaRange& r : sorted) {
    if (r.start > next) gaps.push_back({next, r.start - 1});
    if (r.end == UINT64_MAX) {
      covered_to_top = true;
      break;
    }
    next = std::max(next, r.end + 1);
  }
  if (!covered_to_top) gaps.push_back({next, UINT64_MAX});
  return gaps;
}

std::string FormatRanges(absl::Span<const IovaRange> ranges) {
  if (ranges.empty()) return "none";
  return absl::StrJoin(ranges, ", ", [](std::string* out, const IovaRange& r) {
    absl::StrAppendFormat(out, "%#x-%#x", r.start, r.end);
  });
}

absl::Status CheckDmaRange(const IommuInfo& iommu, uint64_t iova,
                           uint64_t size, uint64_t host) {
  const uint64_t page = iommu.min_page_size();
  if (size == 0 || iova % page != 0 || size % page != 0 || host % page != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "DMA mapping of IOVA %#x size %#x (host %#x) is not aligned to the "
        "IOMMU page size %#x (VFIO iova_pgsizes %#x)",
        iova, size, host, page, iommu.iova_pgsizes));
  }
  if (iova + size - 1 < iova) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "DMA mapping of IOVA %#x size %#x wraps around", iova, size));
  }
  if (!iommu.valid_iovas) return absl::OkStatus();
  const uint64_t last = iova + size - 1;
  for (const IovaRange& r : *iommu.valid_iovas) {
    if (iova >= r.start && last <= r.end) return absl::OkStatus();
  }
  std::vector<IovaRange> hit;
  for (const IovaRange& r : ReservedRanges(*iommu.valid_iovas)) {
    if (iova <= r.end && last >= r.start) hit.push_back(r);
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "guest RAM %#x-%#x cannot be mapped for device DMA: it overlaps IOVA "
      "ranges the host IOMMU reserves (%s); valid IOVA ranges are %s; "
      "shrink or move guest RAM",
      iova, last, FormatRanges(hit), FormatRanges(*iommu.valid_iovas)));
}

}  // namespace microvm::vfio
