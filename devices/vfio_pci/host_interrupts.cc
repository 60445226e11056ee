// SPDX-License-Identifier: Apache-2.0
#include "devices/vfio_pci/host_interrupts.h"

#include <poll.h>

#include <algorithm>

#include "absl/strings/str_format.h"
#include "base/linux_uapi.h"
#include "base/messages.h"
#include "base/status.h"

namespace microvm::vfio_pci {

absl::StatusOr<std::unique_ptr<HostInterrupts>> HostInterrupts::Create(
    const vfio::DeviceBackend& device, InterruptController& irqs,
    IntxMode mode) {
  MVM_ASSIGN_OR_RETURN(EventFd trigger, EventFd::Create());
  MVM_ASSIGN_OR_RETURN(EventFd resample, EventFd::Create());
  return std::unique_ptr<HostInterrupts>(new HostInterrupts(
      device, irqs, mode, std::move(trigger), std::move(resample)));
}

HostInterrupts::~HostInterrupts() { Shutdown(); }

absl::Status HostInterrupts::AttachIntx(std::unique_ptr<IrqLine> line) {
  intx_line_ = std::move(line);
  return EnableIntx();
}

absl::Status HostInterrupts::EnableIntx() {
  const auto& irqs = device_.info().irqs;
  if (intx_line_ == nullptr || active_ != Active::kNone ||
      irqs.size() <= VFIO_PCI_INTX_IRQ_INDEX ||
      irqs[VFIO_PCI_INTX_IRQ_INDEX].count == 0) {
    return absl::OkStatus();
  }
  // Events left from an earlier enable must not fire now.
  (void)intx_trigger_.Consume();
  (void)intx_resample_.Consume();
  if (mode_ == IntxMode::kIrqfdResample) {
    // KVM asserts the pin on the trigger; on the guest's EOI it lowers it
    // and signals resample, on which VFIO unmasks the device's INTx. A
    // level interrupt never passes through the VMM.
    absl::StatusOr<std::unique_ptr<IrqfdBinding>> binding =
        irqs_.BindLevelIrqfd(intx_line_->gsi(), intx_trigger_.fd(),
                             intx_resample_.fd());
    if (absl::IsUnimplemented(binding.status())) {
      Message(absl::StrFormat("vfio-pci %s: %s; INTx goes through the VMM", Name(),
                          binding.status().message()));
      mode_ = IntxMode::kUserspace;
    } else if (!binding.ok()) {
      return Annotate(binding.status(),
                      absl::StrFormat("vfio-pci %s: INTx irqfd", Name()));
    } else {
      intx_binding_ = std::move(*binding);
    }
  }
  const int32_t fds[] = {intx_trigger_.fd()};
  absl::Status status =
      device_.SetIrqEventFds(VFIO_PCI_INTX_IRQ_INDEX, 0, fds);
  if (status.ok() && mode_ == IntxMode::kIrqfdResample) {
    // VFIO's virqfd looks at the eventfd's count when it is set, so an
    // EOI that came before this call is not lost.
    status = device_.SetIrqUnmaskEventFd(VFIO_PCI_INTX_IRQ_INDEX, 0,
                                         intx_resample_.fd());
    if (!status.ok()) (void)device_.DisableIrq(VFIO_PCI_INTX_IRQ_INDEX);
  }
  if (!status.ok()) {
    intx_binding_.reset();
    return status;
  }
  active_ = Active::kIntx;
  return absl::OkStatus();
}

void HostInterrupts::DisableIntx() {
  if (active_ != Active::kIntx) return;
  absl::Status status = device_.DisableIrq(VFIO_PCI_INTX_IRQ_INDEX);
  if (!status.ok()) Message(status.message());
  // Unbinding the resampling irqfd lowers the pin if it was asserted.
  intx_binding_.reset();
  if (mode_ == IntxMode::kUserspace && intx_line_ != nullptr) {
    intx_line_->Set(false);
  }
  active_ = Active::kNone;
}

absl::Status HostInterrupts::UnmaskIntx() const {
  if (active_ != Active::kIntx) return absl::OkStatus();
  return device_.SetIrqMasked(VFIO_PCI_INTX_IRQ_INDEX, 0, false);
}

absl::Status HostInterrupts::EnableMsi(uint32_t count) {
  DisableIntx();
  msi_vectors_.clear();
  std::vector<int32_t> fds;
  for (uint32_t v = 0; v < count; ++v) {
    absl::StatusOr<std::unique_ptr<MsiVector>> vector = irqs_.AllocateMsi();
    if (!vector.ok()) {
      msi_vectors_.clear();
      (void)EnableIntx();
      return Annotate(vector.status(),
                      absl::StrFormat("vfio-pci %s: MSI vector %u", Name(), v));
    }
    fds.push_back((*vector)->trigger_fd());
    msi_vectors_.push_back(std::move(*vector));
  }
  absl::Status status = device_.SetIrqEventFds(VFIO_PCI_MSI_IRQ_INDEX, 0, fds);
  if (!status.ok()) {
    msi_vectors_.clear();
    (void)EnableIntx();
    return status;
  }
  active_ = Active::kMsi;
  return absl::OkStatus();
}

absl::Status HostInterrupts::EnableMsix() {
  DisableIntx();
  const uint32_t size = device_.info().irqs[VFIO_PCI_MSIX_IRQ_INDEX].count;
  msix_vectors_.clear();
  msix_vectors_.resize(size);
  msix_wired_.assign(size, false);
  // MSI-X on in the device with one host vector and no eventfd yet (QEMU's
  // vfio_enable_msix_no_vec): host vectors come as the guest unmasks table
  // entries, so a device with hundreds of entries does not take hundreds
  // of host interrupts.
  const int32_t none[] = {-1};
  absl::Status status =
      device_.SetIrqEventFds(VFIO_PCI_MSIX_IRQ_INDEX, 0, none);
  if (!status.ok()) {
    msix_vectors_.clear();
    (void)EnableIntx();
    return status;
  }
  msix_host_count_ = 1;
  active_ = Active::kMsix;
  return absl::OkStatus();
}

absl::Status HostInterrupts::DisableMsiOrMsix(uint32_t index) {
  absl::Status status = device_.DisableIrq(index);
  // VFIO stops signalling before the eventfds and routes go.
  if (index == VFIO_PCI_MSI_IRQ_INDEX) {
    msi_vectors_.clear();
  } else {
    msix_vectors_.clear();
    msix_wired_.clear();
    msix_host_count_ = 0;
  }
  active_ = Active::kNone;
  absl::Status intx = EnableIntx();
  return status.ok() ? intx : status;
}

absl::Status HostInterrupts::Unmask(
    std::vector<std::unique_ptr<MsiVector>>& vectors, uint32_t v,
    const pci::MsiMessage& message, bool pending) {
  if (v >= vectors.size()) {
    return absl::OutOfRangeError(absl::StrFormat(
        "vfio-pci %s: vector %u of %u", Name(), v, vectors.size()));
  }
  if (vectors[v] == nullptr) {
    MVM_ASSIGN_OR_RETURN(vectors[v], irqs_.AllocateMsi());
  }
  MVM_RETURN_IF_ERROR(vectors[v]->SetMessage(message.address, message.data));
  // Attaching the irqfd delivers an event VFIO signalled while the vector
  // was masked (KVM looks at the eventfd's count when it assigns it).
  MVM_RETURN_IF_ERROR(vectors[v]->SetEnabled(true));
  if (pending) vectors[v]->Trigger();
  return absl::OkStatus();
}

absl::Status HostInterrupts::WireMsixVector(uint32_t v) {
  if (msix_wired_[v]) return absl::OkStatus();
  const int32_t fd = msix_vectors_[v]->trigger_fd();
  const bool can_grow =
      !(device_.info().irqs[VFIO_PCI_MSIX_IRQ_INDEX].flags &
        VFIO_IRQ_INFO_NORESIZE);
  if (v < msix_host_count_ || can_grow) {
    const int32_t fds[] = {fd};
    MVM_RETURN_IF_ERROR(
        device_.SetIrqEventFds(VFIO_PCI_MSIX_IRQ_INDEX, v, fds));
    msix_wired_[v] = true;
    msix_host_count_ = std::max(msix_host_count_, v + 1);
    return absl::OkStatus();
  }
  // VFIO_IRQ_INFO_NORESIZE (kernels before 6.5): the host vector count is
  // fixed while MSI-X is on, so turn it off and on again with v + 1
  // vectors, as QEMU does. An interrupt the device raised in that gap is
  // lost, so every vector already wired gets one (spurious at worst, which
  // drivers tolerate) afterwards.
  MVM_RETURN_IF_ERROR(device_.DisableIrq(VFIO_PCI_MSIX_IRQ_INDEX));
  std::vector<int32_t> fds(v + 1, -1);
  for (uint32_t i = 0; i <= v; ++i) {
    if (msix_vectors_[i] != nullptr) fds[i] = msix_vectors_[i]->trigger_fd();
  }
  absl::Status status =
      device_.SetIrqEventFds(VFIO_PCI_MSIX_IRQ_INDEX, 0, fds);
  if (!status.ok()) {
    // MSI-X is off in the host now; say so, the guest's vectors are dead.
    msix_wired_.assign(msix_wired_.size(), false);
    msix_host_count_ = 0;
    return Annotate(status, absl::StrFormat("vfio-pci %s: re-enabling MSI-X "
                                            "with %u vectors",
                                            Name(), v + 1));
  }
  msix_host_count_ = v + 1;
  for (uint32_t i = 0; i <= v; ++i) {
    if (msix_vectors_[i] == nullptr) continue;
    if (msix_wired_[i]) msix_vectors_[i]->Trigger();
    msix_wired_[i] = true;
  }
  return absl::OkStatus();
}

namespace {

// kMask and kRoute act the same on an MSI vector and an MSI-X entry: detach
// the irqfd, or follow the guest's new address/data. Vectors never
// allocated have nothing to change.
absl::Status MaskOrRoute(std::vector<std::unique_ptr<MsiVector>>& vectors,
                         const pci::MsiAction& a) {
  if (a.vector >= vectors.size() || vectors[a.vector] == nullptr) {
    return absl::OkStatus();
  }
  if (a.type == pci::MsiAction::Type::kMask) {
    return vectors[a.vector]->SetEnabled(false);
  }
  return vectors[a.vector]->SetMessage(a.message.address, a.message.data);
}

}  // namespace

absl::Status HostInterrupts::ApplyMsi(const pci::MsiActions& actions) {
  return Apply(Active::kMsi, actions);
}

absl::Status HostInterrupts::ApplyMsix(const pci::MsiActions& actions) {
  return Apply(Active::kMsix, actions);
}

absl::Status HostInterrupts::Apply(Active kind,
                                   const pci::MsiActions& actions) {
  using Type = pci::MsiAction::Type;
  const bool msix = kind == Active::kMsix;
  std::vector<std::unique_ptr<MsiVector>>& vectors =
      msix ? msix_vectors_ : msi_vectors_;
  absl::Status first;
  for (const pci::MsiAction& a : actions) {
    absl::Status status;
    const bool on = active_ == kind;
    switch (a.type) {
      case Type::kEnable:
        status = msix ? EnableMsix() : EnableMsi(a.vector);
        break;
      case Type::kDisable:
        if (on) {
          status = DisableMsiOrMsix(msix ? VFIO_PCI_MSIX_IRQ_INDEX
                                         : VFIO_PCI_MSI_IRQ_INDEX);
        }
        break;
      case Type::kUnmask:
        // An MSI-X table entry beyond the host's vectors has none to wire.
        if (!on || (msix && a.vector >= vectors.size())) break;
        status = Unmask(vectors, a.vector, a.message, a.pending);
        // MSI-X: route first, then the host eventfd, so nothing the device
        // sends from now on finds an unrouted vector.
        if (msix && status.ok()) status = WireMsixVector(a.vector);
        break;
      case Type::kMask:
      case Type::kRoute:
        // A masked MSI-X host vector stays wired; its events wait in the
        // eventfd and are delivered when the irqfd is attached again.
        if (on) status = MaskOrRoute(vectors, a);
        break;
      case Type::kFunctionMask:
      case Type::kFunctionUnmask:
        break;
    }
    if (first.ok() && !status.ok()) first = status;
  }
  return first;
}

bool HostInterrupts::MsixPending(uint32_t v) const {
  if (active_ != Active::kMsix || v >= msix_vectors_.size() ||
      msix_vectors_[v] == nullptr || !msix_wired_[v]) {
    return false;
  }
  // Readable without consuming: the count is what the irqfd will deliver.
  pollfd p = {msix_vectors_[v]->trigger_fd(), POLLIN, 0};
  return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

void HostInterrupts::Shutdown() {
  auto off = [&](uint32_t index) {
    absl::Status status = device_.DisableIrq(index);
    if (!status.ok()) Message(status.message());
  };
  if (active_ == Active::kMsix) {
    off(VFIO_PCI_MSIX_IRQ_INDEX);
    msix_vectors_.clear();
    msix_wired_.clear();
    msix_host_count_ = 0;
    active_ = Active::kNone;
  }
  if (active_ == Active::kMsi) {
    off(VFIO_PCI_MSI_IRQ_INDEX);
    msi_vectors_.clear();
    active_ = Active::kNone;
  }
  DisableIntx();
}

absl::Status HostInterrupts::Restart() { return EnableIntx(); }

}  // namespace microvm::vfio_pci
