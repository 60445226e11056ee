// SPDX-License-Identifier: Apache-2.0
#include "devices/vfio_pci/virtual_config.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "base/linux_uapi.h"
#include "base/status.h"

namespace microvm::vfio_pci {
namespace {

using pci::ConfigSpace;

// BAR low bits (PCI Local Bus 3.0 6.2.5.1).
constexpr uint32_t kBarIo = 1 << 0;
constexpr uint32_t kBarTypeMask = 3 << 1;
constexpr uint32_t kBarType64 = 2 << 1;
constexpr uint32_t kBarPrefetchable = 1 << 3;
constexpr uint8_t kHeaderTypeMultiFunction = 0x80;
// A capability chain longer than this loops (at most 48 dwords fit).
constexpr int kMaxCapabilities = 48;

uint32_t Get(absl::Span<const uint8_t> hw, uint32_t offset, size_t size) {
  uint32_t value = 0;
  for (size_t i = 0; i < size; ++i) {
    if (offset + i < hw.size()) value |= uint32_t{hw[offset + i]} << (8 * i);
  }
  return value;
}

uint32_t IrqCount(const vfio::DeviceInfo& info, uint32_t index) {
  return index < info.irqs.size() ? info.irqs[index].count : 0;
}

uint64_t RegionSize(const vfio::DeviceInfo& info, uint32_t index) {
  return index < info.regions.size() ? info.regions[index].size : 0;
}

uint32_t FloorPowerOfTwo(uint32_t x) {
  uint32_t p = 1;
  while (p * 2 <= x && p < 32) p *= 2;
  return p;
}

// Capabilities a guest driver can use through vfio-pci; the rest (VPD,
// PCI-X, hot-plug, AGP, ...) are left out of the chain.
bool Keep(uint8_t id) {
  switch (id) {
    case pci::kCapPowerManagement:
    case pci::kCapMsi:
    case pci::kCapVendor:
    case pci::kCapPciExpress:
    case pci::kCapMsix:
      return true;
    default:
      return false;
  }
}

}  // namespace

absl::StatusOr<VirtualConfig> VirtualConfig::Create(
    absl::Span<const uint8_t> hw, const vfio::DeviceInfo& info) {
  if (hw.size() < ConfigSpace::kConventionalSize) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "vfio-pci %s: config space is %u bytes, less than the 256 of a PCI "
        "function",
        info.name, hw.size()));
  }
  hw = hw.subspan(0, std::min<size_t>(hw.size(), ConfigSpace::kExtendedSize));
  if ((Get(hw, pci::kHeaderType, 1) & 0x7f) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "vfio-pci %s: header type 0x%02x is not a type-0 (endpoint) header; "
        "bridges cannot be passed through",
        info.name, Get(hw, pci::kHeaderType, 1)));
  }
  pci::PciIds ids;
  ids.vendor_id = Get(hw, pci::kVendorId, 2);
  ids.device_id = Get(hw, pci::kDeviceId, 2);
  ids.class_code = Get(hw, pci::kClassCode, 3);
  ids.revision_id = Get(hw, pci::kRevisionId, 1);
  ids.subsystem_vendor_id = Get(hw, pci::kSubsystemVendorId, 2);
  ids.subsystem_id = Get(hw, pci::kSubsystemId, 2);
  uint8_t pin = Get(hw, pci::kInterruptPin, 1);
  if (pin > 4 || IrqCount(info, VFIO_PCI_INTX_IRQ_INDEX) == 0) pin = 0;

  VirtualConfig config(
      pci::PciHeader(ids, static_cast<pci::IntxPin>(pin),
                     ConfigSpace::kExtendedSize));
  ConfigSpace& image = config.header_.config();
  // Min_Gnt / Max_Lat are informational; show the device's.
  image.Set16(0x3e, Get(hw, 0x3e, 2));
  // Command and Status are the device's: decode, bus master and INTx
  // disable must reach it, and its Status is live.
  config.Emulate(pci::kCommand, 2, /*passthrough=*/true);
  for (uint32_t i = pci::kStatus; i < pci::kStatus + 2; ++i) {
    config.emulated_[i] = 0;
    config.passthrough_[i] = 1;
  }
  // The rest of the conventional space is the device's until the
  // capability walk claims parts of it. Past it (and past the device's
  // own space) stays emulated as zeros.
  const uint32_t conventional =
      std::min<uint32_t>(hw.size(), ConfigSpace::kFirstExtendedCapability);
  for (uint32_t i = ConfigSpace::kFirstCapability; i < conventional; ++i) {
    config.emulated_[i] = 0;
    config.passthrough_[i] = 1;
    image.Set8(i, hw[i]);
  }
  MVM_RETURN_IF_ERROR(config.AddBars(hw, info));
  MVM_RETURN_IF_ERROR(config.AddCapabilities(hw, info));
  return config;
}

