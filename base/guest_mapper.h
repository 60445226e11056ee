// SPDX-License-Identifier: Apache-2.0
// Lets a device put host memory straight into the guest's physical address
// space (a KVM memslot), so guest accesses there never exit: how vfio-pci
// maps a device BAR's mmap into the guest. Devices never see KVM.
#ifndef MICROVM_BASE_GUEST_MAPPER_H_
#define MICROVM_BASE_GUEST_MAPPER_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"

namespace microvm {

// A live mapping; dropping it removes the memslot.
class GuestMapping {
 public:
  virtual ~GuestMapping() = default;
};

class GuestMapper {
 public:
  virtual ~GuestMapper() = default;
  // Maps [host, host+size) at guest-physical `gpa` (both page-aligned, size a
  // multiple of the page size). Fails if it overlaps guest RAM or another
  // mapping.
  virtual absl::StatusOr<std::unique_ptr<GuestMapping>> Map(uint64_t gpa,
                                                            uint64_t size,
                                                            void* host) = 0;
};

}  // namespace microvm

#endif  // MICROVM_BASE_GUEST_MAPPER_H_
