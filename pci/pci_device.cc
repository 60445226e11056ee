// SPDX-License-Identifier: Apache-2.0
#include "pci/pci_device.h"

#include "absl/strings/str_format.h"

namespace microvm::pci {

std::string PciAddress::ToString() const {
  return absl::StrFormat("%02x:%02x.%x", bus, device, function);
}

void PciDevice::Attach(const PciAddress&, std::unique_ptr<IrqLine>) {}

void PciDevice::BeforeConfigWrite(uint32_t, absl::Span<const uint8_t>) {}

std::shared_ptr<BusDevice> PciDevice::BarHandler(int) { return nullptr; }

absl::Status PciDevice::MapBar(const BarRegion& bar, Bus& bus) {
  std::shared_ptr<BusDevice> handler = BarHandler(bar.index);
  if (handler == nullptr) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "PCI BAR %d: the device has no handler for it", bar.index));
  }
  return bus.Register(
      bar.address, bar.size, std::move(handler),
      bar.index == kRomBar
          ? absl::StrFormat("PCI %s ROM", address_.ToString())
          : absl::StrFormat("PCI %s BAR %d", address_.ToString(), bar.index));
}

absl::Status PciDevice::UnmapBar(const BarRegion& bar, Bus& bus) {
  return bus.Unregister(bar.address);
}

}  // namespace microvm::pci
