// SPDX-License-Identifier: Apache-2.0
// What sysfs says about a PCI device before VFIO is asked: does it exist,
// which IOMMU group holds it, which driver owns it and its group mates.
// The sysfs root is a parameter so tests run on a fake tree. Every error a
// user can cause is one line saying what to do.
#ifndef MICROVM_DEVICES_VFIO_SYSFS_H_
#define MICROVM_DEVICES_VFIO_SYSFS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace microvm::vfio {

// "0000:01:00.0" (domain:bus:device.function, as `lspci -D` prints it).
// Accepts the short "01:00.0" (domain 0) and upper case; returns the
// canonical lower-case form, or InvalidArgument.
absl::StatusOr<std::string> NormalizePciAddress(absl::string_view address);

// Driver that owns the device at `address`: the last path element of its
// `driver` symlink, "" when none. NotFound when the device does not exist.
absl::StatusOr<std::string> BoundDriver(const std::string& sysfs_root,
                                        const std::string& address);

// Number of the IOMMU group holding `address` (its `iommu_group` symlink).
// NotFound: no such device (check lspci -D); FailedPrecondition: no group
// (the IOMMU is off).
absl::StatusOr<int> IommuGroupOf(const std::string& sysfs_root,
                                 const std::string& address);

// The device's Interrupt Pin register (config offset 0x3d: 0 none, 1-4
// INTA-INTD) from its sysfs `config` file, which anyone may read.
absl::StatusOr<uint8_t> InterruptPinOf(const std::string& sysfs_root,
                                       const std::string& address);

// OK when `address` is bound to vfio-pci, else FailedPrecondition naming its
// driver and the commands that rebind it.
absl::Status CheckBoundToVfioPci(const std::string& sysfs_root,
                                 const std::string& address);

struct GroupMember {
  std::string address;
  std::string driver;   // "" when unbound
  uint32_t class_code;  // 24-bit class code from `class`; 0 if unreadable
};

// The devices of IOMMU group `group` (/sys/kernel/iommu_groups/N/devices),
// sorted by address.
absl::StatusOr<std::vector<GroupMember>> ListGroup(
    const std::string& sysfs_root, int group);

// Whether a group mate leaves the group viable for VFIO: unbound, bound to a
// VFIO driver, to pci-stub, or a bridge run by pcieport (drivers that do not
// claim the device's DMA; Documentation/driver-api/vfio.rst, "Group
// viability").
bool MemberAllowsViability(const GroupMember& member);

// The one-line error for a group the kernel reports as not viable, listing
// the members that keep it so and what to do.
absl::Status NonViableGroupError(int group, const std::string& address,
                                 absl::Span<const GroupMember> members);

}  // namespace microvm::vfio

#endif  // MICROVM_DEVICES_VFIO_SYSFS_H_
