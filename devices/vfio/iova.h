// SPDX-License-Identifier: Apache-2.0
// Checks a planned DMA mapping against what the IOMMU accepts: page-size
// alignment (VFIO_IOMMU_GET_INFO iova_pgsizes) and the valid IOVA ranges
// (VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE; the holes are reserved regions such
// as the x86 MSI window 0xfee00000-0xfeefffff). Pure logic.
#ifndef MICROVM_DEVICES_VFIO_IOVA_H_
#define MICROVM_DEVICES_VFIO_IOVA_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "devices/vfio/info.h"

namespace microvm::vfio {

// The gaps between valid ranges (inclusive ends), i.e. what the host
// reserves, for error messages.
std::vector<IovaRange> ReservedRanges(absl::Span<const IovaRange> valid);

// "0xfee00000-0xfeefffff, ..." (inclusive ends).
std::string FormatRanges(absl::Span<const IovaRange> ranges);

// OK when [iova, iova+size) lies inside one valid range and iova, size and
// host are aligned to the smallest IOMMU page; otherwise InvalidArgument
// naming the range, the valid and reserved ranges.
absl::Status CheckDmaRange(const IommuInfo& iommu, uint64_t iova,
                           uint64_t size, uint64_t host);

}  // namespace microvm::vfio

#endif  // MICROVM_DEVICES_VFIO_IOVA_H_
