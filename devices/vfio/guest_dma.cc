// SPDX-License-Identifier: Apache-2.0
#include "devices/vfio/guest_dma.h"

#include "base/status.h"
#include "devices/vfio/iova.h"

namespace microvm::vfio {

absl::StatusOr<GuestDmaMappings> MapGuestMemory(Container& container,
                                                const GuestMemory& memory) {
  MVM_ASSIGN_OR_RETURN(IommuInfo iommu, container.GetIommuInfo());
  for (const MemoryRegion& region : memory.regions()) {
    MVM_RETURN_IF_ERROR(CheckDmaRange(iommu, region.gpa, region.size,
                                      reinterpret_cast<uintptr_t>(region.host)));
  }
  GuestDmaMappings result;
  const absl::Time start = absl::Now();
  for (const MemoryRegion& region : memory.regions()) {
    MVM_ASSIGN_OR_RETURN(DmaMapping mapping,
                         container.MapDma(region.gpa, region.host, region.size));
    result.mappings.push_back(std::move(mapping));
    result.bytes += region.size;
  }
  result.elapsed = absl::Now() - start;
  return result;
}

}  // namespace microvm::vfio
