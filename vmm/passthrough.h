// SPDX-License-Identifier: Apache-2.0
// VFIO passthrough in two lifetimes:
//  - VfioHost, for the whole process: the container shared by every device,
//    the opened devices and all of guest RAM mapped for DMA. A VM that
//    reboots in place (--on_reboot=restart) keeps it, so a reboot does not
//    pin the guest's RAM again.
//  - Passthrough, for one boot: the vfio-pci devices on that boot's root
//    complex and the watches on the devices' request interrupts.
#ifndef MICROVM_VMM_PASSTHROUGH_H_
#define MICROVM_VMM_PASSTHROUGH_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/event_fd.h"
#include "base/event_loop.h"
#include "devices/vfio/container.h"
#include "devices/vfio/device.h"
#include "devices/vfio/dma_mapper.h"
#include "devices/vfio_pci/vfio_pci_device.h"
#include "memory/guest_memory.h"
#include "pci/root_complex.h"

namespace microvm {

class VfioHost {
 public:
  // Every file the devices (PCI addresses as sysfs names them) need, before
  // the guest runs: the container, each device's sysfs checks (exists, has
  // an IOMMU group, bound to vfio-pci: one line each), its INTx pin (sysfs
  // config) and its IOMMU group's node, checked viable. Nothing is attached.
  static absl::StatusOr<std::unique_ptr<VfioHost>> Prepare(
      const std::vector<std::string>& devices, bool overlap);
  // Attaches the groups and gets the devices (ioctls only, no file opened:
  // it may run under the sandbox, while the guest boots) and prepares the
  // DMA mapping of guest RAM (IOVA = guest-physical address), mapping
  // nothing yet. Once; later calls do nothing.
  absl::Status Open(const GuestMemory& mem);
  // Without `overlap` (--dma_map=eager): maps all of guest RAM now. With it
  // the mapping goes on a thread of its own (DmaMapper::Begin) while the
  // guest boots, and this does nothing.
  absl::Status MapEagerly();
  // Stops a mapping still under way first; the devices close before their
  // DMA mappings go, the mappings before the container.
  ~VfioHost();

  vfio::DmaMapper& dma() const { return *dma_; }
  bool opened() const { return dma_ != nullptr; }
  // Each device's INTx pin (1-4, 0 none) as sysfs showed it; nullopt where
  // it could not be read.
  const std::vector<std::optional<uint8_t>>& pins() const { return pins_; }
  // The mapping goes on while the guest runs (--dma_map=overlap).
  bool overlapped() const { return overlap_; }
  // The devices' addresses, as given to Open, and the opened devices.
  const std::vector<std::string>& addresses() const { return addresses_; }
  const std::vector<std::shared_ptr<vfio::Device>>& devices() const {
    return devices_;
  }

 private:
  VfioHost() = default;
  // Member order is teardown order, reversed.
  std::shared_ptr<vfio::Container> container_;
  std::unique_ptr<vfio::DmaMapper> dma_;
  std::vector<std::shared_ptr<vfio::Device>> devices_;
  std::vector<std::string> addresses_;
  std::vector<std::optional<uint8_t>> pins_;
  bool overlap_ = false;
};

class Passthrough {
 public:
  // Called on the event loop when the host asks for a device back (its
  // address): VFIO's device request interrupt, raised while the host's
  // unbind from vfio-pci waits for the user to let the device go.
  using OnRequest = std::function<void(const std::string& address)>;

  // Watches each of `host`'s devices' request interrupt (on_request) and
  // adds them to `root` as vfio-pci devices, in `slots` (one per device, as
  // PciRoot::ReserveSlot gave them). `host` must outlive this.
  static absl::StatusOr<std::unique_ptr<Passthrough>> Create(
      const VfioHost& host, pci::PciRoot& root,
      const vfio_pci::Context& context, OnRequest on_request,
      const std::vector<uint8_t>& slots);

  // Interrupts off and a function reset for every device (VM reset and
  // teardown), so the next boot or VM gets the devices in a known state.
  absl::Status Reset();

  const VfioHost& host() const { return host_; }
  // This boot's Bus Master Enable gate (--dma_map=overlap; null otherwise).
  // Close it when the boot ends: a vCPU waiting there returns.
  vfio::DmaMapper::Gate* gate() const { return gate_.get(); }

  // A device's request interrupt (VFIO_PCI_REQ_IRQ_INDEX) on the event loop.
  // The watch goes first, then the interrupt is turned off (the device stays
  // open across a reboot), then the eventfd closes.
  struct RequestWatch {
    ~RequestWatch();
    std::shared_ptr<vfio::Device> device;
    EventFd fd;
    EventLoop::Watch watch;
  };

 private:
  explicit Passthrough(const VfioHost& host) : host_(host) {}
  const VfioHost& host_;
  // Before the devices: they hold it.
  std::unique_ptr<vfio::DmaMapper::Gate> gate_;
  std::vector<std::shared_ptr<vfio_pci::VfioPciDevice>> devices_;
  std::vector<std::unique_ptr<RequestWatch>> requests_;
};

}  // namespace microvm

#endif  // MICROVM_VMM_PASSTHROUGH_H_
