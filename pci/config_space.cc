// SPDX-License-Identifier: Apache-2.0
#include "pci/config_space.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace microvm::pci {
namespace {

// Longest chain a walk follows: 192 bytes of standard capabilities hold at
// most 48 dword-aligned entries, 3840 bytes of extended ones at most 960.
constexpr int kMaxCapabilities = 48;
constexpr int kMaxExtendedCapabilities = 960;

}  // namespace

ConfigSpace::ConfigSpace(uint32_t size)
    : image_(size == kConventionalSize ? kConventionalSize : kExtendedSize),
      writable_(image_.size()),
      w1c_(image_.size()) {}

bool ConfigSpace::ValidAccess(uint32_t offset, size_t size) {
  if (size != 1 && size != 2 && size != 4) return false;
  if (offset >= kExtendedSize) return false;
  return (offset % 4) + size <= 4;
}

void ConfigSpace::Read(uint32_t offset, absl::Span<uint8_t> data) const {
  std::fill(data.begin(), data.end(), 0);
  if (!ValidAccess(offset, data.size())) return;
  for (size_t i = 0; i < data.size(); ++i) {
    if (offset + i < image_.size()) data[i] = image_[offset + i];
  }
}

void ConfigSpace::Write(uint32_t offset, absl::Span<const uint8_t> data) {
  if (!ValidAccess(offset, data.size())) return;
  for (size_t i = 0; i < data.size() && offset + i < image_.size(); ++i) {
    const size_t at = offset + i;
    uint8_t value = (image_[at] & ~writable_[at]) | (data[i] & writable_[at]);
    value &= ~(data[i] & w1c_[at]);
    image_[at] = value;
  }
}

uint32_t ConfigSpace::Get(uint32_t offset, size_t size) const {
  uint32_t value = 0;
  for (size_t i = 0; i < size && i < 4; ++i) {
    if (offset + i < image_.size()) {
      value |= static_cast<uint32_t>(image_[offset + i]) << (8 * i);
    }
  }
  return value;
}

void ConfigSpace::Set(uint32_t offset, size_t size, uint32_t value) {
  for (size_t i = 0; i < size && i < 4; ++i) {
    if (offset + i < image_.size()) image_[offset + i] = value >> (8 * i);
  }
}

void ConfigSpace::SetWritable(uint32_t offset, size_t size, uint32_t mask) {
  for (size_t i = 0; i < size && i < 4; ++i) {
    if (offset + i >= image_.size()) break;
    writable_[offset + i] = mask >> (8 * i);
    w1c_[offset + i] &= ~writable_[offset + i];
  }
}

void ConfigSpace::SetW1c(uint32_t offset, size_t size, uint32_t mask) {
  for (size_t i = 0; i < size && i < 4; ++i) {
    if (offset + i >= image_.size()) break;
    w1c_[offset + i] = mask >> (8 * i);
    writable_[offset + i] &= ~w1c_[offset + i];
  }
}

uint32_t ConfigSpace::Writable(uint32_t offset, size_t size) const {
  uint32_t mask = 0;
  for (size_t i = 0; i < size && i < 4; ++i) {
    if (offset + i < image_.size()) {
      mask |= static_cast<uint32_t>(writable_[offset + i]) << (8 * i);
    }
  }
  return mask;
}

absl::StatusOr<uint32_t> ConfigSpace::AddCapability(uint8_t id,
                                                    uint32_t length) {
  if (length < 2 || length > kConventionalSize) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "PCI capability 0x%02x: length %u is not in [2, 256]", id, length));
  }
  // Capabilities sit dword-aligned in the device-specific area (6.7: "the
  // bottom two bits of each pointer are reserved").
  const uint32_t at = next_cap_;
  if (at + length > kConventionalSize) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "PCI capability 0x%02x (%u bytes) does not fit: only %u bytes free "
        "below 0x100",
        id, length, kConventionalSize - at));
  }
  Set8(at, id);
  Set8(at + 1, 0);
  if (last_cap_ == 0) {
    Set8(kCapabilitiesPointer, static_cast<uint8_t>(at));
  } else {
    Set8(last_cap_ + 1, static_cast<uint8_t>(at));
  }
  Set16(kStatus, Get16(kStatus) | kStatusCapList);
  last_cap_ = at;
  next_cap_ = (at + length + 3) & ~3u;
  return at;
}

absl::StatusOr<uint32_t> ConfigSpace::AddExtendedCapability(uint16_t id,
                                                            uint8_t version,
                                                            uint32_t length) {
  if (size() != kExtendedSize) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "PCIe extended capability 0x%04x needs a 4 KiB config space", id));
  }
  if (length < 4 || length > kExtendedSize - kFirstExtendedCapability) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "PCIe extended capability 0x%04x: bad length %u", id, length));
  }
  const uint32_t at = next_ext_cap_;
  if (at + length > kExtendedSize) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "PCIe extended capability 0x%04x (%u bytes) does not fit: only %u "
        "bytes free",
        id, length, kExtendedSize - at));
  }
  // Header: ID in 15:0, version in 19:16, next offset in 31:20.
  Set32(at, id | (static_cast<uint32_t>(version & 0xf) << 16));
  if (last_ext_cap_ != 0) {
    Set32(last_ext_cap_, (Get32(last_ext_cap_) & 0xfffff) | (at << 20));
  }
  last_ext_cap_ = at;
  next_ext_cap_ = (at + length + 3) & ~3u;
  return at;
}

std::vector<uint32_t> ConfigSpace::Capabilities() const {
  std::vector<uint32_t> out;
  if (Get16(kStatus) & kStatusCapList) {
    uint32_t at = Get8(kCapabilitiesPointer) & ~3u;
    for (int n = 0; at >= kFirstCapability && n < kMaxCapabilities; ++n) {
      out.push_back(at);
      at = Get8(at + 1) & ~3u;
    }
  }
  if (size() == kExtendedSize) {
    uint32_t at = kFirstExtendedCapability;
    for (int n = 0; n < kMaxExtendedCapabilities; ++n) {
      const uint32_t header = Get32(at);
      // An all-zero header at 0x100 means "no extended capabilities".
      if (header == 0) break;
      out.push_back(at);
      at = (header >> 20) & ~3u;
      if (at < kFirstExtendedCapability) break;
    }
  }
  return out;
}

std::optional<uint32_t> ConfigSpace::FindCapability(uint8_t id) const {
  for (uint32_t at : Capabilities()) {
    if (at < kFirstExtendedCapability && Get8(at) == id) return at;
  }
  return std::nullopt;
}

std::optional<uint32_t> ConfigSpace::FindExtendedCapability(uint16_t id) const {
  for (uint32_t at : Capabilities()) {
    if (at >= kFirstExtendedCapability && Get16(at) == id) return at;
  }
  return std::nullopt;
}

}  // namespace microvm::pci
