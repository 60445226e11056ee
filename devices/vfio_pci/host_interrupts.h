// SPDX-License-Identifier: Apache-2.0
// The host side of a passed-through function's interrupts: which VFIO
// interrupt index is on, the eventfds handed to VFIO, and the guest
// routes (MsiVectors, the INTx irqfd) behind them. MSI and MSI-X apply the
// actions the pci/ state machines return; INTx is on whenever neither is.
// Interrupts go from the device to the guest through eventfds without the
// VMM, except INTx in IntxMode::kUserspace, where the owner handles the
// trigger eventfd (see VfioPciDevice).
//
// Not thread-safe: the owning device calls it under its lock.
#ifndef MICROVM_DEVICES_VFIO_PCI_HOST_INTERRUPTS_H_
#define MICROVM_DEVICES_VFIO_PCI_HOST_INTERRUPTS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "base/event_fd.h"
#include "base/irq.h"
#include "devices/vfio/device_backend.h"
#include "devices/vfio_pci/vfio_pci_device.h"
#include "pci/msi_message.h"

namespace microvm::vfio_pci {

class HostInterrupts {
 public:
  enum class Active { kNone, kIntx, kMsi, kMsix };

  // `device` and `irqs` must outlive this. Makes the INTx eventfds.
  static absl::StatusOr<std::unique_ptr<HostInterrupts>> Create(
      const vfio::DeviceBackend& device, InterruptController& irqs,
      IntxMode mode);
  ~HostInterrupts();
  HostInterrupts(const HostInterrupts&) = delete;
  HostInterrupts& operator=(const HostInterrupts&) = delete;

  // The function's INTx line (from PciDevice::Attach); turns INTx on.
  absl::Status AttachIntx(std::unique_ptr<IrqLine> line);

  // Apply what MsiCapability / MsixCapability / MsixTable returned.
  // Enabling either turns INTx off first; disabling turns INTx back on.
  absl::Status ApplyMsi(const pci::MsiActions& actions);
  absl::Status ApplyMsix(const pci::MsiActions& actions);

  // Everything off, MSI-X, then MSI, then INTx (teardown and reset).
  void Shutdown();
  // INTx back on after a reset (when neither MSI nor MSI-X is).
  absl::Status Restart();

  Active active() const { return active_; }
  IntxMode intx_mode() const { return mode_; }
  // Userspace INTx: the eventfd VFIO signals, and the line to drive.
  const EventFd& intx_trigger() const { return intx_trigger_; }
  IrqLine* intx_line() const { return intx_line_.get(); }
  // Userspace INTx: VFIO masked INTx when it fired; the guest has handled
  // it, so unmask.
  absl::Status UnmaskIntx() const;
  // Host MSI-X vectors VFIO has allocated (for tests and leak checks).
  uint32_t msix_host_vectors() const { return msix_host_count_; }
  // Whether vector `v` of the active MSI-X has a host eventfd with an
  // undelivered interrupt (for the PBA of a masked vector).
  bool MsixPending(uint32_t v) const;

 private:
  HostInterrupts(const vfio::DeviceBackend& device, InterruptController& irqs,
                 IntxMode mode, EventFd trigger, EventFd resample)
      : device_(device),
        irqs_(irqs),
        mode_(mode),
        intx_trigger_(std::move(trigger)),
        intx_resample_(std::move(resample)) {}

  absl::Status EnableIntx();
  void DisableIntx();
  absl::Status EnableMsi(uint32_t count);
  absl::Status EnableMsix();
  absl::Status DisableMsiOrMsix(uint32_t index);
  // ApplyMsi (kind kMsi) and ApplyMsix (kMsix): the same actions, on that
  // capability's vectors.
  absl::Status Apply(Active kind, const pci::MsiActions& actions);
  // Unmasks `v` of `vectors` (allocating its MsiVector), delivering once if
  // `pending`.
  absl::Status Unmask(std::vector<std::unique_ptr<MsiVector>>& vectors,
                      uint32_t v, const pci::MsiMessage& message,
                      bool pending);
  // Gives MSI-X vector `v`'s eventfd to VFIO, growing the host allocation
  // when the kernel cannot add vectors to an enabled MSI-X.
  absl::Status WireMsixVector(uint32_t v);
  std::string Name() const { return device_.info().name; }

  const vfio::DeviceBackend& device_;
  InterruptController& irqs_;
  IntxMode mode_;
  EventFd intx_trigger_;
  EventFd intx_resample_;
  std::unique_ptr<IrqLine> intx_line_;
  std::unique_ptr<IrqfdBinding> intx_binding_;
  Active active_ = Active::kNone;
  std::vector<std::unique_ptr<MsiVector>> msi_vectors_;
  std::vector<std::unique_ptr<MsiVector>> msix_vectors_;
  std::vector<bool> msix_wired_;  // eventfd given to VFIO
  uint32_t msix_host_count_ = 0;
};

}  // namespace microvm::vfio_pci

#endif  // MICROVM_DEVICES_VFIO_PCI_HOST_INTERRUPTS_H_
