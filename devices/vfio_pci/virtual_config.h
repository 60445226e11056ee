// SPDX-License-Identifier: Apache-2.0
// The guest's view of a passed-through function's config space: the
// device's own registers with the parts a guest must not reach (or that
// the VMM owns) virtualized, as QEMU hw/vfio/pci.c does. Pure logic: the
// caller reads and writes the device; this class says which bytes come
// from where and what a write means.
//
// Per byte, two facts: "emulated" (reads come from the image here) and
// "passthrough" (guest writes go to the device). Emulated: the whole
// type-0 header except Status (IDs and BARs from the device at creation,
// BAR sizes from the VFIO regions, Header Type without the multi-function
// bit, the ROM BAR, interrupt line/pin), the capability chain links (so
// capabilities a guest cannot use are skipped), the MSI and MSI-X
// capabilities (state machines from pci/, kept in a scratch ConfigSpace
// and mirrored at the device's own offsets, so a driver finds them where
// the hardware has them; their enable bits become VFIO_DEVICE_SET_IRQS
// calls, never device writes), and the whole extended space (the guest
// sees a conventional function: no extended capabilities). Passthrough:
// Command (decode, bus master and INTx disable must reach the device; the
// kernel's vfio-pci filters it again) and Status (RW1C error bits), and
// the bodies of the capabilities left in the chain (power management,
// PCI Express, vendor-specific), which vfio-pci in the kernel virtualizes
// further. The BAR registers of the real device are never written.
#ifndef MICROVM_DEVICES_VFIO_PCI_VIRTUAL_CONFIG_H_
#define MICROVM_DEVICES_VFIO_PCI_VIRTUAL_CONFIG_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "devices/vfio/info.h"
#include "pci/config_space.h"
#include "pci/msi.h"
#include "pci/msix.h"
#include "pci/pci_header.h"

namespace microvm::vfio_pci {

class VirtualConfig {
 public:
  // A write the caller must make to the device's config region.
  struct DeviceWrite {
    uint32_t offset = 0;
    std::vector<uint8_t> data;
    bool operator==(const DeviceWrite&) const = default;
  };
  // What a guest config write means.
  struct WriteEffects {
    pci::ConfigWriteResult bars;  // for PciRoot
    pci::MsiActions msi;
    pci::MsiActions msix;
    std::vector<DeviceWrite> device;
  };

  // `hw` is the device's config space as read from VFIO's config region
  // (256 or 4096 bytes); `info` gives BAR/ROM sizes and interrupt counts.
  static absl::StatusOr<VirtualConfig> Create(absl::Span<const uint8_t> hw,
                                              const vfio::DeviceInfo& info);

  const pci::PciHeader& header() const { return header_; }
  // MSI-X layout when the capability is exposed.
  const std::optional<pci::MsixConfig>& msix() const { return msix_layout_; }
  bool has_msi() const { return msi_.has_value(); }
  uint32_t msi_offset() const { return msi_ ? msi_hw_ : 0; }
  uint32_t msix_offset() const { return msix_ ? msix_hw_ : 0; }

  // Whether a guest read of [offset, offset+size) needs the device's
  // current bytes (some byte is not emulated).
  bool NeedsDevice(uint32_t offset, size_t size) const;
  // A well-formed guest read (ConfigSpace::ValidAccess); `device` holds the
  // device's bytes at `offset` when NeedsDevice, else is ignored.
  void Read(uint32_t offset, absl::Span<uint8_t> data,
            absl::Span<const uint8_t> device) const;
  // A well-formed guest write. `table` is the MSI-X table the device
  // emulates (null when msix() is empty).
  WriteEffects Write(uint32_t offset, absl::Span<const uint8_t> data,
                     pci::MsixTable* table);
  // Clears MSI and MSI-X Enable (for a device reset); returns the actions.
  WriteEffects DisableInterrupts(pci::MsixTable* table);

 private:
  // An emulated capability: its registers live at `scratch` in `space`
  // (where pci/ put it) and show at `hw` in the guest's view.
  struct Scratch {
    uint32_t hw = 0;
    uint32_t scratch = 0;
    uint32_t length = 0;  // dword-rounded
    pci::ConfigSpace space{pci::ConfigSpace::kConventionalSize};
  };

  explicit VirtualConfig(const pci::PciHeader& header) : header_(header) {}
  absl::Status AddBars(absl::Span<const uint8_t> hw,
                       const vfio::DeviceInfo& info);
  // Walks the device's capability chain, keeps what a guest can use and
  // sets up MSI / MSI-X emulation.
  absl::Status AddCapabilities(absl::Span<const uint8_t> hw,
                               const vfio::DeviceInfo& info);
  bool AddMsi(uint32_t at, absl::Span<const uint8_t> hw,
              const vfio::DeviceInfo& info);
  bool AddMsix(uint32_t at, absl::Span<const uint8_t> hw,
               const vfio::DeviceInfo& info);
  void Emulate(uint32_t offset, uint32_t size, bool passthrough);
  // Copies a scratch capability's registers (past ID/next) into the image.
  void Mirror(const Scratch& cap);
  // Applies the part of a guest write that falls in `cap` to its scratch
  // space; false if the write misses it.
  static bool WriteScratch(Scratch& cap, uint32_t offset,
                           absl::Span<const uint8_t> data);

  pci::PciHeader header_;
  std::vector<uint8_t> emulated_ =
      std::vector<uint8_t>(pci::ConfigSpace::kExtendedSize, 1);
  std::vector<uint8_t> passthrough_ =
      std::vector<uint8_t>(pci::ConfigSpace::kExtendedSize, 0);

  uint32_t msi_hw_ = 0;
  std::optional<Scratch> msi_space_;
  std::optional<pci::MsiCapability> msi_;
  uint32_t msix_hw_ = 0;
  std::optional<Scratch> msix_space_;
  std::optional<pci::MsixCapability> msix_;
  std::optional<pci::MsixConfig> msix_layout_;
};

}  // namespace microvm::vfio_pci

#endif  // MICROVM_DEVICES_VFIO_PCI_VIRTUAL_CONFIG_H_
