// SPDX-License-Identifier: Apache-2.0
// One IOMMU group (/dev/vfio/N) attached to a Container. Created by the
// Container; shared by the devices of the group. Its destructor detaches
// it (VFIO_GROUP_UNSET_CONTAINER) before closing, and it keeps the
// container open until then.
#ifndef MICROVM_DEVICES_VFIO_GROUP_H_
#define MICROVM_DEVICES_VFIO_GROUP_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "base/unique_fd.h"

namespace microvm::vfio {

class Container;

class Group {
 public:
  // Opens <dev>/<number>, checks it is viable (naming the group mates that
  // keep it from being so) and attaches it to `container`. `address` is
  // the device that led here, for messages.
  static absl::StatusOr<std::shared_ptr<Group>> Open(
      std::shared_ptr<Container> container, int number,
      const std::string& address);

  Group(const Group&) = delete;
  Group& operator=(const Group&) = delete;
  ~Group();

  int number() const { return number_; }
  int fd() const { return fd_.get(); }

 private:
  Group(std::shared_ptr<Container> container, UniqueFd fd, int number);

  // Declared first, destroyed last: the container outlives the unset.
  std::shared_ptr<Container> container_;
  UniqueFd fd_;
  int number_;
};

}  // namespace microvm::vfio

#endif  // MICROVM_DEVICES_VFIO_GROUP_H_
