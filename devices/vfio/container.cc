// SPDX-License-Identifier: Apache-2.0
#include "devices/vfio/container.h"

#include <fcntl.h>

#include <cerrno>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/linux_uapi.h"
#include "base/remedies.h"
#include "base/status.h"
#include "devices/vfio/device.h"
#include "devices/vfio/group.h"
#include "devices/vfio/sysfs.h"
#include "devices/vfio/vfio_ioctl.h"

namespace microvm::vfio {
namespace {

absl::Status OpenContainerError(int err, const std::string& node) {
  switch (err) {
    case ENOENT:
    case ENODEV:
    case ENXIO:
      return absl::NotFoundError(absl::StrFormat(
          "no %s: the host kernel's VFIO is not loaded; run modprobe "
          "vfio-pci (kernel needs CONFIG_VFIO and CONFIG_VFIO_PCI)",
          node));
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(absl::StrFormat(
          "permission denied opening %s: run as root or give your user "
          "access to it (chmod or a udev rule)",
          node));
    default:
      return ErrnoError(err, absl::StrFormat("opening %s", node));
  }
}

}  // namespace

Container::Container(UniqueFd fd, uint32_t iommu_type, Paths paths)
    : paths_(std::move(paths)), fd_(std::move(fd)), iommu_type_(iommu_type) {}

absl::StatusOr<std::shared_ptr<Container>> Container::Open(Paths paths) {
  const std::string node = paths.dev + "/vfio";
  UniqueFd fd(::open(node.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return OpenContainerError(errno, node);

  MVM_ASSIGN_OR_RETURN(int version,
                       VFIO_IOCTL(fd.get(), VFIO_GET_API_VERSION, 0));
  if (version != VFIO_API_VERSION) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s speaks VFIO API version %d; microvm needs %d", node, version,
        VFIO_API_VERSION));
  }
  // Type1 v2 (unmap semantics without splitting) when offered; v1 is what
  // kernels before 3.18 had.
  uint32_t type = 0;
  for (uint32_t candidate : {VFIO_TYPE1v2_IOMMU, VFIO_TYPE1_IOMMU}) {
    MVM_ASSIGN_OR_RETURN(
        int has, VFIO_IOCTL(fd.get(), VFIO_CHECK_EXTENSION, candidate));
    if (has > 0) {
      type = candidate;
      break;
    }
  }
  if (type == 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s offers no type1 IOMMU backend; run modprobe vfio_iommu_type1",
        node));
  }
  return std::shared_ptr<Container>(
      new Container(std::move(fd), type, std::move(paths)));
}

int Container::attached_groups() const {
  int n = 0;
  for (const auto& [number, group] : groups_) n += !group.expired();
  return n;
}

absl::StatusOr<std::shared_ptr<Group>> Container::AttachGroup(
    int number, const std::string& address) {
  auto it = groups_.find(number);
  if (it != groups_.end()) {
    if (std::shared_ptr<Group> group = it->second.lock()) return group;
  }
  // The IOMMU model is chosen once the container holds a group, and the
  // kernel drops it when the last group leaves (vfio.rst).
  const bool first = attached_groups() == 0;
  UniqueFd node;
  if (auto n = nodes_.find(number); n != nodes_.end()) {
    node = std::move(n->second);
    nodes_.erase(n);
  }
  MVM_ASSIGN_OR_RETURN(
      std::shared_ptr<Group> group,
      Group::Open(shared_from_this(), number, address, std::move(node)));
  if (first) {
    auto set = VFIO_IOCTL(fd_.get(), VFIO_SET_IOMMU, iommu_type_);
    if (!set.ok()) {
      return Annotate(set.status(),
                      absl::StrFormat("setting the type1 IOMMU for group %d "
                                      "of %s",
                                      number, address));
    }
  }
  groups_[number] = group;
  return group;
}

absl::StatusOr<int> CheckPciDevice(const Paths& paths,
                                   absl::string_view pci_address) {
  MVM_ASSIGN_OR_RETURN(std::string address, NormalizePciAddress(pci_address));
  MVM_ASSIGN_OR_RETURN(int number, IommuGroupOf(paths.sysfs, address));
  MVM_RETURN_IF_ERROR(CheckBoundToVfioPci(paths.sysfs, address));
  return number;
}

