// SPDX-License-Identifier: Apache-2.0
// vfio-pci: a host PCI function passed through to the guest (the PCI-device
// layer of STYLE.md pattern 8, on top of vfio::DeviceBackend).
//
// The device presents the host function's own config space with the parts a
// guest must not reach virtualized (QEMU hw/vfio/pci.c does the same):
// BARs and the ROM BAR (sizes from the VFIO regions), the command register's
// decode bits, interrupt line/pin, and the MSI / MSI-X capabilities, which
// are emulated at the device's own offsets and whose enable bits become
// VFIO_DEVICE_SET_IRQS calls. Everything else passes through.
//
// BARs: mmappable areas go straight into the guest as KVM memslots (no
// exits); the MSI-X table and PBA pages and non-mmappable parts trap and
// are forwarded (or emulated, for MSI-X). Interrupts go from the host
// device to the guest through eventfds without the VMM: MSI/MSI-X by irqfd,
// INTx by irqfd with resample (or, where KVM cannot resample, through the
// event loop with BAR mmaps switched off while an INTx is pending).
#ifndef MICROVM_DEVICES_VFIO_PCI_VFIO_PCI_DEVICE_H_
#define MICROVM_DEVICES_VFIO_PCI_VFIO_PCI_DEVICE_H_

#include <memory>

#include "absl/status/statusor.h"
#include "base/event_loop.h"
#include "base/guest_mapper.h"
#include "base/irq.h"
#include "devices/vfio/device_backend.h"
#include "devices/vfio/dma_gate.h"
#include "pci/pci_device.h"

namespace microvm::vfio_pci {

enum class IntxMode {
  // KVM irqfd with KVM_IRQFD_FLAG_RESAMPLE: INTx never passes the VMM.
  kIrqfdResample,
  // The VMM watches the INTx eventfd and drives the IrqLine itself.
  kUserspace,
};

struct Context {
  InterruptController& irqs;
  GuestMapper& mapper;
  EventLoop& loop;
  // Falls back to kUserspace if BindLevelIrqfd says Unimplemented.
  IntxMode intx_mode = IntxMode::kIrqfdResample;
  // Userspace INTx: BAR mmaps come back after this long without an INTx
  // (QEMU's x-intx-mmap-timeout-ms, same default).
  int intx_mmap_timeout_ms = 1100;
  // False: no BAR is mmapped, every access traps and goes through the VMM
  // (QEMU's x-no-mmap): slow, for comparison and debugging.
  bool mmap_bars = true;
  // Guest RAM still being mapped for DMA (--dma_map=overlap): the guest's
  // Bus Master Enable reaches the function only once this is open; the
  // writing vCPU waits for it. Null: RAM was mapped before the guest ran.
  vfio::DmaGate* dma_gate = nullptr;
};

// What the VMM may do with a vfio-pci device beyond PciDevice. The object
// MakeVfioPciDevice returns is one (std::dynamic_pointer_cast to reach it).
class VfioPciDevice : public pci::PciDevice {
 public:
  // VM reset / teardown: turns every interrupt off (MSI-X, MSI, INTx, in
  // that order), then resets the function through VFIO when it can
  // (FailedPrecondition otherwise; the interrupts are off either way).
  virtual absl::Status Reset() = 0;
};

// Builds the PCI device for an opened VFIO PCI function. `context`'s
// references must outlive it. The function may outlive the device: a VM that
// reboots in place builds a new device on the same opened function, and the
// device's destructor turns off every interrupt it set and unmaps its BARs.
absl::StatusOr<std::shared_ptr<pci::PciDevice>> MakeVfioPciDevice(
    std::shared_ptr<vfio::DeviceBackend> device, const Context& context);

}  // namespace microvm::vfio_pci

#endif  // MICROVM_DEVICES_VFIO_PCI_VFIO_PCI_DEVICE_H_
