// SPDX-License-Identifier: Apache-2.0
// A device opened through the legacy container/group API
// (VFIO_GROUP_GET_DEVICE_FD): the DeviceBackend the PCI layer uses.
#ifndef MICROVM_DEVICES_VFIO_DEVICE_H_
#define MICROVM_DEVICES_VFIO_DEVICE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"
#include "devices/vfio/device_backend.h"
#include "devices/vfio/info.h"

namespace microvm::vfio {

class Group;

class Device final : public DeviceBackend {
 public:
  // Gets device `name` from `group` and reads its info, every region's
  // info (with capabilities) and every interrupt's info.
  static absl::StatusOr<std::unique_ptr<Device>> Open(
      std::shared_ptr<Group> group, const std::string& name);

  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;
  ~Device() override = default;

  const DeviceInfo& info() const override { return info_; }
  absl::Status ReadRegion(uint32_t region, uint64_t offset,
                          absl::Span<uint8_t> out) const override;
  absl::Status WriteRegion(uint32_t region, uint64_t offset,
                           absl::Span<const uint8_t> data) const override;
  absl::StatusOr<RegionMapping> MapRegion(uint32_t region, uint64_t offset,
                                          uint64_t size) const override;
  absl::Status SetIrqEventFds(uint32_t irq, uint32_t start,
                              absl::Span<const int32_t> fds) const override;
  absl::Status DisableIrq(uint32_t irq) const override;
  absl::Status SetIrqMasked(uint32_t irq, uint32_t vector,
                            bool masked) const override;
  absl::Status SetIrqUnmaskEventFd(uint32_t irq, uint32_t vector,
                                   int32_t fd) const override;
  absl::Status Reset() const override;

  int group_number() const;

 private:
  Device(std::shared_ptr<Group> group, UniqueFd fd, DeviceInfo info);
  // Region `region` exists and [offset, offset+len) lies inside it.
  absl::StatusOr<const RegionInfo*> CheckRange(uint32_t region,
                                               uint64_t offset, uint64_t len,
                                               const char* what) const;
  absl::Status CheckIrq(uint32_t irq, uint32_t start, uint32_t count,
                        const char* what) const;

  // Declared first, destroyed last: the device fd closes before the group
  // can be unset from the container.
  std::shared_ptr<Group> group_;
  UniqueFd fd_;
  DeviceInfo info_;
};

}  // namespace microvm::vfio

#endif  // MICROVM_DEVICES_VFIO_DEVICE_H_