void VirtualConfig::Emulate(uint32_t offset, uint32_t size, bool passthrough) {
  for (uint32_t i = offset; i < offset + size && i < emulated_.size(); ++i) {
    emulated_[i] = 1;
    passthrough_[i] = passthrough ? 1 : 0;
  }
}

absl::Status VirtualConfig::AddBars(absl::Span<const uint8_t> hw,
                                    const vfio::DeviceInfo& info) {
  for (int i = 0; i < pci::kNumBars; ++i) {
    const uint64_t size = RegionSize(info, VFIO_PCI_BAR0_REGION_INDEX + i);
    if (size == 0) continue;
    // The type bits of the device's BAR; vfio-pci in the kernel keeps them
    // when it virtualizes the address.
    const uint32_t raw = Get(hw, pci::kBar0 + 4 * i, 4);
    pci::BarSpec spec;
    spec.size = size;
    if (raw & kBarIo) {
      spec.type = pci::BarType::kIo;
    } else {
      spec.type = (raw & kBarTypeMask) == kBarType64 ? pci::BarType::kMemory64
                                                     : pci::BarType::kMemory32;
      spec.prefetchable = raw & kBarPrefetchable;
    }
    absl::Status status = header_.AddBar(i, spec);
    if (!status.ok()) {
      return Annotate(status,
                      absl::StrFormat("vfio-pci %s: declaring BAR %d (0x%x "
                                      "bytes, register 0x%08x)",
                                      info.name, i, size, raw));
    }
    if (spec.type == pci::BarType::kMemory64) ++i;
  }
  const uint64_t rom = RegionSize(info, VFIO_PCI_ROM_REGION_INDEX);
  // A ROM of a size the PCI spec does not allow stays hidden (the guest
  // does not need it to drive the device).
  if (rom != 0) (void)header_.AddRom(rom);
  return absl::OkStatus();
}

absl::Status VirtualConfig::AddCapabilities(absl::Span<const uint8_t> hw,
                                            const vfio::DeviceInfo& info) {
  ConfigSpace& image = header_.config();
  const uint32_t limit =
      std::min<uint32_t>(hw.size(), ConfigSpace::kFirstExtendedCapability);
  std::vector<uint32_t> kept;
  uint32_t at = (Get(hw, pci::kStatus, 2) & pci::kStatusCapList)
                    ? Get(hw, pci::kCapabilitiesPointer, 1) & ~3u
                    : 0;
  for (int n = 0; n < kMaxCapabilities && at >= ConfigSpace::kFirstCapability &&
                  at + 2 <= limit;
       ++n) {
    const uint8_t id = hw[at];
    const uint32_t next = hw[at + 1] & ~3u;
    // The links are ours in every case: the chain the guest walks.
    Emulate(at, 2, /*passthrough=*/false);
    bool keep = Keep(id);
    if (id == pci::kCapMsi) keep = !msi_ && AddMsi(at, hw, info);
    if (id == pci::kCapMsix) keep = !msix_ && AddMsix(at, hw, info);
    if (keep && std::find(kept.begin(), kept.end(), at) == kept.end()) {
      kept.push_back(at);
    }
    if (next == at) break;
    at = next;
  }
  image.Set8(pci::kCapabilitiesPointer, kept.empty() ? 0 : kept.front());
  for (size_t i = 0; i < kept.size(); ++i) {
    image.Set8(kept[i], hw[kept[i]]);
    image.Set8(kept[i] + 1, i + 1 < kept.size() ? kept[i + 1] : 0);
  }
  return absl::OkStatus();
}

