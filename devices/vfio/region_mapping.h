// SPDX-License-Identifier: Apache-2.0
// Move-only owner of an mmap of (part of) a VFIO device region; munmaps in
// its destructor.
#ifndef MICROVM_DEVICES_VFIO_REGION_MAPPING_H_
#define MICROVM_DEVICES_VFIO_REGION_MAPPING_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"

namespace microvm::vfio {

class RegionMapping {
 public:
  // mmap(MAP_SHARED) of `size` bytes of `fd` at `file_offset` with `prot`.
  static absl::StatusOr<RegionMapping> Create(int fd, off_t file_offset,
                                              size_t size, int prot);

  RegionMapping() = default;
  RegionMapping(RegionMapping&& other) noexcept;
  RegionMapping& operator=(RegionMapping&& other) noexcept;
  RegionMapping(const RegionMapping&) = delete;
  RegionMapping& operator=(const RegionMapping&) = delete;
  ~RegionMapping();

  uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  RegionMapping(uint8_t* data, size_t size) : data_(data), size_(size) {}
  void Reset();

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace microvm::vfio

#endif  // MICROVM_DEVICES_VFIO_REGION_MAPPING_H_
