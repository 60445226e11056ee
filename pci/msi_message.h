// SPDX-License-Identifier: Apache-2.0
// What MSI and MSI-X emulation report to the device that owns the vectors.
// Both capability models are pure state machines: a guest write goes in, a
// list of MsiActions comes out, and the device applies them to its
// MsiVectors (base/irq.h) or, for vfio-pci, to the host device's vectors.
#ifndef MICROVM_PCI_MSI_MESSAGE_H_
#define MICROVM_PCI_MSI_MESSAGE_H_

#include <cstdint>
#include <vector>

namespace microvm::pci {

// The message a vector writes (address/data as the guest programmed them).
struct MsiMessage {
  uint64_t address = 0;
  uint32_t data = 0;
  bool operator==(const MsiMessage&) const = default;
};

// Actions come in the order they must be applied. A vector "delivers" when
// its capability is enabled and neither the vector nor (MSI-X) the function
// is masked; kUnmask/kMask mark the edges of that state.
struct MsiAction {
  enum class Type : uint8_t {
    // The capability was enabled. `vector` = number of vectors now usable
    // (MSI: 1 << Multiple Message Enable; MSI-X: the table size). Comes
    // before any kUnmask for the new vectors.
    kEnable,
    // The capability was disabled. Every vector that delivered got a kMask
    // before this.
    kDisable,
    // Vector `vector` starts delivering `message`. If `pending` is set, an
    // interrupt was held back while it was masked (its pending bit has been
    // cleared): deliver it once now.
    kUnmask,
    // Vector `vector` stops delivering; later events only set its pending
    // bit (the device calls Fire(), which tells it not to deliver).
    kMask,
    // A delivering vector's message changed to `message`.
    kRoute,
    // MSI-X Function Mask set / cleared. Informational: the per-vector
    // kMask/kUnmask that follow from it are reported too.
    kFunctionMask,
    kFunctionUnmask,
  };
  Type type;
  uint32_t vector = 0;
  MsiMessage message;
  bool pending = false;
  bool operator==(const MsiAction&) const = default;
};

using MsiActions = std::vector<MsiAction>;

}  // namespace microvm::pci

#endif  // MICROVM_PCI_MSI_MESSAGE_H_
