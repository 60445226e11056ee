// SPDX-License-Identifier: Apache-2.0
#include "devices/vfio/irq_set.h"

#include <cstring>

namespace microvm::vfio {

IrqSet::IrqSet(uint32_t flags, uint32_t index, uint32_t start, uint32_t count,
               size_t data_bytes) {
  size_t bytes = sizeof(vfio_irq_set) + data_bytes;
  words_.assign((bytes + 7) / 8, 0);
  vfio_irq_set* set = get();
  set->argsz = static_cast<uint32_t>(bytes);
  set->flags = flags;
  set->index = index;
  set->start = start;
  set->count = count;
}

IrqSet IrqSet::EventFds(uint32_t action, uint32_t index, uint32_t start,
                        absl::Span<const int32_t> fds) {
  IrqSet set(VFIO_IRQ_SET_DATA_EVENTFD | action, index, start,
             static_cast<uint32_t>(fds.size()), fds.size() * sizeof(int32_t));
  if (!fds.empty()) {
    std::memcpy(set.get()->data, fds.data(), fds.size() * sizeof(int32_t));
  }
  return set;
}

IrqSet IrqSet::None(uint32_t action, uint32_t index, uint32_t start,
                    uint32_t count) {
  return IrqSet(VFIO_IRQ_SET_DATA_NONE | action, index, start, count, 0);
}

absl::Span<const int32_t> IrqSet::fds() const {
  const vfio_irq_set* set = get();
  if (!(set->flags & VFIO_IRQ_SET_DATA_EVENTFD)) return {};
  return absl::MakeConstSpan(reinterpret_cast<const int32_t*>(set->data),
                             set->count);
}

}  // namespace microvm::vfio
