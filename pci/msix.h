// SPDX-License-Identifier: Apache-2.0
// MSI-X (PCI Local Bus 3.0 6.8.2): the capability in config space and the
// one MsixTable class every device uses (emulated devices and vfio-pci
// alike). Both are pure state machines: guest accesses go in, MsiActions
// come out, and the owner applies them to its vectors. Neither locks: the
// owning device guards the table with its own lock, because table accesses
// come from BAR handlers on any vCPU while control changes come through
// config space.
#ifndef MICROVM_PCI_MSIX_H_
#define MICROVM_PCI_MSIX_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "pci/config_space.h"
#include "pci/msi_message.h"

namespace microvm::pci {

class MsixTable;

struct MsixConfig {
  uint16_t table_size = 1;    // vectors, 1-2048
  uint8_t table_bar = 0;      // BIR, 0-5
  uint32_t table_offset = 0;  // within the BAR, 8-byte aligned
  uint8_t pba_bar = 0;
  uint32_t pba_offset = 0;
};

// The capability registers (6.8.2.3-6.8.2.5): Message Control with Table
// Size (read-only), Function Mask and MSI-X Enable; Table and PBA
// offset/BIR (read-only).
class MsixCapability {
 public:
  static constexpr uint16_t kEnable = 1 << 15;
  static constexpr uint16_t kFunctionMask = 1 << 14;
  static constexpr uint32_t kLength = 12;

  static absl::StatusOr<MsixCapability> Add(ConfigSpace& config,
                                            const MsixConfig& msix);

  uint32_t offset() const { return offset_; }
  const MsixConfig& msix() const { return msix_; }
  bool Overlaps(uint32_t offset, size_t size) const {
    return offset < offset_ + kLength && offset + size > offset_;
  }
  // Call after a guest write that overlapped the capability: passes
  // Enable and Function Mask to `table`.
  MsiActions Update(const ConfigSpace& config, MsixTable& table) const;

 private:
  MsixCapability(uint32_t offset, const MsixConfig& msix)
      : offset_(offset), msix_(msix) {}
  uint32_t offset_;
  MsixConfig msix_;
};

// The MSI-X table (16 bytes per entry: address low, address high, data,
// vector control) and the Pending Bit Array. Offsets are relative to the
// start of the table / PBA inside their BAR.
class MsixTable {
 public:
  static constexpr uint32_t kEntrySize = 16;
  static constexpr uint32_t kMaxVectors = 2048;
  static constexpr uint32_t kVectorMasked = 1 << 0;  // vector control

  // `size` in [1, 2048] (clamped).
  explicit MsixTable(uint32_t size);

  uint32_t size() const { return static_cast<uint32_t>(entries_.size()); }
  uint64_t table_bytes() const { return uint64_t{size()} * kEntrySize; }
  // QWORD-granular, as in 6.8.2.10.
  uint64_t pba_bytes() const { return (uint64_t{size()} + 63) / 64 * 8; }

  // Guest accesses. Only naturally aligned 4- and 8-byte accesses inside
  // the structure count (6.8.2: other accesses are undefined); others read
  // as 0 and are ignored when written. The PBA is read-only.
  void ReadTable(uint64_t offset, absl::Span<uint8_t> data) const;
  MsiActions WriteTable(uint64_t offset, absl::Span<const uint8_t> data);
  void ReadPba(uint64_t offset, absl::Span<uint8_t> data) const;

  // From the capability's Message Control.
  MsiActions SetControl(bool enabled, bool function_masked);

  // The device has an interrupt for `vector`: returns true if it should be
  // delivered now (to message(vector)); false if it was masked (its pending
  // bit is now set) or MSI-X is off or `vector` is out of range (dropped).
  bool Fire(uint32_t vector);

  bool enabled() const { return enabled_; }
  bool function_masked() const { return function_masked_; }
  // MSI-X is enabled and the entry is unmasked: the vector is in use and
  // needs a host vector behind it (vfio-pci), even while Function Mask
  // holds it back temporarily.
  bool InUse(uint32_t vector) const;
  // In use and not function-masked: an event now is delivered.
  bool Delivers(uint32_t vector) const;
  MsiMessage message(uint32_t vector) const;
  bool pending(uint32_t vector) const;

 private:
  struct Entry {
    uint32_t address_lo = 0;
    uint32_t address_hi = 0;
    uint32_t data = 0;
    uint32_t control = kVectorMasked;  // masked at reset (6.8.2.9)
  };

  uint32_t ReadDword(uint64_t offset) const;
  void WriteDword(uint64_t offset, uint32_t value);
  // Appends the actions for vector v going from (was, old) to its current
  // state.
  void Diff(uint32_t v, bool was, const MsiMessage& old, MsiActions& out);

  std::vector<Entry> entries_;
  std::vector<uint64_t> pba_;
  bool enabled_ = false;
  bool function_masked_ = false;
};

}  // namespace microvm::pci

#endif  // MICROVM_PCI_MSIX_H_
