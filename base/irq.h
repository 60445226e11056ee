// How devices raise interrupts without knowing KVM. The VMM hands each device
// an IrqLine bound to a GSI (an IOAPIC pin for ISA and PCI INTx).
#ifndef MICROVM_BASE_IRQ_H_
#define MICROVM_BASE_IRQ_H_

#include <cstdint>

namespace microvm {

class IrqLine {
 public:
  virtual ~IrqLine() = default;
  // Drives the line. For an edge-triggered pin, a low-to-high transition
  // delivers one interrupt; for a level-triggered pin, the interrupt stays
  // asserted while high.
  virtual void Set(bool high) = 0;
  virtual uint32_t gsi() const = 0;
};

}  // namespace microvm

#endif  // MICROVM_BASE_IRQ_H_