bool VirtualConfig::AddMsi(uint32_t at, absl::Span<const uint8_t> hw,
                           const vfio::DeviceInfo& info) {
  const uint32_t host = IrqCount(info, VFIO_PCI_MSI_IRQ_INDEX);
  if (host == 0) return false;
  const uint16_t control = Get(hw, at + 2, 2);
  pci::MsiConfig msi;
  msi.vectors = std::min<uint32_t>(1u << ((control >> 1) & 7), 32);
  msi.vectors = std::min(msi.vectors, FloorPowerOfTwo(host));
  msi.address64 = control & pci::MsiCapability::kAddress64;
  msi.per_vector_mask = control & pci::MsiCapability::kPerVectorMask;
  Scratch scratch;
  absl::StatusOr<pci::MsiCapability> cap =
      pci::MsiCapability::Add(scratch.space, msi);
  if (!cap.ok()) return false;
  scratch.hw = at;
  scratch.scratch = cap->offset();
  scratch.length = (cap->length() + 3) & ~3u;
  if (at + scratch.length > ConfigSpace::kFirstExtendedCapability) {
    return false;
  }
  Emulate(at, scratch.length, /*passthrough=*/false);
  msi_hw_ = at;
  msi_ = *cap;
  msi_space_ = std::move(scratch);
  Mirror(*msi_space_);
  return true;
}

bool VirtualConfig::AddMsix(uint32_t at, absl::Span<const uint8_t> hw,
                            const vfio::DeviceInfo& info) {
  if (IrqCount(info, VFIO_PCI_MSIX_IRQ_INDEX) == 0 ||
      at + pci::MsixCapability::kLength >
          ConfigSpace::kFirstExtendedCapability) {
    return false;
  }
  const uint16_t control = Get(hw, at + 2, 2);
  const uint32_t table = Get(hw, at + 4, 4);
  const uint32_t pba = Get(hw, at + 8, 4);
  pci::MsixConfig layout;
  layout.table_size = (control & 0x7ff) + 1;
  layout.table_bar = table & 7;
  layout.table_offset = table & ~7u;
  layout.pba_bar = pba & 7;
  layout.pba_offset = pba & ~7u;
  // Both structures must sit inside memory BARs the guest can see
  // (6.8.2.4); otherwise the capability cannot be emulated.
  auto fits = [&](uint8_t bar, uint64_t offset, uint64_t bytes) {
    std::optional<pci::BarSpec> spec = header_.bar(bar);
    return bar < pci::kNumBars && spec && spec->type != pci::BarType::kIo &&
           offset <= spec->size && bytes <= spec->size - offset;
  };
  const pci::MsixTable sizes(layout.table_size);
  if (!fits(layout.table_bar, layout.table_offset, sizes.table_bytes()) ||
      !fits(layout.pba_bar, layout.pba_offset, sizes.pba_bytes())) {
    return false;
  }
  Scratch scratch;
  absl::StatusOr<pci::MsixCapability> cap =
      pci::MsixCapability::Add(scratch.space, layout);
  if (!cap.ok()) return false;
  scratch.hw = at;
  scratch.scratch = cap->offset();
  scratch.length = pci::MsixCapability::kLength;
  Emulate(at, scratch.length, /*passthrough=*/false);
  msix_hw_ = at;
  msix_ = *cap;
  msix_layout_ = layout;
  msix_space_ = std::move(scratch);
  Mirror(*msix_space_);
  return true;
}

