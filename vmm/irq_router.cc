// SPDX-License-Identifier: Apache-2.0
#include "vmm/irq_router.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "base/event_fd.h"
#include "base/status.h"

namespace microvm {
namespace {

// KVM's in-kernel PIC pair and IOAPIC as routing targets (KVM API:
// KVM_SET_GSI_ROUTING, KVM_IRQCHIP_PIC_MASTER/SLAVE/IOAPIC).
constexpr uint32_t kPicPins = 16;

class KvmIrqLine final : public IrqLine {
 public:
  KvmIrqLine(KvmVm& vm, uint32_t gsi, std::atomic<uint64_t>& raises)
      : vm_(vm), gsi_(gsi), raises_(raises) {}
  void Set(bool high) override {
    if (high) raises_.fetch_add(1, std::memory_order_relaxed);
    // Cannot fail for a GSI that MakeIrqLine accepted.
    (void)vm_.SetIrqLine(gsi_, high);
  }
  uint32_t gsi() const override { return gsi_; }

 private:
  KvmVm& vm_;
  const uint32_t gsi_;
  std::atomic<uint64_t>& raises_;
};

}  // namespace

class IrqRouter::Vector final : public MsiVector {
 public:
  Vector(IrqRouter& router, uint32_t gsi, EventFd trigger)
      : router_(router), gsi_(gsi), trigger_(std::move(trigger)) {}
  ~Vector() override {
    (void)SetEnabled(false);
    router_.Release(gsi_);
  }

  absl::Status SetMessage(uint64_t address, uint32_t data) override {
    return router_.SetRoute(gsi_, address, data);
  }
  absl::Status SetEnabled(bool enabled) override {
    if (enabled == enabled_) return absl::OkStatus();
    absl::Status s = enabled
                         ? router_.vm().AssignIrqfd(trigger_.fd(), gsi_)
                         : router_.vm().DeassignIrqfd(trigger_.fd(), gsi_);
    if (s.ok()) enabled_ = enabled;
    return s;
  }
  void Trigger() override {
    router_.msi_triggers_.fetch_add(1, std::memory_order_relaxed);
    (void)trigger_.Signal();
  }
  int trigger_fd() const override { return trigger_.fd(); }

 private:
  IrqRouter& router_;
  const uint32_t gsi_;
  EventFd trigger_;
  bool enabled_ = false;
};

namespace {

// GSIs 0-23 reach IOAPIC pins, except 2 (the PIC cascade; see CommitLocked).
absl::Status CheckIoapicInput(uint32_t gsi) {
  if (gsi >= IrqRouter::kIoapicPins || gsi == 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "IRQ ", gsi, " is not a usable IOAPIC input (0-",
        IrqRouter::kIoapicPins - 1, ", not the cascade IRQ 2)"));
  }
  return absl::OkStatus();
}

class LevelIrqfd final : public IrqfdBinding {
 public:
  LevelIrqfd(KvmVm& vm, uint32_t gsi, int fd) : vm_(vm), gsi_(gsi), fd_(fd) {}
  ~LevelIrqfd() override { (void)vm_.DeassignIrqfd(fd_, gsi_); }

