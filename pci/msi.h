// SPDX-License-Identifier: Apache-2.0
// The MSI capability (PCI Local Bus 3.0 6.8.1) as a state machine over the
// registers it owns in a ConfigSpace. The guest's masked write lands in the
// image first (ConfigSpace::Write via PciHeader::Write); the device then
// calls Update(), which fixes up what the spec forbids and returns what
// changed as MsiActions.
//
// Layout (6.8.1, figure 6-9), at the capability offset:
//   +0 ID 05h, next  +2 Message Control
//   +4 Message Address  [+8 Message Upper Address if 64-bit]
//   then Message Data (16 bits), and with per-vector masking a Mask Bits
//   and a Pending Bits dword.
//
// Not thread-safe; the owning device serializes Update() and Fire().
#ifndef MICROVM_PCI_MSI_H_
#define MICROVM_PCI_MSI_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "pci/config_space.h"
#include "pci/msi_message.h"

namespace microvm::pci {

struct MsiConfig {
  uint32_t vectors = 1;  // Multiple Message Capable: 1, 2, 4, 8, 16 or 32
  bool address64 = true;
  bool per_vector_mask = false;
};

class MsiCapability {
 public:
  // Message Control bits (6.8.1.3).
  static constexpr uint16_t kEnable = 1 << 0;
  static constexpr uint16_t kMmcShift = 1;
  static constexpr uint16_t kMmeShift = 4;
  static constexpr uint16_t kAddress64 = 1 << 7;
  static constexpr uint16_t kPerVectorMask = 1 << 8;

  // Adds the capability to `config` and sets its writable bits.
  static absl::StatusOr<MsiCapability> Add(ConfigSpace& config,
                                           const MsiConfig& msi);

  uint32_t offset() const { return offset_; }
  uint32_t length() const;
  // Whether a guest access at [offset, offset+size) touches the capability.
  bool Overlaps(uint32_t offset, size_t size) const;

  // Call after a guest write that overlapped the capability.
  MsiActions Update(ConfigSpace& config);

  // The device has an interrupt for `vector`. Returns true if it should be
  // delivered now; if the vector is masked, sets its pending bit instead.
  // Vectors beyond those enabled are dropped.
  bool Fire(ConfigSpace& config, uint32_t vector);

  bool enabled() const { return enabled_; }
  // Vectors enabled (1 << MME), 0 while disabled.
  uint32_t enabled_vectors() const { return enabled_ ? count_ : 0; }
  bool Delivers(uint32_t vector) const;
  // Vector i sends data with its low log2(enabled_vectors) bits replaced by
  // i (6.8.1.6: the function modifies the low bits of Message Data).
  MsiMessage message(uint32_t vector) const;

 private:
  MsiCapability(uint32_t offset, const MsiConfig& msi)
      : offset_(offset), config_(msi) {}

  uint32_t data_offset() const {
    return offset_ + (config_.address64 ? 12 : 8);
  }
  uint32_t mask_offset() const { return data_offset() + 4; }
  uint32_t pending_offset() const { return data_offset() + 8; }

  uint32_t offset_;
  MsiConfig config_;
  // State as of the last Update(), to report differences.
  bool enabled_ = false;
  uint32_t count_ = 1;
  uint64_t address_ = 0;
  uint32_t data_ = 0;
  uint32_t mask_ = 0;
};

}  // namespace microvm::pci

#endif  // MICROVM_PCI_MSI_H_