void VirtualConfig::Mirror(const Scratch& cap) {
  // ID and next pointer (the first two bytes) belong to the chain.
  for (uint32_t i = 2; i < cap.length; ++i) {
    header_.config().Set8(cap.hw + i, cap.space.Get8(cap.scratch + i));
  }
}

bool VirtualConfig::WriteScratch(Scratch& cap, uint32_t offset,
                                 absl::Span<const uint8_t> data) {
  if (offset >= cap.hw + cap.length || offset + data.size() <= cap.hw) {
    return false;
  }
  // Capabilities are dword aligned and guest accesses stay inside one
  // dword (ConfigSpace::ValidAccess), so the access lies inside the
  // dword-rounded capability.
  if (offset < cap.hw) return false;
  cap.space.Write(cap.scratch + (offset - cap.hw), data);
  return true;
}

bool VirtualConfig::NeedsDevice(uint32_t offset, size_t size) const {
  for (size_t i = 0; i < size; ++i) {
    if (offset + i < emulated_.size() && !emulated_[offset + i]) return true;
  }
  return false;
}

void VirtualConfig::Read(uint32_t offset, absl::Span<uint8_t> data,
                         absl::Span<const uint8_t> device) const {
  header_.Read(offset, data);
  for (size_t i = 0; i < data.size(); ++i) {
    if (offset + i < emulated_.size() && !emulated_[offset + i] &&
        i < device.size()) {
      data[i] = device[i];
    }
  }
}

VirtualConfig::WriteEffects VirtualConfig::Write(
    uint32_t offset, absl::Span<const uint8_t> data, pci::MsixTable* table) {
  WriteEffects effects;
  if (!ConfigSpace::ValidAccess(offset, data.size())) return effects;
  // The image takes what its writable masks allow (Command, BARs, ROM,
  // Interrupt Line); everything else in it is read-only.
  effects.bars = header_.Write(offset, data);
  // Runs of passthrough bytes go to the device.
  for (size_t i = 0; i < data.size();) {
    if (!passthrough_[offset + i]) {
      ++i;
      continue;
    }
    DeviceWrite write{static_cast<uint32_t>(offset + i), {}};
    while (i < data.size() && passthrough_[offset + i]) {
      write.data.push_back(data[i++]);
    }
    effects.device.push_back(std::move(write));
  }
  if (msi_ && WriteScratch(*msi_space_, offset, data)) {
    effects.msi = msi_->Update(msi_space_->space);
    Mirror(*msi_space_);
  }
  if (msix_ && table != nullptr && WriteScratch(*msix_space_, offset, data)) {
    effects.msix = msix_->Update(msix_space_->space, *table);
    Mirror(*msix_space_);
  }
  return effects;
}

VirtualConfig::WriteEffects VirtualConfig::DisableInterrupts(
    pci::MsixTable* table) {
  WriteEffects effects;
  if (msi_) {
    ConfigSpace& space = msi_space_->space;
    const uint32_t control = msi_space_->scratch + 2;
    space.Set16(control,
                space.Get16(control) & ~pci::MsiCapability::kEnable);
    effects.msi = msi_->Update(space);
    Mirror(*msi_space_);
  }
  if (msix_ && table != nullptr) {
    ConfigSpace& space = msix_space_->space;
    const uint32_t control = msix_space_->scratch + 2;
    space.Set16(control, space.Get16(control) &
                             ~(pci::MsixCapability::kEnable |
                               pci::MsixCapability::kFunctionMask));
    effects.msix = msix_->Update(space, *table);
    Mirror(*msix_space_);
  }
  return effects;
}

}  // namespace microvm::vfio_pci
