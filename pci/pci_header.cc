// SPDX-License-Identifier: Apache-2.0
#include "pci/pci_header.h"

#include "absl/strings/str_format.h"

namespace microvm::pci {
namespace {

// BAR low bits (6.2.5.1).
constexpr uint32_t kBarIo = 1 << 0;
constexpr uint32_t kBarMem64 = 2 << 1;
constexpr uint32_t kBarPrefetchable = 1 << 3;
constexpr uint32_t kBarIoAddressMask = ~3u;
constexpr uint32_t kBarMemAddressMask = ~0xfu;
// Expansion ROM BAR (6.2.5.2): enable in bit 0, address in 31:11.
constexpr uint32_t kRomEnable = 1 << 0;
constexpr uint32_t kRomAddressMask = ~0x7ffu;
constexpr uint64_t kMinRomSize = 2 * 1024;
constexpr uint64_t kMaxRomSize = 16 * 1024 * 1024;
constexpr uint64_t kIoSpaceEnd = 0x10000;  // x86 port space
constexpr uint64_t k4GiB = uint64_t{1} << 32;

constexpr uint16_t kCommandWritable = kCommandIo | kCommandMemory |
                                      kCommandBusMaster | kCommandParity |
                                      kCommandSerr | kCommandIntxDisable;

bool IsPowerOfTwo(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

bool Overlaps(uint32_t offset, size_t size, uint32_t start, uint32_t end) {
  return offset < end && offset + size > start;
}

}  // namespace

const char* BarTypeName(BarType type) {
  switch (type) {
    case BarType::kIo:
      return "I/O";
    case BarType::kMemory32:
      return "32-bit memory";
    case BarType::kMemory64:
      return "64-bit memory";
  }
  return "?";
}

PciHeader::PciHeader(const PciIds& ids, IntxPin pin, uint32_t config_size)
    : config_(config_size) {
  config_.Set16(kVendorId, ids.vendor_id);
  config_.Set16(kDeviceId, ids.device_id);
  config_.Set8(kRevisionId, ids.revision_id);
  config_.Set(kClassCode, 3, ids.class_code);
  config_.Set8(kHeaderType, 0);
  config_.Set16(kSubsystemVendorId, ids.subsystem_vendor_id);
  config_.Set16(kSubsystemId, ids.subsystem_id);
  config_.Set8(kInterruptPin, static_cast<uint8_t>(pin));

  // Command: the decode enables, bus master, parity/SERR# response and
  // INTx disable are implemented; the rest (special cycles, MWI, VGA snoop,
  // fast back-to-back) are hardwired 0, which 6.2.2 allows.
  config_.SetWritable(kCommand, 2, kCommandWritable);
  // Status: the error bits are RW1C; INTx status and CAP_LIST read-only.
  config_.SetW1c(kStatus, 2, kStatusErrors);
  // Cache line size: read/write, no effect. Latency timer: 0 (PCIe).
  config_.SetWritable(kCacheLineSize, 1, 0xff);
  // Interrupt line: a scratch register for the OS (6.2.4).
  config_.SetWritable(kInterruptLine, 1, 0xff);
}

absl::Status PciHeader::AddBar(int index, const BarSpec& spec) {
  const bool is64 = spec.type == BarType::kMemory64;
  if (index < 0 || index >= kNumBars || (is64 && index + 1 >= kNumBars)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("PCI BAR %d: index out of range for a %s BAR", index,
                        BarTypeName(spec.type)));
  }
  if (bars_[index] || upper_half_[index] ||
      (is64 && (bars_[index + 1] || upper_half_[index + 1]))) {
    return absl::AlreadyExistsError(
        absl::StrFormat("PCI BAR %d: already in use", index));
  }
  const bool size_ok =
      IsPowerOfTwo(spec.size) &&
      (spec.type == BarType::kIo ? spec.size >= 4 && spec.size <= 256
       : spec.type == BarType::kMemory32
           ? spec.size >= 16 && spec.size <= k4GiB / 2
           : spec.size >= 16 && spec.size <= (uint64_t{1} << 63));
  if (!size_ok) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "PCI BAR %d: size 0x%x is not a valid %s BAR size (a power of two; "
        "4-256 for I/O, at least 16 for memory, at most 2 GiB for 32-bit)",
        index, spec.size, BarTypeName(spec.type)));
  }
  if (spec.type == BarType::kIo && spec.prefetchable) {
    return absl::InvalidArgumentError(
        absl::StrFormat("PCI BAR %d: I/O BARs cannot be prefetchable", index));
  }
  const uint32_t reg = kBar0 + 4 * index;
  const uint64_t address_bits = ~(spec.size - 1);
  switch (spec.type) {
    case BarType::kIo:
      config_.Set32(reg, kBarIo);
      config_.SetWritable(reg, 4, address_bits & kBarIoAddressMask);
      break;
    case BarType::kMemory32:
      config_.Set32(reg, spec.prefetchable ? kBarPrefetchable : 0);
      config_.SetWritable(reg, 4, address_bits & kBarMemAddressMask);
      break;
    case BarType::kMemory64:
      config_.Set32(reg,
                    kBarMem64 | (spec.prefetchable ? kBarPrefetchable : 0));
      config_.SetWritable(reg, 4, address_bits & kBarMemAddressMask);
      config_.Set32(reg + 4, 0);
      config_.SetWritable(reg + 4, 4, address_bits >> 32);
      upper_half_[index + 1] = true;
      break;
  }
  bars_[index] = spec;
  return absl::OkStatus();
}

