// SPDX-License-Identifier: Apache-2.0
// VFIO passthrough for one VM: the container shared by every device, all of
// guest RAM mapped for DMA before the guest runs, and the vfio-pci devices
// added to the root complex.
#ifndef MICROVM_VMM_PASSTHROUGH_H_
#define MICROVM_VMM_PASSTHROUGH_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "base/event_fd.h"
#include "base/event_loop.h"
#include "devices/vfio/container.h"
#include "devices/vfio/device.h"
#include "devices/vfio/guest_dma.h"
#include "devices/vfio_pci/vfio_pci_device.h"
#include "memory/guest_memory.h"
#include "pci/root_complex.h"

namespace microvm {

class Passthrough {
 public:
  // Called on the event loop when the host asks for a device back (its
  // address): VFIO's device request interrupt, raised while the host's
  // unbind from vfio-pci waits for the user to let the device go.
  using OnRequest = std::function<void(const std::string& address)>;

  // Opens each device (a PCI address as sysfs names it), maps guest RAM for
  // DMA (IOVA = guest-physical address), watches each device's request
  // interrupt (on_request) and adds the devices to `root`.
  static absl::StatusOr<std::unique_ptr<Passthrough>> Create(
      const std::vector<std::string>& devices, const GuestMemory& mem,
      pci::PciRoot& root, const vfio_pci::Context& context,
      OnRequest on_request);

  // Interrupts off and a function reset for every device (VM reset and
  // teardown), so the next VM gets the devices in a known state.
  absl::Status Reset();

  const vfio::GuestDmaMappings& dma() const { return dma_; }
  // The devices' addresses, as given to Create.
  const std::vector<std::string>& addresses() const { return addresses_; }

  // A device's request interrupt (VFIO_PCI_REQ_IRQ_INDEX) on the event loop;
  // the watch goes before its eventfd. The kernel drops its reference to the
  // eventfd when the device fd closes.
  struct RequestWatch {
    EventFd fd;
    EventLoop::Watch watch;
  };

 private:
  Passthrough() = default;
  // Member order is teardown order, reversed: devices go before the DMA
  // mappings, the mappings before the container.
  std::shared_ptr<vfio::Container> container_;
  vfio::GuestDmaMappings dma_;
  std::vector<std::shared_ptr<vfio_pci::VfioPciDevice>> devices_;
  std::vector<std::unique_ptr<RequestWatch>> requests_;
  std::vector<std::string> addresses_;
};

}  // namespace microvm

#endif  // MICROVM_VMM_PASSTHROUGH_H_
