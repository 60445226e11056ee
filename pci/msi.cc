// SPDX-License-Identifier: Apache-2.0
#include "pci/msi.h"

#include "absl/strings/str_format.h"

namespace microvm::pci {
namespace {

uint32_t Log2(uint32_t x) {
  uint32_t n = 0;
  while (x > 1) {
    x >>= 1;
    ++n;
  }
  return n;
}

// Bits for vectors [0, count).
uint32_t VectorBits(uint32_t count) {
  return count >= 32 ? ~0u : (1u << count) - 1;
}

}  // namespace

absl::StatusOr<MsiCapability> MsiCapability::Add(ConfigSpace& config,
                                                 const MsiConfig& msi) {
  if (msi.vectors == 0 || msi.vectors > 32 ||
      (msi.vectors & (msi.vectors - 1)) != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "MSI capability: %u vectors is not a power of two in [1, 32]",
        msi.vectors));
  }
  MsiCapability cap(0, msi);
  auto offset = config.AddCapability(kCapMsi, cap.length());
  if (!offset.ok()) return offset.status();
  cap.offset_ = *offset;

  uint16_t control = static_cast<uint16_t>(Log2(msi.vectors) << kMmcShift);
  if (msi.address64) control |= kAddress64;
  if (msi.per_vector_mask) control |= kPerVectorMask;
  config.Set16(cap.offset_ + 2, control);
  config.SetWritable(cap.offset_ + 2, 2, kEnable | (7 << kMmeShift));
  // Message Address bits 1:0 are reserved, read as 0 (6.8.1.4).
  config.SetWritable(cap.offset_ + 4, 4, ~3u);
  if (msi.address64) config.SetWritable(cap.offset_ + 8, 4, ~0u);
  config.SetWritable(cap.data_offset(), 2, 0xffff);
  if (msi.per_vector_mask) {
    // Mask bits of vectors the function does not have are reserved
    // (6.8.1.8); Pending Bits are read-only to software (6.8.1.9).
    config.SetWritable(cap.mask_offset(), 4, VectorBits(msi.vectors));
  }
  return cap;
}

uint32_t MsiCapability::length() const {
  return data_offset() - offset_ + (config_.per_vector_mask ? 12 : 4);
}

bool MsiCapability::Overlaps(uint32_t offset, size_t size) const {
  return offset < offset_ + length() && offset + size > offset_;
}

MsiActions MsiCapability::Update(ConfigSpace& config) {
  uint16_t control = config.Get16(offset_ + 2);
  // Software must not enable more vectors than the function asked for
  // (6.8.1.3); if it tries, it gets the most the function supports.
  const uint32_t mmc = (control >> kMmcShift) & 7;
  uint32_t mme = (control >> kMmeShift) & 7;
  if (mme > mmc) {
    mme = mmc;
    control = (control & ~(7 << kMmeShift)) | (mme << kMmeShift);
    config.Set16(offset_ + 2, control);
  }
  const bool enabled = control & kEnable;
  const uint32_t count = 1u << mme;
  uint64_t address = config.Get32(offset_ + 4);
  if (config_.address64) address |= uint64_t{config.Get32(offset_ + 8)} << 32;
  const uint32_t data = config.Get16(data_offset());
  const uint32_t mask =
      config_.per_vector_mask ? config.Get32(mask_offset()) : 0;

  MsiActions actions;
  bool was_enabled = enabled_;
  // Turning off, or changing the vector count (which software must not do
  // while enabled, 6.8.1.3): take the old vectors down first.
  if (enabled_ && (!enabled || count != count_)) {
    for (uint32_t v = 0; v < count_; ++v) {
      if (Delivers(v)) actions.push_back({MsiAction::Type::kMask, v});
    }
    actions.push_back({MsiAction::Type::kDisable});
    was_enabled = false;
  }
  const uint32_t old_mask = mask_;
  const MsiCapability old = *this;
  enabled_ = enabled;
  count_ = count;
  address_ = address;
  data_ = data;
  mask_ = mask;
  if (!enabled) return actions;

  if (!was_enabled) actions.push_back({MsiAction::Type::kEnable, count});
  for (uint32_t v = 0; v < count; ++v) {
    const bool was = was_enabled && !((old_mask >> v) & 1);
    const bool now = !((mask >> v) & 1);
    if (was && !now) {
      actions.push_back({MsiAction::Type::kMask, v});
    } else if (!was && now) {
      bool pending = false;
      if (config_.per_vector_mask) {
        const uint32_t bits = config.Get32(pending_offset());
        pending = (bits >> v) & 1;
        config.Set32(pending_offset(), bits & ~(1u << v));
      }
      actions.push_back({MsiAction::Type::kUnmask, v, message(v), pending});
    } else if (was && now && old.message(v) != message(v)) {
      actions.push_back({MsiAction::Type::kRoute, v, message(v)});
    }
  }
  return actions;
}

bool MsiCapability::Fire(ConfigSpace& config, uint32_t vector) {
  if (!enabled_ || vector >= count_) return false;
  if ((mask_ >> vector) & 1) {
    config.Set32(pending_offset(),
                 config.Get32(pending_offset()) | (1u << vector));
    return false;
  }
  return true;
}

bool MsiCapability::Delivers(uint32_t vector) const {
  return enabled_ && vector < count_ && !((mask_ >> vector) & 1);
}

MsiMessage MsiCapability::message(uint32_t vector) const {
  const uint32_t low = count_ - 1;
  return MsiMessage{address_, (data_ & ~low) | (vector & low)};
}

}  // namespace microvm::pci
