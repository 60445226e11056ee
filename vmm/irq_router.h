// SPDX-License-Identifier: Apache-2.0
// The VM's interrupt controller as devices see it (base/irq.h), on KVM's
// in-kernel IOAPIC/PIC and GSI routing: IOAPIC lines through KVM_IRQ_LINE,
// MSI vectors as GSIs with MSI routes, fired through irqfd so a kernel
// producer (VFIO) reaches the guest without the VMM.
#ifndef MICROVM_VMM_IRQ_ROUTER_H_
#define MICROVM_VMM_IRQ_ROUTER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "base/irq.h"
#include "base/linux_uapi.h"
#include "vmm/kvm/kvm.h"

namespace microvm {

class IrqRouter final : public InterruptController {
 public:
  // IOAPIC inputs of KVM's in-kernel IOAPIC.
  static constexpr uint32_t kIoapicPins = 24;

  // `max_gsis` is KVM_CAP_IRQ_ROUTING's answer. `vm` must outlive this.
  // `can_resample`: KVM_CAP_IRQFD_RESAMPLE.
  IrqRouter(KvmVm& vm, uint32_t max_gsis, bool can_resample)
      : vm_(vm), max_gsis_(max_gsis), can_resample_(can_resample) {}

  // Installs the PC's ISA routing (see CommitLocked); call once, before
  // the vCPUs run.
  absl::Status Init();

  absl::StatusOr<std::unique_ptr<IrqLine>> MakeIrqLine(uint32_t gsi) override;
  absl::StatusOr<std::unique_ptr<MsiVector>> AllocateMsi() override;
  absl::StatusOr<std::unique_ptr<IrqfdBinding>> BindLevelIrqfd(
      uint32_t gsi, int trigger_fd, int resample_fd) override;

  KvmVm& vm() { return vm_; }
  // Number of MSI routes in use (for tests and leak checks).
  size_t msi_routes() const;

  // Interrupts the VMM raised itself so far (--stats): KVM_IRQ_LINE calls
  // that drove a line high, and MSI messages of emulated devices (Trigger).
  // Kernel producers (VFIO through irqfd) are not counted: they never pass
  // the VMM.
  uint64_t line_raises() const {
    return line_raises_.load(std::memory_order_relaxed);
  }
  uint64_t msi_triggers() const {
    return msi_triggers_.load(std::memory_order_relaxed);
  }

 private:
  class Vector;
  friend class Vector;

  absl::Status SetRoute(uint32_t gsi, uint64_t address, uint32_t data);
  void Release(uint32_t gsi);
  // Rebuilds the whole table: KVM_SET_GSI_ROUTING replaces KVM's default
  // irqchip routes too, so they are always re-sent.
  absl::Status CommitLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  KvmVm& vm_;
  const uint32_t max_gsis_;
  const bool can_resample_;
  mutable absl::Mutex mu_;
  // GSI -> MSI message, for every allocated vector.
  std::map<uint32_t, kvm_irq_routing_msi> msi_ ABSL_GUARDED_BY(mu_);
  std::atomic<uint64_t> line_raises_{0};
  std::atomic<uint64_t> msi_triggers_{0};
};

}  // namespace microvm

#endif  // MICROVM_VMM_IRQ_ROUTER_H_
