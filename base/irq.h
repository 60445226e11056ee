// SPDX-License-Identifier: Apache-2.0
// How devices raise interrupts without knowing KVM. The VMM hands each device
// an IrqLine bound to a GSI (an IOAPIC pin for ISA and PCI INTx).
#ifndef MICROVM_BASE_IRQ_H_
#define MICROVM_BASE_IRQ_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

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

// One message-signalled interrupt (an MSI vector or MSI-X table entry) with a
// route in the VMM's interrupt controller. Devices never see KVM: they set the
// message the guest programmed and either trigger it themselves (emulated
// devices) or hand trigger_fd() to a kernel producer (VFIO), in which case
// interrupts go from the device to the guest without the VMM.
class MsiVector {
 public:
  virtual ~MsiVector() = default;
  // Points the route at the guest's message (address/data as programmed in
  // the capability or table). A masked vector keeps its route but does not
  // deliver: triggers are dropped by the caller's choice (PBA bookkeeping
  // lives in the device model).
  virtual absl::Status SetMessage(uint64_t address, uint32_t data) = 0;
  // Enables or disables delivery (irqfd attached or not).
  virtual absl::Status SetEnabled(bool enabled) = 0;
  // Delivers the interrupt now (from an emulated device).
  virtual void Trigger() = 0;
  // The eventfd that triggers this vector, for a kernel producer.
  virtual int trigger_fd() const = 0;
};

// A kernel-to-KVM interrupt path that the VMM set up and no longer touches;
// dropping it tears the path down.
class IrqfdBinding {
 public:
  virtual ~IrqfdBinding() = default;
};

// What the PCI layer asks of the VMM's interrupt controller.
class InterruptController {
 public:
  virtual ~InterruptController() = default;
  // A level-triggered line on IOAPIC input `gsi`, for PCI INTx.
  virtual absl::StatusOr<std::unique_ptr<IrqLine>> MakeIrqLine(
      uint32_t gsi) = 0;
  // A new message-signalled vector (a GSI with an MSI route), disabled.
  virtual absl::StatusOr<std::unique_ptr<MsiVector>> AllocateMsi() = 0;
  // Level-triggered INTx straight from a kernel producer (VFIO): signalling
  // `trigger_fd` asserts IOAPIC input `gsi`; when the guest EOIs it, KVM
  // deasserts it and signals `resample_fd` (KVM_IRQFD_FLAG_RESAMPLE), which
  // the producer uses to unmask. Fails with Unimplemented where KVM cannot
  // resample; callers then fall back to a path through the VMM.
  virtual absl::StatusOr<std::unique_ptr<IrqfdBinding>> BindLevelIrqfd(
      uint32_t gsi, int trigger_fd, int resample_fd) = 0;
};

}  // namespace microvm

#endif  // MICROVM_BASE_IRQ_H_