absl::Status Container::PreparePciDevice(absl::string_view pci_address) {
  MVM_ASSIGN_OR_RETURN(std::string address, NormalizePciAddress(pci_address));
  MVM_ASSIGN_OR_RETURN(int number, CheckPciDevice(paths_, address));
  const bool attached = groups_.count(number) != 0 &&
                        !groups_.at(number).expired();
  if (!attached && nodes_.count(number) == 0) {
    MVM_ASSIGN_OR_RETURN(nodes_[number],
                         Group::OpenNode(paths_, number, address));
  }
  prepared_[address] = number;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Device>> Container::OpenPciDevice(
    absl::string_view pci_address) {
  MVM_ASSIGN_OR_RETURN(std::string address, NormalizePciAddress(pci_address));
  int number = 0;
  if (auto it = prepared_.find(address); it != prepared_.end()) {
    number = it->second;
  } else {
    MVM_ASSIGN_OR_RETURN(number, CheckPciDevice(paths_, address));
  }
  MVM_ASSIGN_OR_RETURN(std::shared_ptr<Group> group,
                       AttachGroup(number, address));
  return Device::Open(std::move(group), address);
}

absl::StatusOr<IommuInfo> Container::GetIommuInfo() const {
  if (attached_groups() == 0) {
    return absl::FailedPreconditionError(
        "VFIO IOMMU info asked before any device was opened (the IOMMU is "
        "set with the first group)");
  }
  // Ask once for the size, then again with room for the capabilities.
  std::vector<uint64_t> words(sizeof(vfio_iommu_type1_info) / 8 + 1, 0);
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto* info = reinterpret_cast<vfio_iommu_type1_info*>(words.data());
    const uint32_t argsz = static_cast<uint32_t>(words.size() * 8);
    info->argsz = argsz;
    MVM_RETURN_IF_ERROR(
        VFIO_IOCTL(fd_.get(), VFIO_IOMMU_GET_INFO, info).status());
    if (info->argsz <= argsz) {
      return ParseIommuInfo(absl::MakeConstSpan(
          reinterpret_cast<const uint8_t*>(words.data()), argsz));
    }
    const uint32_t needed = info->argsz;
    words.assign((needed + 7) / 8, 0);
  }
  return absl::InternalError("VFIO_IOMMU_GET_INFO kept asking for more room");
}

absl::StatusOr<DmaMapping> Container::MapDma(uint64_t iova, void* host,
                                             uint64_t size) {
  vfio_iommu_type1_dma_map map = {};
  map.argsz = sizeof(map);
  map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
  map.vaddr = reinterpret_cast<uintptr_t>(host);
  map.iova = iova;
  map.size = size;
  auto r = VFIO_IOCTL(fd_.get(), VFIO_IOMMU_MAP_DMA, &map);
  if (!r.ok()) {
    std::string hint;
    if (ErrnoOf(r.status()) == ENOMEM) {
      // Pinning counts against RLIMIT_MEMLOCK.
      hint = absl::StrCat("; ", remedy::kMemlock);
    } else if (ErrnoOf(r.status()) == ENOSPC) {
      // The type1 IOMMU's cap on mappings per container (65535 by default).
      hint =
          "; the IOMMU driver's mapping limit is reached: raise "
          "/sys/module/vfio_iommu_type1/parameters/dma_entry_limit";
    }
    return Reworded(
        r.status(),
        absl::StrFormat("mapping IOVA %#x-%#x for device DMA: %s%s", iova,
                        iova + size - 1, r.status().message(), hint));
  }
  return DmaMapping(shared_from_this(), iova, size);
}

absl::Status Container::UnmapDma(uint64_t iova, uint64_t size) const {
  vfio_iommu_type1_dma_unmap unmap = {};
  unmap.argsz = sizeof(unmap);
  unmap.iova = iova;
  unmap.size = size;
  return VFIO_IOCTL(fd_.get(), VFIO_IOMMU_UNMAP_DMA, &unmap).status();
}

}  // namespace microvm::vfio
