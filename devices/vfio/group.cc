// SPDX-License-Identifier: Apache-2.0
#include "devices/vfio/group.h"

#include <fcntl.h>

#include <cerrno>

#include "absl/strings/str_format.h"
#include "base/linux_uapi.h"
#include "base/remedies.h"
#include "base/status.h"
#include "devices/vfio/container.h"
#include "devices/vfio/sysfs.h"
#include "devices/vfio/vfio_ioctl.h"

namespace microvm::vfio {
namespace {

absl::Status OpenError(int err, const std::string& node, int number,
                       const std::string& address) {
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(absl::StrFormat(
          "no %s for IOMMU group %d of %s although it is bound to vfio-pci; "
          "is devtmpfs mounted on /dev (or udev running)?",
          node, number, address));
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(absl::StrFormat(
          "permission denied opening %s (IOMMU group %d of %s): %s", node,
          number, address, absl::StrFormat(remedy::kVfioGroupAccess, node)));
    case EBUSY:
      return absl::FailedPreconditionError(absl::StrFormat(
          "%s (IOMMU group %d of %s) is already open, by another process (a "
          "running VM? find it with: fuser -v %s) or another VFIO container "
          "of this one",
          node, number, address, node));
    default:
      return ErrnoError(err, absl::StrFormat("opening %s (IOMMU group %d of %s)",
                                             node, number, address));
  }
}

}  // namespace

Group::Group(std::shared_ptr<Container> container, UniqueFd fd, int number)
    : container_(std::move(container)), fd_(std::move(fd)), number_(number) {}

Group::~Group() {
  // Errors have no remedy here; closing the fd detaches the group anyway.
  (void)VFIO_IOCTL(fd_.get(), VFIO_GROUP_UNSET_CONTAINER, 0);
}

absl::StatusOr<UniqueFd> Group::OpenNode(const Paths& paths, int number,
                                         const std::string& address) {
  const std::string node = absl::StrFormat("%s/%d", paths.dev, number);
  UniqueFd fd(::open(node.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd.valid()) return OpenError(errno, node, number, address);
  vfio_group_status status = {};
  status.argsz = sizeof(status);
  MVM_RETURN_IF_ERROR(
      VFIO_IOCTL(fd.get(), VFIO_GROUP_GET_STATUS, &status).status());
  if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
    auto members = ListGroup(paths.sysfs, number);
    if (!members.ok()) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "IOMMU group %d of %s is not viable: every device in it must be "
          "bound to vfio-pci or pci-stub (%s)",
          number, address, members.status().message()));
    }
    return NonViableGroupError(number, address, *members);
  }
  return fd;
}

absl::StatusOr<std::shared_ptr<Group>> Group::Open(
    std::shared_ptr<Container> container, int number,
    const std::string& address, UniqueFd node) {
  UniqueFd fd = std::move(node);
  if (!fd.valid()) {
    MVM_ASSIGN_OR_RETURN(fd, OpenNode(container->paths(), number, address));
  }
  // Again: a group mate may have left vfio-pci since the node was opened.
  vfio_group_status status = {};
  status.argsz = sizeof(status);
  MVM_RETURN_IF_ERROR(
      VFIO_IOCTL(fd.get(), VFIO_GROUP_GET_STATUS, &status).status());
  if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "IOMMU group %d of %s stopped being viable while microvm started: a "
        "device in it left vfio-pci; %s",
        number, address,
        absl::StrFormat(remedy::kNonViableGroup, address)));
  }
  if (status.flags & VFIO_GROUP_FLAGS_CONTAINER_SET) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "IOMMU group %d of %s is already attached to another container",
        number, address));
  }

  int container_fd = container->fd();
  auto set = VFIO_IOCTL(fd.get(), VFIO_GROUP_SET_CONTAINER, &container_fd);
  if (!set.ok()) {
    return Annotate(set.status(),
                    absl::StrFormat("attaching IOMMU group %d of %s", number,
                                    address));
  }
  return std::shared_ptr<Group>(
      new Group(std::move(container), std::move(fd), number));
}

}  // namespace microvm::vfio
