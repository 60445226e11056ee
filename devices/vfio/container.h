// SPDX-License-Identifier: Apache-2.0
// The legacy VFIO container (/dev/vfio/vfio) with the type1 IOMMU: one per
// VM, shared by every passed-through device and every IOMMU group, holding
// the VM's DMA mappings. (Documentation/driver-api/vfio.rst, "VFIO Usage
// Example"; QEMU hw/vfio/container.c; kvmtool vfio/core.c.)
//
// Ownership makes the teardown order: a Device holds its Group, a Group and
// a DmaMapping hold the Container. So device fds close before their group
// is unset from the container, and the container closes last. Keep
// DmaMappings no longer than the devices: once the last group leaves, the
// kernel drops the IOMMU (and all mappings) by itself.
//
// Not thread-safe: set up and tear down on one thread. Device I/O (region
// read/write, IRQ set-up) on different devices may run concurrently.
#ifndef MICROVM_DEVICES_VFIO_CONTAINER_H_
#define MICROVM_DEVICES_VFIO_CONTAINER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "base/unique_fd.h"
#include "devices/vfio/dma_mapping.h"
#include "devices/vfio/info.h"

namespace microvm::vfio {

class Device;
class Group;

// Where the kernel's files are; tests point these at fake trees.
struct Paths {
  std::string sysfs = "/sys";
  std::string dev = "/dev/vfio";  // holds "vfio" and one node per group
};

// The checks OpenPciDevice starts with, through sysfs alone (no VFIO node is
// opened): the device exists, has an IOMMU group and is bound to vfio-pci.
// The user errors a VMM can report before its guest runs, each one line.
// Returns the IOMMU group's number.
absl::StatusOr<int> CheckPciDevice(const Paths& paths,
                                   absl::string_view pci_address);

class Container : public std::enable_shared_from_this<Container> {
 public:
  // Opens <dev>/vfio, checks the API version and picks the type1 IOMMU
  // (v2 when offered, else v1).
  static absl::StatusOr<std::shared_ptr<Container>> Open(Paths paths = {});

  Container(const Container&) = delete;
  Container& operator=(const Container&) = delete;

  // Opens the PCI device at `pci_address` ("0000:01:00.0"): checks sysfs
  // (exists, has an IOMMU group, bound to vfio-pci), attaches its group to
  // this container (once; a second device of the same group shares it),
  // sets the IOMMU on the first group, then asks the group for the device.
  absl::StatusOr<std::unique_ptr<Device>> OpenPciDevice(
      absl::string_view pci_address);
  // OpenPciDevice's file work alone, ahead of it: CheckPciDevice, then the
  // device's IOMMU group node opened (once per group) and checked viable.
  // OpenPciDevice then opens no file for the device: a VMM prepares before
  // its guest runs, opens the devices while the guest boots, and its
  // sandbox never lets it open a file once the guest runs.
  absl::Status PreparePciDevice(absl::string_view pci_address);

  // VFIO_IOMMU_GET_INFO: page sizes and valid IOVA ranges. Needs an
  // attached group (the IOMMU is set with the first one).
  absl::StatusOr<IommuInfo> GetIommuInfo() const;

  // VFIO_IOMMU_MAP_DMA read|write of [host, host+size) at `iova`; unmapped
  // when the returned owner goes.
  absl::StatusOr<DmaMapping> MapDma(uint64_t iova, void* host, uint64_t size);

  int fd() const { return fd_.get(); }
  uint32_t iommu_type() const { return iommu_type_; }  // VFIO_TYPE1v2_IOMMU..
  const Paths& paths() const { return paths_; }
  // Groups currently attached (alive).
  int attached_groups() const;

 private:
  friend class DmaMapping;
  Container(UniqueFd fd, uint32_t iommu_type, Paths paths);
  absl::StatusOr<std::shared_ptr<Group>> AttachGroup(
      int number, const std::string& address);
  absl::Status UnmapDma(uint64_t iova, uint64_t size) const;

  Paths paths_;
  UniqueFd fd_;
  uint32_t iommu_type_;
  // Weak: a group lives as long as a device of it does.
  std::map<int, std::weak_ptr<Group>> groups_;
  // PreparePciDevice's: device address -> group; group -> its node, until
  // AttachGroup takes it.
  std::map<std::string, int> prepared_;
  std::map<int, UniqueFd> nodes_;
};

}  // namespace microvm::vfio

#endif  // MICROVM_DEVICES_VFIO_CONTAINER_H_
