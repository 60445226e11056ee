// SPDX-License-Identifier: Apache-2.0
// Move-only owner of one VFIO_IOMMU_MAP_DMA mapping: device DMA to
// [iova, iova+size) reaches the host memory given at creation until the
// owner goes (VFIO_IOMMU_UNMAP_DMA).
#ifndef MICROVM_DEVICES_VFIO_DMA_MAPPING_H_
#define MICROVM_DEVICES_VFIO_DMA_MAPPING_H_

#include <cstdint>
#include <memory>

namespace microvm::vfio {

class Container;

class DmaMapping {
 public:
  DmaMapping() = default;
  DmaMapping(DmaMapping&& other) noexcept;
  DmaMapping& operator=(DmaMapping&& other) noexcept;
  DmaMapping(const DmaMapping&) = delete;
  DmaMapping& operator=(const DmaMapping&) = delete;
  ~DmaMapping();

  uint64_t iova() const { return iova_; }
  uint64_t size() const { return size_; }
  bool valid() const { return container_ != nullptr; }

 private:
  friend class Container;
  DmaMapping(std::shared_ptr<const Container> container, uint64_t iova,
             uint64_t size);
  void Reset();

  std::shared_ptr<const Container> container_;
  uint64_t iova_ = 0;
  uint64_t size_ = 0;
};

}  // namespace microvm::vfio

#endif  // MICROVM_DEVICES_VFIO_DMA_MAPPING_H_
