// SPDX-License-Identifier: Apache-2.0
// A PCI function's configuration space as data: a register image, a mask of
// the bits the guest may write, a mask of the bits it clears by writing 1
// (RW1C), and the capability chain. Everything generic about a guest config
// write happens here; what a write *means* (a BAR moved, MSI enabled) is
// worked out by the header and capability classes that own the registers.
//
// Not thread-safe: the owner (a PciDevice, called under PciRoot's lock)
// serializes access.
#ifndef MICROVM_PCI_CONFIG_SPACE_H_
#define MICROVM_PCI_CONFIG_SPACE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace microvm::pci {

// Type-0 header registers (PCI Local Bus 3.0 6.1, figure 6-1).
inline constexpr uint32_t kVendorId = 0x00;
inline constexpr uint32_t kDeviceId = 0x02;
inline constexpr uint32_t kCommand = 0x04;
inline constexpr uint32_t kStatus = 0x06;
inline constexpr uint32_t kRevisionId = 0x08;
inline constexpr uint32_t kClassCode = 0x09;  // 3 bytes: prog-if, sub, base
inline constexpr uint32_t kCacheLineSize = 0x0c;
inline constexpr uint32_t kLatencyTimer = 0x0d;
inline constexpr uint32_t kHeaderType = 0x0e;
inline constexpr uint32_t kBist = 0x0f;
inline constexpr uint32_t kBar0 = 0x10;
inline constexpr uint32_t kSubsystemVendorId = 0x2c;
inline constexpr uint32_t kSubsystemId = 0x2e;
inline constexpr uint32_t kRomAddress = 0x30;
inline constexpr uint32_t kCapabilitiesPointer = 0x34;
inline constexpr uint32_t kInterruptLine = 0x3c;
inline constexpr uint32_t kInterruptPin = 0x3d;

// Command register bits (6.2.2).
inline constexpr uint16_t kCommandIo = 1 << 0;
inline constexpr uint16_t kCommandMemory = 1 << 1;
inline constexpr uint16_t kCommandBusMaster = 1 << 2;
inline constexpr uint16_t kCommandParity = 1 << 6;
inline constexpr uint16_t kCommandSerr = 1 << 8;
inline constexpr uint16_t kCommandIntxDisable = 1 << 10;

// Status register bits (6.2.3).
inline constexpr uint16_t kStatusIntx = 1 << 3;
inline constexpr uint16_t kStatusCapList = 1 << 4;
// The error bits, all RW1C.
inline constexpr uint16_t kStatusErrors =
    (1 << 8) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 15);

// Capability IDs (PCI Code and ID Assignment spec).
inline constexpr uint8_t kCapPowerManagement = 0x01;
inline constexpr uint8_t kCapMsi = 0x05;
inline constexpr uint8_t kCapVendor = 0x09;
inline constexpr uint8_t kCapPciExpress = 0x10;
inline constexpr uint8_t kCapMsix = 0x11;

class ConfigSpace {
 public:
  static constexpr uint32_t kConventionalSize = 256;
  static constexpr uint32_t kExtendedSize = 4096;
  static constexpr uint32_t kFirstCapability = 0x40;
  static constexpr uint32_t kFirstExtendedCapability = 0x100;

  // `size` is kConventionalSize or kExtendedSize (anything else is treated
  // as kExtendedSize). Starts all zero and read-only.
  explicit ConfigSpace(uint32_t size = kExtendedSize);

  uint32_t size() const { return static_cast<uint32_t>(image_.size()); }

  // Whether a guest access is well-formed: 1, 2 or 4 bytes, not crossing a
  // dword boundary (neither CF8/CFC nor ECAM can produce one), inside the
  // 4 KiB space. Reads beyond size() but inside 4 KiB are well-formed and
  // return 0 (unimplemented registers of a present function, 6.1).
  static bool ValidAccess(uint32_t offset, size_t size);

  // Guest reads and writes, little-endian, at any byte offset. An invalid
  // access reads as zero and writes nothing.
  void Read(uint32_t offset, absl::Span<uint8_t> data) const;
  // Each byte becomes (old & ~writable) | (new & writable), then the RW1C
  // bits written as 1 are cleared.
  void Write(uint32_t offset, absl::Span<const uint8_t> data);

  // Device-side access, ignoring the masks. Out-of-range reads return 0 and
  // out-of-range writes are dropped (bytes inside the image still apply).
  uint32_t Get(uint32_t offset, size_t size) const;
  uint8_t Get8(uint32_t offset) const {
    return static_cast<uint8_t>(Get(offset, 1));
  }
  uint16_t Get16(uint32_t offset) const {
    return static_cast<uint16_t>(Get(offset, 2));
  }
  uint32_t Get32(uint32_t offset) const { return Get(offset, 4); }
  void Set(uint32_t offset, size_t size, uint32_t value);
  void Set8(uint32_t offset, uint8_t value) { Set(offset, 1, value); }
  void Set16(uint32_t offset, uint16_t value) { Set(offset, 2, value); }
  void Set32(uint32_t offset, uint32_t value) { Set(offset, 4, value); }

  // Which bits of the `size`-byte register at `offset` the guest may write,
  // and which it clears by writing 1. A bit is one or the other.
  void SetWritable(uint32_t offset, size_t size, uint32_t mask);
  void SetW1c(uint32_t offset, size_t size, uint32_t mask);
  uint32_t Writable(uint32_t offset, size_t size) const;

  // Adds a capability of `length` bytes (2 to 256) at the next free dword in
  // [0x40, 0x100), writes its ID, links it at the end of the chain (6.7) and
  // sets Status.CAP_LIST. Returns its offset. The body is zero and read-only
  // until the caller fills it in and sets masks.
  absl::StatusOr<uint32_t> AddCapability(uint8_t id, uint32_t length);
  // Same for a PCI Express extended capability (PCIe 3.0 7.9.3) at the next
  // free dword from 0x100; needs a kExtendedSize space.
  absl::StatusOr<uint32_t> AddExtendedCapability(uint16_t id, uint8_t version,
                                                 uint32_t length);

  // Walk the chains as a guest would; bounded, so a chain a device model
  // got wrong cannot loop. Offsets of every capability, in chain order.
  std::vector<uint32_t> Capabilities() const;
  std::optional<uint32_t> FindCapability(uint8_t id) const;
  std::optional<uint32_t> FindExtendedCapability(uint16_t id) const;

 private:
  std::vector<uint8_t> image_;
  std::vector<uint8_t> writable_;
  std::vector<uint8_t> w1c_;
  uint32_t next_cap_ = kFirstCapability;  // next free dword
  uint32_t last_cap_ = 0;                 // 0: chain empty
  uint32_t next_ext_cap_ = kFirstExtendedCapability;
  uint32_t last_ext_cap_ = 0;
};

}  // namespace microvm::pci

#endif  // MICROVM_PCI_CONFIG_SPACE_H_
