// SPDX-License-Identifier: Apache-2.0
// Builds the variable-length argument of VFIO_DEVICE_SET_IRQS (vfio.h:
// struct vfio_irq_set followed by `count` data items). Pure logic.
#ifndef MICROVM_DEVICES_VFIO_IRQ_SET_H_
#define MICROVM_DEVICES_VFIO_IRQ_SET_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "base/linux_uapi.h"

namespace microvm::vfio {

class IrqSet {
 public:
  // DATA_EVENTFD | `action`: one fd per vector from `start`; -1 removes the
  // eventfd of that vector.
  static IrqSet EventFds(uint32_t action, uint32_t index, uint32_t start,
                         absl::Span<const int32_t> fds);
  // DATA_NONE | `action` for `count` vectors from `start`. TRIGGER with
  // count 0 disables the whole interrupt index.
  static IrqSet None(uint32_t action, uint32_t index, uint32_t start,
                     uint32_t count);

  vfio_irq_set* get() { return reinterpret_cast<vfio_irq_set*>(words_.data()); }
  const vfio_irq_set* get() const {
    return reinterpret_cast<const vfio_irq_set*>(words_.data());
  }
  // The eventfd data items (after the header).
  absl::Span<const int32_t> fds() const;

 private:
  IrqSet(uint32_t flags, uint32_t index, uint32_t start, uint32_t count,
         size_t data_bytes);
  std::vector<uint64_t> words_;  // 8-byte aligned storage
};

}  // namespace microvm::vfio

#endif  // MICROVM_DEVICES_VFIO_IRQ_SET_H_
