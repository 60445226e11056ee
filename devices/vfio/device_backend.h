// SPDX-License-Identifier: Apache-2.0
// The interface between the two VFIO layers (STYLE.md pattern 8): what the
// PCI-device layer needs from a passed-through device. The legacy
// container/group API implements it (devices/vfio/device.h); iommufd or
// vfio-user can later, without the PCI layer changing.
//
// Region and IRQ indexes are VFIO's (vfio.h VFIO_PCI_BAR0_REGION_INDEX ...,
// VFIO_PCI_INTX_IRQ_INDEX ...).
#ifndef MICROVM_DEVICES_VFIO_DEVICE_BACKEND_H_
#define MICROVM_DEVICES_VFIO_DEVICE_BACKEND_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "devices/vfio/info.h"
#include "devices/vfio/region_mapping.h"

namespace microvm::vfio {

class DeviceBackend {
 public:
  virtual ~DeviceBackend() = default;

  // Regions, interrupts and flags, read once when the device was opened.
  virtual const DeviceInfo& info() const = 0;

  // Full transfers at `offset` within region `region`, or an error naming
  // the region and range.
  virtual absl::Status ReadRegion(uint32_t region, uint64_t offset,
                                  absl::Span<uint8_t> out) const = 0;
  virtual absl::Status WriteRegion(uint32_t region, uint64_t offset,
                                   absl::Span<const uint8_t> data) const = 0;

  // Maps [offset, offset+size) of the region, which must lie inside one of
  // info().regions[region].MmapAreas() and be page aligned.
  virtual absl::StatusOr<RegionMapping> MapRegion(uint32_t region,
                                                  uint64_t offset,
                                                  uint64_t size) const = 0;

  // Trigger eventfds for vectors [start, start+fds.size()) of `irq`;
  // an fd of -1 removes that vector's eventfd.
  virtual absl::Status SetIrqEventFds(uint32_t irq, uint32_t start,
                                      absl::Span<const int32_t> fds) const = 0;
  // Turns the whole interrupt index off (e.g. MSI back to INTx).
  virtual absl::Status DisableIrq(uint32_t irq) const = 0;
  // Masks or unmasks one vector (INTx: the only vector, 0).
  virtual absl::Status SetIrqMasked(uint32_t irq, uint32_t vector,
                                    bool masked) const = 0;
  // A write to `fd` unmasks the vector in the kernel (the INTx resample
  // path: KVM's irqfd resampler signals it on EOI). -1 removes it.
  virtual absl::Status SetIrqUnmaskEventFd(uint32_t irq, uint32_t vector,
                                           int32_t fd) const = 0;

  // Function-level (or other) reset; FailedPrecondition if the device
  // cannot reset.
  virtual absl::Status Reset() const = 0;
};

}  // namespace microvm::vfio

#endif  // MICROVM_DEVICES_VFIO_DEVICE_BACKEND_H_