 private:
  KvmVm& vm_;
  const uint32_t gsi_;
  const int fd_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<IrqfdBinding>> IrqRouter::BindLevelIrqfd(
    uint32_t gsi, int trigger_fd, int resample_fd) {
  if (!can_resample_) {
    return absl::UnimplementedError(
        "this KVM cannot resample level-triggered irqfds "
        "(no KVM_CAP_IRQFD_RESAMPLE)");
  }
  MVM_RETURN_IF_ERROR(CheckIoapicInput(gsi));
  MVM_RETURN_IF_ERROR(vm_.AssignIrqfd(trigger_fd, gsi, resample_fd));
  return std::make_unique<LevelIrqfd>(vm_, gsi, trigger_fd);
}

absl::Status IrqRouter::Init() {
  absl::MutexLock lock(&mu_);
  return CommitLocked();
}

absl::StatusOr<std::unique_ptr<IrqLine>> IrqRouter::MakeIrqLine(uint32_t gsi) {
  MVM_RETURN_IF_ERROR(CheckIoapicInput(gsi));
  return std::make_unique<KvmIrqLine>(vm_, gsi, line_raises_);
}

absl::StatusOr<std::unique_ptr<MsiVector>> IrqRouter::AllocateMsi() {
  MVM_ASSIGN_OR_RETURN(EventFd trigger, EventFd::Create());
  uint32_t gsi = kIoapicPins;
  {
    absl::MutexLock lock(&mu_);
    // Lowest free GSI above the IOAPIC's.
    for (const auto& [used, unused] : msi_) {
      if (used != gsi) break;
      ++gsi;
    }
    if (gsi >= max_gsis_) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "out of interrupt routes: KVM allows ", max_gsis_, " GSIs"));
    }
    // Until the guest programs it, the route points nowhere useful; it is
    // not enabled (no irqfd) so it cannot fire.
    msi_[gsi] = kvm_irq_routing_msi{};
    absl::Status committed = CommitLocked();
    if (!committed.ok()) {
      // KVM kept its old table (a full one: KVM_MAX_IRQ_ROUTES entries in
      // all); so does this one, or every later commit would fail too.
      msi_.erase(gsi);
      return committed;
    }
  }
  return std::make_unique<Vector>(*this, gsi, std::move(trigger));
}

absl::Status IrqRouter::SetRoute(uint32_t gsi, uint64_t address,
                                 uint32_t data) {
  absl::MutexLock lock(&mu_);
  kvm_irq_routing_msi& msi = msi_[gsi];
  const kvm_irq_routing_msi before = msi;
  msi.address_lo = static_cast<uint32_t>(address);
  msi.address_hi = static_cast<uint32_t>(address >> 32);
  msi.data = data;
  absl::Status committed = CommitLocked();
  // A route KVM rejected must not stay in the table it is sent next time.
  if (!committed.ok()) msi = before;
  return committed;
}

void IrqRouter::Release(uint32_t gsi) {
  absl::MutexLock lock(&mu_);
  msi_.erase(gsi);
  (void)CommitLocked();
}

size_t IrqRouter::msi_routes() const {
  absl::MutexLock lock(&mu_);
  return msi_.size();
}

absl::Status IrqRouter::CommitLocked() {
  std::vector<kvm_irq_routing_entry> routes;
  routes.reserve(kPicPins + kIoapicPins + msi_.size());
  // ISA wiring as on a PC and as the MADT/MP tables describe it: GSIs 0-15
  // reach the PIC pair and IOAPIC pins 0-15, except that the PIT's GSI 0
  // goes to IOAPIC pin 2 (interrupt source override IRQ0 -> GSI 2) and GSI 2
  // (the PIC cascade) nowhere; GSIs 16-23 reach IOAPIC pins 16-23. KVM's
  // default table sends GSI 0 to IOAPIC pin 0, where the guest never looks.
  for (uint32_t gsi = 0; gsi < kIoapicPins; ++gsi) {
    if (gsi == 2) continue;
    if (gsi < kPicPins) {
      kvm_irq_routing_entry pic{};
      pic.gsi = gsi;
      pic.type = KVM_IRQ_ROUTING_IRQCHIP;
      pic.u.irqchip.irqchip =
          gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE;
      pic.u.irqchip.pin = gsi % 8;
      routes.push_back(pic);
    }
    kvm_irq_routing_entry ioapic{};
    ioapic.gsi = gsi;
    ioapic.type = KVM_IRQ_ROUTING_IRQCHIP;
    ioapic.u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
    ioapic.u.irqchip.pin = gsi == 0 ? 2 : gsi;
    routes.push_back(ioapic);
  }
  for (const auto& [gsi, msi] : msi_) {
    kvm_irq_routing_entry e{};
    e.gsi = gsi;
    e.type = KVM_IRQ_ROUTING_MSI;
    e.u.msi = msi;
    routes.push_back(e);
  }
  return vm_.SetGsiRouting(routes);
}

}  // namespace microvm
