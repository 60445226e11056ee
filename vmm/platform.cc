// SPDX-License-Identifier: Apache-2.0
#include "vmm/platform.h"

#include "base/status.h"
#include "memory/layout.h"

namespace microvm {

absl::StatusOr<std::unique_ptr<IrqRouter>> CreateX86Platform(const Kvm& kvm,
                                                             KvmVm& vm) {
  MVM_RETURN_IF_ERROR(vm.SetTssAddr(layout::kTssAddr));
  MVM_RETURN_IF_ERROR(vm.SetIdentityMapAddr(layout::kIdentityMapAddr));
  MVM_RETURN_IF_ERROR(vm.CreateIrqchip());
  MVM_RETURN_IF_ERROR(vm.CreatePit());
  auto irqs = std::make_unique<IrqRouter>(
      vm, static_cast<uint32_t>(kvm.CheckExtension(KVM_CAP_IRQ_ROUTING)),
      kvm.CheckExtension(KVM_CAP_IRQFD_RESAMPLE) > 0);
  MVM_RETURN_IF_ERROR(irqs->Init());
  return irqs;
}

}  // namespace microvm
