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
struct Paths;

class Group {
 public:
  // Opens <dev>/<number> and checks it is viable (naming the group mates
  // that keep it from being so). `address` is the device that led here, for
  // messages.
  static absl::StatusOr<UniqueFd> OpenNode(const Paths& paths, int number,
                                           const std::string& address);
  // Attaches the group to `container`, over `node` from OpenNode (opened
  // now if invalid: a VMM under a sandbox opens its nodes before the guest
  // runs and attaches them later).
  static absl::StatusOr<std::shared_ptr<Group>> Open(
      std::shared_ptr<Container> container, int number,
      const std::string& address, UniqueFd node = UniqueFd());

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
