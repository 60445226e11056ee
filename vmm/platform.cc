// SPDX-License-Identifier: Apache-2.0
#include "vmm/platform.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
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

std::string DisableExitNames(uint32_t bits) {
  static constexpr std::pair<uint32_t, const char*> kNames[] = {
      {KVM_X86_DISABLE_EXITS_HLT, "hlt"},
      {KVM_X86_DISABLE_EXITS_PAUSE, "pause"},
      {KVM_X86_DISABLE_EXITS_MWAIT, "mwait"},
      {KVM_X86_DISABLE_EXITS_CSTATE, "cstate"}};
  std::string out;
  for (const auto& [bit, name] : kNames) {
    if (bits & bit) absl::StrAppend(&out, out.empty() ? "" : ",", name);
  }
  return out.empty() ? "none" : out;
}

absl::Status ApplyKvmTuning(const Kvm& kvm, KvmVm& vm, const KvmTuning& tuning) {
  if (tuning.halt_poll_ns.has_value()) {
    if (kvm.CheckExtension(KVM_CAP_HALT_POLL) <= 0) {
      return absl::FailedPreconditionError(
          "--halt_poll_ns: this host's KVM cannot set halt polling per VM (no "
          "KVM_CAP_HALT_POLL: Linux 5.15 or later); leave the flag out, or set "
          "the kvm module's halt_poll_ns parameter for every VM");
    }
    MVM_RETURN_IF_ERROR(
        Annotate(vm.EnableCap(KVM_CAP_HALT_POLL, *tuning.halt_poll_ns),
                 absl::StrCat("--halt_poll_ns ", *tuning.halt_poll_ns)));
  }
  if (tuning.disable_exits != 0) {
    const auto offered = static_cast<uint32_t>(
        std::max(kvm.CheckExtension(KVM_CAP_X86_DISABLE_EXITS), 0));
    const uint32_t missing = tuning.disable_exits & ~offered;
    if (missing != 0) {
      return absl::FailedPreconditionError(absl::StrFormat(
          "--disable_exits: this host's KVM cannot leave %s to the guest "
          "(KVM_CAP_X86_DISABLE_EXITS offers %s); leave %s out",
          DisableExitNames(missing), DisableExitNames(offered),
          DisableExitNames(missing)));
    }
    MVM_RETURN_IF_ERROR(Annotate(
        vm.EnableCap(KVM_CAP_X86_DISABLE_EXITS, tuning.disable_exits),
        absl::StrCat("--disable_exits ", DisableExitNames(tuning.disable_exits))));
  }
  return absl::OkStatus();
}

}  // namespace microvm