absl::Status PciHeader::AddRom(uint64_t size) {
  if (!IsPowerOfTwo(size) || size < kMinRomSize || size > kMaxRomSize) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "PCI expansion ROM: size 0x%x is not a power of two in [2 KiB, "
        "16 MiB]",
        size));
  }
  if (bars_[kRomBar]) {
    return absl::AlreadyExistsError("PCI expansion ROM: already declared");
  }
  config_.Set32(kRomAddress, 0);
  config_.SetWritable(kRomAddress, 4,
                      (~(size - 1) & kRomAddressMask) | kRomEnable);
  bars_[kRomBar] = BarSpec{BarType::kMemory32, size, false};
  return absl::OkStatus();
}

void PciHeader::Read(uint32_t offset, absl::Span<uint8_t> data) const {
  config_.Read(offset, data);
}

ConfigWriteResult PciHeader::Write(uint32_t offset,
                                   absl::Span<const uint8_t> data) {
  // Only Command, the BARs and the ROM BAR change where BARs decode.
  const bool moves_bars =
      Overlaps(offset, data.size(), kCommand, kStatus) ||
      Overlaps(offset, data.size(), kBar0, kBar0 + 24) ||
      Overlaps(offset, data.size(), kRomAddress, kRomAddress + 4);
  if (!moves_bars) {
    config_.Write(offset, data);
    return {};
  }
  const auto before = DecodedBars();
  config_.Write(offset, data);
  const auto after = DecodedBars();
  ConfigWriteResult result;
  for (int i = 0; i <= kNumBars; ++i) {
    if (before[i] != after[i]) {
      result.bar_changes.push_back(BarChange{i, before[i], after[i]});
    }
  }
  return result;
}

std::optional<BarSpec> PciHeader::bar(int index) const {
  if (index < 0 || index > kRomBar) return std::nullopt;
  return bars_[index];
}

std::optional<BarRegion> PciHeader::DecodedBar(int index) const {
  if (index < 0 || index > kRomBar || !bars_[index]) return std::nullopt;
  const BarSpec& spec = *bars_[index];
  const uint16_t cmd = command();
  const bool io = spec.type == BarType::kIo;
  if (!(cmd & (io ? kCommandIo : kCommandMemory))) return std::nullopt;

  uint64_t address = 0;
  uint64_t writable = 0;  // the address bits the guest can set
  uint64_t limit = k4GiB;
  if (index == kRomBar) {
    const uint32_t value = config_.Get32(kRomAddress);
    if (!(value & kRomEnable)) return std::nullopt;
    address = value & kRomAddressMask;
    writable = config_.Writable(kRomAddress, 4) & kRomAddressMask;
  } else {
    const uint32_t reg = kBar0 + 4 * index;
    const uint32_t low_mask = io ? kBarIoAddressMask : kBarMemAddressMask;
    address = config_.Get32(reg) & low_mask;
    writable = config_.Writable(reg, 4) & low_mask;
    if (spec.type == BarType::kMemory64) {
      address |= uint64_t{config_.Get32(reg + 4)} << 32;
      writable |= uint64_t{config_.Writable(reg + 4, 4)} << 32;
      limit = 0;  // the whole 64-bit space; checked for wrap below
    }
    if (io) limit = kIoSpaceEnd;
  }
  // Address 0 means "not assigned"; all writable bits set means the guest
  // is sizing the BAR (it wrote all-ones) and has not restored it yet.
  if (address == 0 || (address & writable) == writable) return std::nullopt;
  const uint64_t last = address + spec.size - 1;
  if (last < address) return std::nullopt;
  if (limit != 0 && last >= limit) return std::nullopt;
  return BarRegion{index, io, address, spec.size, spec.prefetchable};
}

std::array<std::optional<BarRegion>, kNumBars + 1> PciHeader::DecodedBars()
    const {
  std::array<std::optional<BarRegion>, kNumBars + 1> out;
  for (int i = 0; i <= kNumBars; ++i) out[i] = DecodedBar(i);
  return out;
}

void PciHeader::SetIntxStatus(bool asserted) {
  const uint16_t status = config_.Get16(kStatus);
  config_.Set16(kStatus,
                asserted ? (status | kStatusIntx) : (status & ~kStatusIntx));
}

}  // namespace microvm::pci
