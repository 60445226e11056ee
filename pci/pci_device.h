// SPDX-License-Identifier: Apache-2.0
// A PCI function as PciRoot sees it: config accesses in, "which BARs moved"
// out, and hooks to put a BAR on (or take it off) a bus. Emulated devices
// keep the defaults for MapBar/UnmapBar (a BusDevice per BAR on the PIO or
// MMIO bus); vfio-pci overrides them to map a BAR's mmap-able part as a KVM
// memory slot instead.
//
// Threading: PciRoot calls Attach, ConfigRead, ConfigWrite, MapBar and
// UnmapBar with its own lock held, one call at a time per root, from vCPU
// threads. A device must not call back into PciRoot from them. BAR handlers
// run concurrently on any vCPU thread, so state they share with config
// accesses (e.g. an MSI-X table) needs the device's own lock (lock order:
// PciRoot, then the device, then Bus).
#ifndef MICROVM_PCI_PCI_DEVICE_H_
#define MICROVM_PCI_PCI_DEVICE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "base/bus.h"
#include "base/irq.h"
#include "pci/pci_header.h"

namespace microvm::pci {

// Bus/device/function; microvm has bus 0 and function 0 only.
struct PciAddress {
  uint8_t bus = 0;
  uint8_t device = 0;    // 0-31
  uint8_t function = 0;  // 0-7
  bool operator==(const PciAddress&) const = default;
  // "00:03.0", for messages and bus labels.
  std::string ToString() const;
};

class PciDevice {
 public:
  virtual ~PciDevice() = default;

  // Called once when the device is added, before any config access.
  // `intx` drives the function's INTx pin (null when its Interrupt Pin
  // register is 0); the device keeps it. The default drops it.
  virtual void Attach(const PciAddress& address, std::unique_ptr<IrqLine> intx);

  // Guest config accesses. PciRoot passes only well-formed ones
  // (ConfigSpace::ValidAccess): 1, 2 or 4 bytes within one dword of the
  // 4 KiB space. Most devices forward to their PciHeader and then let their
  // capabilities look at the write.
  virtual void ConfigRead(uint32_t offset, absl::Span<uint8_t> data) = 0;
  virtual ConfigWriteResult ConfigWrite(uint32_t offset,
                                        absl::Span<const uint8_t> data) = 0;
  // Called just before ConfigWrite with the same access, on the vCPU
  // thread making it, without PciRoot's lock: a device may make that vCPU
  // wait here (vfio-pci holds Bus Master Enable until guest RAM is mapped
  // for DMA) while other vCPUs' config accesses go on. The default does
  // nothing.
  virtual void BeforeConfigWrite(uint32_t offset,
                                 absl::Span<const uint8_t> data);

  // The handler for BAR `index` (0-5 or kRomBar), offsets relative to the
  // BAR start. The default MapBar registers it; null means "nothing to map"
  // (MapBar then fails). The default returns null.
  virtual std::shared_ptr<BusDevice> BarHandler(int index);

  // Makes `bar` decode on `bus` (the PIO bus for I/O BARs, else MMIO).
  // Failure (e.g. the guest put the BAR over something else) leaves the BAR
  // unmapped; PciRoot logs it. Default: bus.Register(BarHandler(index)).
  virtual absl::Status MapBar(const BarRegion& bar, Bus& bus);
  // Undoes a successful MapBar of `bar`. Default: bus.Unregister.
  virtual absl::Status UnmapBar(const BarRegion& bar, Bus& bus);

  // Where PciRoot put the device (set before Attach). The default MapBar
  // names its bus ranges after it ("PCI 00:01.0 BAR 0"), which is how the
  // bus counts (--stats) tell devices apart.
  const PciAddress& address() const { return address_; }

 private:
  friend class PciRoot;
  PciAddress address_;
};

}  // namespace microvm::pci

#endif  // MICROVM_PCI_PCI_DEVICE_H_
