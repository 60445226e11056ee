// SPDX-License-Identifier: Apache-2.0
// The gate between a guest's Bus Master Enable and a passed-through
// function, for the PCI layer (DmaMapper, dma_mapper.h, implements it).
#ifndef MICROVM_DEVICES_VFIO_DMA_GATE_H_
#define MICROVM_DEVICES_VFIO_DMA_GATE_H_

namespace microvm::vfio {

// What a passed-through device asks before the guest's Bus Master Enable
// may reach the function.
class DmaGate {
 public:
  virtual ~DmaGate() = default;
  // All of guest RAM is mapped: the device may DMA.
  virtual bool open() const = 0;
  // Blocks until open() or until it never will be (mapping failed, or the
  // VM is ending and closed the gate); returns open(). Call it without
  // holding locks that other threads of the VM need.
  virtual bool Wait() = 0;
};

}  // namespace microvm::vfio

#endif  // MICROVM_DEVICES_VFIO_DMA_GATE_H_
