// SPDX-License-Identifier: Apache-2.0
// The x86 platform KVM provides in the kernel, set up in the order KVM needs:
// TSS and identity-map pages, the irqchip (PIC pair, IOAPIC, LAPICs), the PIT,
// then the PC's interrupt routing. Shared by the VM and the benchmarks.
#ifndef MICROVM_VMM_PLATFORM_H_
#define MICROVM_VMM_PLATFORM_H_

#include <memory>

#include "absl/status/statusor.h"
#include "vmm/irq_router.h"
#include "vmm/kvm/kvm.h"

namespace microvm {

// Call before creating any vCPU. `vm` must outlive the returned router.
absl::StatusOr<std::unique_ptr<IrqRouter>> CreateX86Platform(const Kvm& kvm,
                                                             KvmVm& vm);

}  // namespace microvm

#endif  // MICROVM_VMM_PLATFORM_H_
