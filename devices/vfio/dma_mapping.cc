// SPDX-License-Identifier: Apache-2.0
#include "devices/vfio/dma_mapping.h"

#include <utility>

#include "devices/vfio/container.h"

namespace microvm::vfio {

DmaMapping::DmaMapping(std::shared_ptr<const Container> container,
                       uint64_t iova, uint64_t size)
    : container_(std::move(container)), iova_(iova), size_(size) {}

DmaMapping::DmaMapping(DmaMapping&& other) noexcept
    : container_(std::move(other.container_)),
      iova_(std::exchange(other.iova_, 0)),
      size_(std::exchange(other.size_, 0)) {
  other.container_.reset();
}

DmaMapping& DmaMapping::operator=(DmaMapping&& other) noexcept {
  if (this != &other) {
    Reset();
    container_ = std::move(other.container_);
    other.container_.reset();
    iova_ = std::exchange(other.iova_, 0);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

DmaMapping::~DmaMapping() { Reset(); }

void DmaMapping::Reset() {
  if (container_ == nullptr) return;
  // A failure here has no remedy and no harm: it means no group is attached
  // any more, and the kernel unpinned every mapping when the last one left.
  (void)container_->UnmapDma(iova_, size_);
  container_.reset();
}

}  // namespace microvm::vfio
