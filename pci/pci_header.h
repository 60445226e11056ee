// SPDX-License-Identifier: Apache-2.0
// The type-0 configuration header (PCI Local Bus 3.0 6.1-6.2), implemented
// once for every device: IDs, command/status semantics, BARs with the sizing
// protocol, the expansion ROM BAR and the interrupt registers. A device owns
// a PciHeader, adds its BARs and capabilities, and forwards guest config
// accesses to Read()/Write(); Write() reports which BAR decodes moved so
// PciRoot can move their bus registrations. Everything past the header
// (capabilities, device-specific registers) is plain ConfigSpace data the
// device fills in; after Write() the device looks at what it owns (e.g.
// MsiCapability::Update) — that is the hook for device-specific registers.
//
// Not thread-safe; see ConfigSpace.
#ifndef MICROVM_PCI_PCI_HEADER_H_
#define MICROVM_PCI_PCI_HEADER_H_

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "pci/config_space.h"

namespace microvm::pci {

inline constexpr int kNumBars = 6;
// Index used for the expansion ROM BAR wherever a BAR index is expected.
inline constexpr int kRomBar = 6;

enum class BarType : uint8_t { kIo, kMemory32, kMemory64 };

// "I/O", "32-bit memory" or "64-bit memory", for messages.
const char* BarTypeName(BarType type);

struct BarSpec {
  BarType type = BarType::kMemory32;
  // A power of two: 4-256 for I/O (6.2.5.1), >= 16 for memory, <= 2 GiB
  // for 32-bit memory.
  uint64_t size = 0;
  bool prefetchable = false;  // memory BARs only
};

// Where a BAR (or the ROM) decodes right now.
struct BarRegion {
  int index = 0;    // 0-5, or kRomBar
  bool io = false;  // port I/O space; otherwise memory
  uint64_t address = 0;
  uint64_t size = 0;
  bool prefetchable = false;
  bool operator==(const BarRegion&) const = default;
};

// A BAR whose decode changed: it stopped decoding at `before` (if set) and
// now decodes at `after` (if set).
struct BarChange {
  int index = 0;
  std::optional<BarRegion> before;
  std::optional<BarRegion> after;
};

// What a config write changed that the caller must apply.
struct ConfigWriteResult {
  std::vector<BarChange> bar_changes;
};

struct PciIds {
  uint16_t vendor_id = 0;
  uint16_t device_id = 0;
  uint32_t class_code = 0;  // base class << 16 | subclass << 8 | prog-if
  uint8_t revision_id = 0;
  uint16_t subsystem_vendor_id = 0;
  uint16_t subsystem_id = 0;
};

enum class IntxPin : uint8_t { kNone = 0, kIntA = 1, kIntB, kIntC, kIntD };

class PciHeader {
 public:
  PciHeader(const PciIds& ids, IntxPin pin,
            uint32_t config_size = ConfigSpace::kExtendedSize);

  // Declares BAR `index`; a 64-bit BAR also takes index + 1. Call before
  // the device is added to a PciRoot.
  absl::Status AddBar(int index, const BarSpec& spec);
  // Declares an expansion ROM of `size` bytes (power of two, 2 KiB-16 MiB).
  absl::Status AddRom(uint64_t size);

  ConfigSpace& config() { return config_; }
  const ConfigSpace& config() const { return config_; }

  // Guest accesses (see ConfigSpace::ValidAccess; invalid ones do nothing).
  void Read(uint32_t offset, absl::Span<uint8_t> data) const;
  ConfigWriteResult Write(uint32_t offset, absl::Span<const uint8_t> data);

  // The declared BAR (nullopt for unused BARs and the upper half of a
  // 64-bit BAR); kRomBar gives the ROM as a kMemory32 spec.
  std::optional<BarSpec> bar(int index) const;
  // Where BAR `index` decodes now: its decode bit in Command is set, it has
  // a nonzero address, it is not mid-sizing (writable bits all ones) and it
  // fits its address space (I/O below 64 KiB, 32-bit memory below 4 GiB).
  // The ROM also needs its enable bit (6.2.5.2).
  std::optional<BarRegion> DecodedBar(int index) const;

  uint16_t command() const { return config_.Get16(kCommand); }
  // Status.INTx, which the device sets while it asserts INTx (6.2.3).
  void SetIntxStatus(bool asserted);

 private:
  std::array<std::optional<BarRegion>, kNumBars + 1> DecodedBars() const;

  ConfigSpace config_;
  std::array<std::optional<BarSpec>, kNumBars + 1> bars_;
  // True where the index is the upper dword of the 64-bit BAR below it.
  std::array<bool, kNumBars> upper_half_ = {};
};

}  // namespace microvm::pci

#endif  // MICROVM_PCI_PCI_HEADER_H_
