// SPDX-License-Identifier: Apache-2.0
#include "pci/msix.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"

namespace microvm::pci {
namespace {

bool ValidTableAccess(uint64_t offset, size_t size, uint64_t limit) {
  return (size == 4 || size == 8) && offset % size == 0 && offset < limit &&
         size <= limit - offset;
}

uint64_t Load(absl::Span<const uint8_t> data) {
  uint64_t value = 0;
  for (size_t i = 0; i < data.size(); ++i)
    value |= uint64_t{data[i]} << (8 * i);
  return value;
}

void Store(uint64_t value, absl::Span<uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) data[i] = value >> (8 * i);
}

}  // namespace

absl::StatusOr<MsixCapability> MsixCapability::Add(ConfigSpace& config,
                                                   const MsixConfig& msix) {
  if (msix.table_size == 0 || msix.table_size > MsixTable::kMaxVectors) {
    return absl::InvalidArgumentError(
        absl::StrFormat("MSI-X capability: table size %u is not in [1, 2048]",
                        msix.table_size));
  }
  if (msix.table_bar > 5 || msix.pba_bar > 5 || msix.table_offset % 8 != 0 ||
      msix.pba_offset % 8 != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "MSI-X capability: table (BAR %u + 0x%x) or PBA (BAR %u + 0x%x) is "
        "not a BAR 0-5 at an 8-byte aligned offset",
        msix.table_bar, msix.table_offset, msix.pba_bar, msix.pba_offset));
  }
  auto offset = config.AddCapability(kCapMsix, kLength);
  if (!offset.ok()) return offset.status();
  const uint32_t at = *offset;
  config.Set16(at + 2, msix.table_size - 1);  // Table Size is N-1
  config.SetWritable(at + 2, 2, kEnable | kFunctionMask);
  config.Set32(at + 4, msix.table_offset | msix.table_bar);
  config.Set32(at + 8, msix.pba_offset | msix.pba_bar);
  return MsixCapability(at, msix);
}

MsiActions MsixCapability::Update(const ConfigSpace& config,
                                  MsixTable& table) const {
  const uint16_t control = config.Get16(offset_ + 2);
  return table.SetControl(control & kEnable, control & kFunctionMask);
}

MsixTable::MsixTable(uint32_t size)
    : entries_(std::clamp<uint32_t>(size, 1, kMaxVectors)),
      pba_((entries_.size() + 63) / 64) {}

uint32_t MsixTable::ReadDword(uint64_t offset) const {
  const Entry& e = entries_[offset / kEntrySize];
  switch (offset % kEntrySize) {
    case 0:
      return e.address_lo;
    case 4:
      return e.address_hi;
    case 8:
      return e.data;
    default:
      return e.control;
  }
}

void MsixTable::WriteDword(uint64_t offset, uint32_t value) {
  Entry& e = entries_[offset / kEntrySize];
  switch (offset % kEntrySize) {
    case 0:
      // Bits 1:0 keep the message DWORD aligned (6.8.2.6).
      e.address_lo = value & ~3u;
      break;
    case 4:
      e.address_hi = value;
      break;
    case 8:
      e.data = value;
      break;
    default:
      // Only the Mask bit is defined; the rest is reserved (6.8.2.9).
      e.control = value & kVectorMasked;
      break;
  }
}

void MsixTable::ReadTable(uint64_t offset, absl::Span<uint8_t> data) const {
  std::fill(data.begin(), data.end(), 0);
  if (!ValidTableAccess(offset, data.size(), table_bytes())) return;
  uint64_t value = ReadDword(offset);
  if (data.size() == 8) value |= uint64_t{ReadDword(offset + 4)} << 32;
  Store(value, data);
}

MsiActions MsixTable::WriteTable(uint64_t offset,
                                 absl::Span<const uint8_t> data) {
  MsiActions actions;
  if (!ValidTableAccess(offset, data.size(), table_bytes())) return actions;
  const uint32_t v = static_cast<uint32_t>(offset / kEntrySize);
  const bool was = Delivers(v);
  const MsiMessage old = message(v);
  const uint64_t value = Load(data);
  WriteDword(offset, static_cast<uint32_t>(value));
  if (data.size() == 8)
    WriteDword(offset + 4, static_cast<uint32_t>(value >> 32));
  Diff(v, was, old, actions);
  return actions;
}

void MsixTable::ReadPba(uint64_t offset, absl::Span<uint8_t> data) const {
  std::fill(data.begin(), data.end(), 0);
  if (!ValidTableAccess(offset, data.size(), pba_bytes())) return;
  uint64_t value = pba_[offset / 8];
  if (data.size() == 4) value >>= 8 * (offset % 8);
  Store(value, data);
}

MsiActions MsixTable::SetControl(bool enabled, bool function_masked) {
  MsiActions actions;
  if (enabled == enabled_ && function_masked == function_masked_) {
    return actions;
  }
  std::vector<bool> was(entries_.size());
  for (uint32_t v = 0; v < size(); ++v) was[v] = Delivers(v);
  const bool was_enabled = enabled_;
  const bool was_function_masked = function_masked_;
  enabled_ = enabled;
  function_masked_ = function_masked;

  if (enabled && !was_enabled) {
    actions.push_back({MsiAction::Type::kEnable, size()});
  }
  if (function_masked != was_function_masked) {
    actions.push_back({function_masked ? MsiAction::Type::kFunctionMask
                                       : MsiAction::Type::kFunctionUnmask});
  }
  for (uint32_t v = 0; v < size(); ++v) Diff(v, was[v], message(v), actions);
  if (!enabled && was_enabled) actions.push_back({MsiAction::Type::kDisable});
  return actions;
}

void MsixTable::Diff(uint32_t v, bool was, const MsiMessage& old,
                     MsiActions& out) {
  const bool now = Delivers(v);
  if (was && !now) {
    out.push_back({MsiAction::Type::kMask, v});
  } else if (!was && now) {
    // A vector unmasked with its pending bit set sends its message now and
    // clears the bit (6.8.2.9).
    const uint64_t bit = uint64_t{1} << (v % 64);
    const bool pending = pba_[v / 64] & bit;
    pba_[v / 64] &= ~bit;
    out.push_back({MsiAction::Type::kUnmask, v, message(v), pending});
  } else if (was && now && old != message(v)) {
    out.push_back({MsiAction::Type::kRoute, v, message(v)});
  }
}

bool MsixTable::Fire(uint32_t vector) {
  if (!enabled_ || vector >= size()) return false;
  if (!Delivers(vector)) {
    pba_[vector / 64] |= uint64_t{1} << (vector % 64);
    return false;
  }
  return true;
}

bool MsixTable::InUse(uint32_t vector) const {
  return enabled_ && vector < size() &&
         !(entries_[vector].control & kVectorMasked);
}

bool MsixTable::Delivers(uint32_t vector) const {
  return InUse(vector) && !function_masked_;
}

MsiMessage MsixTable::message(uint32_t vector) const {
  if (vector >= size()) return {};
  const Entry& e = entries_[vector];
  return MsiMessage{uint64_t{e.address_hi} << 32 | e.address_lo, e.data};
}

bool MsixTable::pending(uint32_t vector) const {
  return vector < size() && ((pba_[vector / 64] >> (vector % 64)) & 1);
}

}  // namespace microvm::pci
