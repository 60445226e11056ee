// SPDX-License-Identifier: Apache-2.0
#include "devices/vfio/region_mapping.h"

#include <sys/mman.h>

#include <utility>

#include "absl/strings/str_format.h"
#include "base/status.h"

namespace microvm::vfio {

absl::StatusOr<RegionMapping> RegionMapping::Create(int fd, off_t file_offset,
                                                    size_t size, int prot) {
  void* p = ::mmap(nullptr, size, prot, MAP_SHARED, fd, file_offset);
  if (p == MAP_FAILED) {
    return LastErrnoError(absl::StrFormat(
        "mmap of %#x bytes of VFIO device fd at offset %#x", size,
        static_cast<uint64_t>(file_offset)));
  }
  return RegionMapping(static_cast<uint8_t*>(p), size);
}

RegionMapping::RegionMapping(RegionMapping&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

RegionMapping& RegionMapping::operator=(RegionMapping&& other) noexcept {
  if (this != &other) {
    Reset();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

RegionMapping::~RegionMapping() { Reset(); }

void RegionMapping::Reset() {
  if (data_ != nullptr) ::munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace microvm::vfio
