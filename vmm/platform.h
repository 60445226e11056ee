// SPDX-License-Identifier: Apache-2.0
// The x86 platform KVM provides in the kernel, set up in the order KVM needs:
// TSS and identity-map pages, the irqchip (PIC pair, IOAPIC, LAPICs), the PIT,
// then the PC's interrupt routing. Shared by the VM and the benchmarks.
#ifndef MICROVM_VMM_PLATFORM_H_
#define MICROVM_VMM_PLATFORM_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "vmm/irq_router.h"
#include "vmm/kvm/kvm.h"

namespace microvm {

// Call before creating any vCPU. `vm` must outlive the returned router.
absl::StatusOr<std::unique_ptr<IrqRouter>> CreateX86Platform(const Kvm& kvm,
                                                             KvmVm& vm);

// Per-VM KVM tuning for dedicated CPUs (--halt_poll_ns, --disable_exits):
// KVM_CAP_HALT_POLL and KVM_CAP_X86_DISABLE_EXITS, each checked first and
// refused with FailedPrecondition naming what this KVM lacks. Call before
// creating any vCPU.
struct KvmTuning {
  std::optional<uint64_t> halt_poll_ns;
  uint32_t disable_exits = 0;  // KVM_X86_DISABLE_EXITS_* bits
};
absl::Status ApplyKvmTuning(const Kvm& kvm, KvmVm& vm, const KvmTuning& tuning);

// "hlt,pause": KVM_X86_DISABLE_EXITS_* bits by their --disable_exits names
// ("none" for 0).
std::string DisableExitNames(uint32_t bits);

}  // namespace microvm

#endif  // MICROVM_VMM_PLATFORM_H_
