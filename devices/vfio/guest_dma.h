// SPDX-License-Identifier: Apache-2.0
// Makes all of guest RAM reachable by passed-through devices: IOVA equals
// guest-physical address, so a guest driver programs its device with the
// addresses it knows.
#ifndef MICROVM_DEVICES_VFIO_GUEST_DMA_H_
#define MICROVM_DEVICES_VFIO_GUEST_DMA_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "devices/vfio/container.h"
#include "devices/vfio/dma_mapping.h"
#include "memory/guest_memory.h"

namespace microvm::vfio {

struct GuestDmaMappings {
  std::vector<DmaMapping> mappings;  // one per guest RAM region
  uint64_t bytes = 0;
  absl::Duration elapsed;  // the MAP_DMA calls (pinning) alone
};

// Checks every region of `memory` against the IOMMU (alignment, valid IOVA
// ranges) first, then maps each one read|write at IOVA = GPA. All or
// nothing: on error, the regions already mapped are unmapped again.
absl::StatusOr<GuestDmaMappings> MapGuestMemory(Container& container,
                                                const GuestMemory& memory);

}  // namespace microvm::vfio

#endif  // MICROVM_DEVICES_VFIO_GUEST_DMA_H_
