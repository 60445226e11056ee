// SPDX-License-Identifier: Apache-2.0
#include "vmm/passthrough.h"


#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "base/linux_uapi.h"
#include "base/messages.h"
#include "base/status.h"
#include "devices/vfio/sysfs.h"

namespace microvm {

// The device request interrupt (vfio.h VFIO_PCI_REQ_IRQ_INDEX; vfio-pci
// signals it from vfio_pci_core_request() while a driver unbind waits for
// the device's user, again every few seconds): an eventfd on the event loop.
// Devices without it (count 0) are not watched: their unbind waits for the
// VM's end.
namespace {

absl::StatusOr<std::unique_ptr<Passthrough::RequestWatch>> WatchRequest(
    std::shared_ptr<vfio::Device> device, const std::string& address,
    EventLoop& loop, const Passthrough::OnRequest& on_request) {
  const std::vector<vfio::IrqInfo>& irqs = device->info().irqs;
  if (irqs.size() <= VFIO_PCI_REQ_IRQ_INDEX ||
      irqs[VFIO_PCI_REQ_IRQ_INDEX].count == 0 ||
      !(irqs[VFIO_PCI_REQ_IRQ_INDEX].flags & VFIO_IRQ_INFO_EVENTFD)) {
    return nullptr;
  }
  auto w = std::make_unique<Passthrough::RequestWatch>();
  MVM_ASSIGN_OR_RETURN(w->fd, EventFd::Create());
  const int32_t fd = w->fd.fd();
  MVM_RETURN_IF_ERROR(Annotate(
      device->SetIrqEventFds(VFIO_PCI_REQ_IRQ_INDEX, 0, absl::MakeConstSpan(&fd, 1)),
      absl::StrCat(address, ": device request interrupt")));
  w->device = std::move(device);
  EventFd* event = &w->fd;
  MVM_ASSIGN_OR_RETURN(w->watch,
                       loop.Add(fd, [event, address, on_request](uint32_t) {
                         absl::StatusOr<uint64_t> n = event->Consume();
                         if (n.ok() && *n > 0) on_request(address);
                       }));
  return w;
}

}  // namespace

absl::StatusOr<std::unique_ptr<VfioHost>> VfioHost::Prepare(
    const std::vector<std::string>& devices, bool overlap) {
  std::unique_ptr<VfioHost> h(new VfioHost());
  h->addresses_ = devices;
  h->overlap_ = overlap;
  // The sysfs checks first: a device that does not exist or is not bound to
  // vfio-pci is the likely user error, and VFIO missing altogether the next.
  for (const std::string& bdf : devices) {
    MVM_RETURN_IF_ERROR(vfio::CheckPciDevice(vfio::Paths(), bdf).status());
  }
  MVM_ASSIGN_OR_RETURN(h->container_, vfio::Container::Open());
  for (const std::string& bdf : devices) {
    MVM_RETURN_IF_ERROR(h->container_->PreparePciDevice(bdf));
    // The tables route the device's INTx pin as sysfs shows it (all four
    // if it cannot be read: a few more MP-table entries, nothing wrong).
    absl::StatusOr<uint8_t> pin = vfio::InterruptPinOf(vfio::Paths().sysfs, bdf);
    h->pins_.push_back(pin.ok() ? std::optional<uint8_t>(*pin) : std::nullopt);
  }
  return h;
}

absl::Status VfioHost::Open(const GuestMemory& mem) {
  if (opened()) return absl::OkStatus();
  // Devices first: a group that stopped being viable is reported before
  // seconds of DMA pinning.
  // All or nothing: the host keeps no device of an Open that failed.
  std::vector<std::shared_ptr<vfio::Device>> devices;
  for (const std::string& bdf : addresses_) {
    MVM_ASSIGN_OR_RETURN(std::unique_ptr<vfio::Device> d,
                         container_->OpenPciDevice(bdf));
    devices.push_back(std::move(d));
  }
  MVM_ASSIGN_OR_RETURN(dma_, vfio::DmaMapper::Create(container_, mem));
  devices_ = std::move(devices);
  return absl::OkStatus();
}

absl::Status VfioHost::MapEagerly() {
  if (overlap_) return absl::OkStatus();
  // An earlier boot mapped it (--on_reboot=restart).
  if (std::optional<absl::Status> r = dma_->result(); r.has_value()) return *r;
  MVM_RETURN_IF_ERROR(dma_->Finish());
  const vfio::DmaMapper::Progress done = dma_->progress();
  Message(absl::StrFormat("mapped %d MiB of guest RAM for DMA in %s",
                          done.mapped >> 20,
                          absl::FormatDuration(done.elapsed)));
  return absl::OkStatus();
}

VfioHost::~VfioHost() {
  // Then the members, in reverse: the devices close, the mappings go.
  if (dma_ != nullptr) dma_->Cancel();
}

Passthrough::RequestWatch::~RequestWatch() {
  watch.Reset();
  if (device != nullptr) (void)device->DisableIrq(VFIO_PCI_REQ_IRQ_INDEX);
}

absl::StatusOr<std::unique_ptr<Passthrough>> Passthrough::Create(
    const VfioHost& host, pci::PciRoot& root, const vfio_pci::Context& context,
    OnRequest on_request, const std::vector<uint8_t>& slots) {
  if (slots.size() != host.devices().size()) {
    return absl::InternalError(absl::StrFormat(
        "%d slots reserved for %d passed-through devices", slots.size(),
        host.devices().size()));
  }
  std::unique_ptr<Passthrough> p(new Passthrough(host));
  vfio_pci::Context with_gate = context;
  if (host.overlapped()) {
    p->gate_ = std::make_unique<vfio::DmaMapper::Gate>(host.dma());
    with_gate.dma_gate = p->gate_.get();
  }
  // Every device made before any goes on the bus: a failure part-way leaves
  // no device in the root that points at this object's gate.
  std::vector<std::shared_ptr<pci::PciDevice>> made;
  for (size_t i = 0; i < host.devices().size(); ++i) {
    const std::string& address = host.addresses()[i];
    MVM_ASSIGN_OR_RETURN(
        std::unique_ptr<RequestWatch> request,
        WatchRequest(host.devices()[i], address, context.loop, on_request));
    if (request != nullptr) p->requests_.push_back(std::move(request));
    absl::StatusOr<std::shared_ptr<pci::PciDevice>> dev =
        vfio_pci::MakeVfioPciDevice(host.devices()[i], with_gate);
    if (!dev.ok()) return Annotate(dev.status(), address);
    p->devices_.push_back(
        std::dynamic_pointer_cast<vfio_pci::VfioPciDevice>(*dev));
    made.push_back(std::move(*dev));
  }
  for (size_t i = 0; i < made.size(); ++i) {
    MVM_RETURN_IF_ERROR(root.AddDevice(made[i], slots[i]).status());
  }
  return p;
}

absl::Status Passthrough::Reset() {
  absl::Status first;
  for (auto& d : devices_) {
    if (d == nullptr) continue;
    absl::Status s = d->Reset();
    // A device without a reset method still had its interrupts turned off.
    if (!s.ok() && !absl::IsFailedPrecondition(s) && first.ok()) first = s;
  }
  return first;
}

}  // namespace microvm
