// SPDX-License-Identifier: Apache-2.0
// PCI INTx lines are level-triggered and shared: several functions may
// drive one IOAPIC input, which is asserted while any of them asserts it
// (wired-OR, PCI Local Bus 3.0 2.2.6). SharedIrqLine does the OR in the
// VMM so the interrupt controller sees one source per GSI.
#ifndef MICROVM_PCI_INTX_H_
#define MICROVM_PCI_INTX_H_

#include <cstdint>
#include <memory>

#include "base/irq.h"

namespace microvm::pci {

class SharedIrqLine {
 public:
  explicit SharedIrqLine(std::unique_ptr<IrqLine> line);

  // A new input of the OR, initially low. Each source may outlive this
  // object (it keeps the shared state alive). Thread-safe.
  std::unique_ptr<IrqLine> NewSource();

  uint32_t gsi() const;

 private:
  struct State;
  class Source;
  std::shared_ptr<State> state_;
};

}  // namespace microvm::pci

#endif  // MICROVM_PCI_INTX_H_
