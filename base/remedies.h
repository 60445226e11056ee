// SPDX-License-Identifier: Apache-2.0
// What to do, for the host set-up failures a user meets first. microvm's
// error messages end with these, and README.md's "Pass through a device of
// your own" quotes them (tests/docs/guide_test checks that it does), so the
// message and the guide cannot drift apart: change one here and the guide
// test fails until the README says the same.
#ifndef MICROVM_BASE_REMEDIES_H_
#define MICROVM_BASE_REMEDIES_H_

namespace microvm::remedy {

// A PCI device without an IOMMU group (README step 1).
inline constexpr char kIommuOff[] =
    "enable VT-d (Intel) or AMD-Vi / IOMMU (AMD) in the firmware, and on "
    "Intel boot the host with intel_iommu=on";

// /dev/kvm not accessible (README step 5).
inline constexpr char kKvmAccess[] =
    "add yourself to the kvm group: usermod -aG kvm $USER, then log in again";

// /dev/vfio/N not accessible; %s is the node (README step 5).
inline constexpr char kVfioGroupAccess[] =
    "run as root or give your user the node (chown $USER %s)";

// VFIO_IOMMU_MAP_DMA out of locked memory (README step 5).
inline constexpr char kMemlock[] =
    "raise the locked-memory limit (ulimit -l, or LimitMEMLOCK= in systemd) "
    "to at least the guest RAM size";

// --hugepages without enough reserved (README step 6).
inline constexpr char kHugepages[] =
    "reserve them with: echo N > /proc/sys/vm/nr_hugepages";

// A group with a member held by another driver; %s is the device (README
// step 3).
inline constexpr char kNonViableGroup[] =
    "rebind those devices to vfio-pci too, or move %s to another slot";

}  // namespace microvm::remedy

#endif  // MICROVM_BASE_REMEDIES_H_
