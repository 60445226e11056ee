// SPDX-License-Identifier: Apache-2.0
#include "vmm/acpi/aml.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace microvm::acpi::aml {
namespace {

// Opcodes and prefixes, ACPI 6.4 section 20.2 and 20.3.
constexpr uint8_t kZeroOp = 0x00;
constexpr uint8_t kOneOp = 0x01;
constexpr uint8_t kOnesOp = 0xff;
constexpr uint8_t kBytePrefix = 0x0a;
constexpr uint8_t kWordPrefix = 0x0b;
constexpr uint8_t kDWordPrefix = 0x0c;
constexpr uint8_t kStringPrefix = 0x0d;
constexpr uint8_t kQWordPrefix = 0x0e;
constexpr uint8_t kNameOp = 0x08;
constexpr uint8_t kScopeOp = 0x10;
constexpr uint8_t kBufferOp = 0x11;
constexpr uint8_t kPackageOp = 0x12;
constexpr uint8_t kVarPackageOp = 0x13;
constexpr uint8_t kMethodOp = 0x14;
constexpr uint8_t kDualNamePrefix = 0x2e;
constexpr uint8_t kMultiNamePrefix = 0x2f;
constexpr uint8_t kRootChar = '\\';
constexpr uint8_t kParentPrefixChar = '^';
constexpr uint8_t kExtOpPrefix = 0x5b;
constexpr uint8_t kDeviceOp = 0x82;  // after kExtOpPrefix
constexpr uint8_t kReturnOp = 0xa4;
constexpr uint8_t kNotifyOp = 0x86;

// Resource descriptor tags, ACPI 6.4 section 6.4.
constexpr uint8_t kIrqTag = 0x22;        // small item 0x4, length 2
constexpr uint8_t kIoTag = 0x47;         // small item 0x8, length 7
constexpr uint8_t kEndTag = 0x79;        // small item 0xF, length 1
constexpr uint8_t kMemory32Fixed = 0x86;  // large items
constexpr uint8_t kDWordAddress = 0x87;
constexpr uint8_t kWordAddress = 0x88;
constexpr uint8_t kExtendedIrq = 0x89;
constexpr uint8_t kQWordAddress = 0x8a;

// Address space descriptor fields (6.4.3.5, table 6.42).
constexpr uint8_t kMemoryRange = 0;
constexpr uint8_t kIoRange = 1;
constexpr uint8_t kBusNumberRange = 2;
// General flags: producer (bit 0 clear), positive decode (bit 1 clear),
// _MIF (bit 2) and _MAF (bit 3) fixed.
constexpr uint8_t kProducerFixed = (1 << 2) | (1 << 3);
// Memory type-specific flags: bit 0 read-write, bits 2:1 _MEM.
constexpr uint8_t kMemReadWrite = 1 << 0;
constexpr uint8_t kMemCacheable = 1 << 1;
constexpr uint8_t kIoEntireRange = 3;  // _RNG, bits 1:0

template <typename T>
void PutLe(Bytes& out, T value) {
  for (size_t i = 0; i < sizeof(T); ++i) {
    out.push_back(static_cast<uint8_t>(static_cast<uint64_t>(value) >> (8 * i)));
  }
}

void Append(Bytes& out, const Bytes& more) {
  out.insert(out.end(), more.begin(), more.end());
}

// Opcode(s), PkgLength, then body.
Bytes WithPkgLength(std::initializer_list<uint8_t> ops, const Bytes& body) {
  Bytes out(ops);
  Append(out, PkgLength(body.size()));
  Append(out, body);
  return out;
}

void AppendNameSeg(Bytes& out, std::string_view seg) {
  for (size_t i = 0; i < 4; ++i) {
    out.push_back(i < seg.size() ? static_cast<uint8_t>(seg[i]) : '_');
  }
}

// Address space descriptor: tag, length, type, flags, then the five fields
// (granularity, min, max, translation, length) of `T`'s width.
template <typename T>
Bytes AddressSpace(uint8_t tag, uint8_t type, uint8_t type_flags, T min,
                   T max) {
  Bytes out = {tag};
  // Length of the rest after the 3-byte header: type, two flag bytes and
  // five fields.
  PutLe<uint16_t>(out, static_cast<uint16_t>(3 + 5 * sizeof(T)));
  out.push_back(type);
  out.push_back(kProducerFixed);
  out.push_back(type_flags);
  PutLe<T>(out, 0);  // granularity
  PutLe<T>(out, min);
  PutLe<T>(out, max);
  PutLe<T>(out, 0);  // translation offset
  PutLe<T>(out, static_cast<T>(max - min + 1));
  return out;
}

}  // namespace

Bytes Concat(std::initializer_list<Bytes> parts) {
  Bytes out;
  for (const Bytes& p : parts) Append(out, p);
  return out;
}

Bytes Concat(const std::vector<Bytes>& parts) {
  Bytes out;
  for (const Bytes& p : parts) Append(out, p);
  return out;
}

absl::StatusOr<NamePath> NamePath::Parse(std::string_view path) {
  if (path.size() > kMaxLength || !IsValidNamePath(path)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "'%s' is not an ACPI name path: use up to %d characters of 1-4 "
        "character segments (A-Z, 0-9, _; no leading digit) joined by '.', "
        "optionally after '\\' or '^'",
        path, kMaxLength));
  }
  NamePath name;
  name.Copy(path);
  return name;
}

Bytes NameString(const NamePath& name) {
  std::string_view path = name.text();
  Bytes out;
  while (!path.empty() && (path[0] == kRootChar || path[0] == kParentPrefixChar)) {
    out.push_back(static_cast<uint8_t>(path[0]));
    path.remove_prefix(1);
  }
  std::vector<std::string_view> segs;
  while (!path.empty()) {
    const size_t dot = path.find('.');
    segs.push_back(path.substr(0, dot));
    path = dot == std::string_view::npos ? std::string_view()
                                         : path.substr(dot + 1);
  }
  if (segs.empty()) {
    out.push_back(0x00);  // NullName
  } else if (segs.size() == 2) {
    out.push_back(kDualNamePrefix);
  } else if (segs.size() > 2) {
    out.push_back(kMultiNamePrefix);
    out.push_back(static_cast<uint8_t>(segs.size()));
  }
  for (std::string_view seg : segs) AppendNameSeg(out, seg);
  return out;
}

Bytes Integer(uint64_t value) {
  if (value == 0) return {kZeroOp};
  if (value == 1) return {kOneOp};
  if (value == ~uint64_t{0}) return {kOnesOp};
  Bytes out;
  if (value <= 0xff) {
    out.push_back(kBytePrefix);
    PutLe<uint8_t>(out, static_cast<uint8_t>(value));
  } else if (value <= 0xffff) {
    out.push_back(kWordPrefix);
    PutLe<uint16_t>(out, static_cast<uint16_t>(value));
  } else if (value <= 0xffffffff) {
    out.push_back(kDWordPrefix);
    PutLe<uint32_t>(out, static_cast<uint32_t>(value));
  } else {
    out.push_back(kQWordPrefix);
    PutLe<uint64_t>(out, value);
  }
  return out;
}

Bytes DWord(uint32_t value) {
  Bytes out = {kDWordPrefix};
  PutLe<uint32_t>(out, value);
  return out;
}

Bytes String(std::string_view s) {
  // Sized once, then filled: growing a one-byte vector with insert() draws a
  // false -Warray-bounds from GCC 12 at -O2 (its inlined memcpy).
  Bytes out(s.size() + 2);
  out.front() = kStringPrefix;
  std::copy(s.begin(), s.end(), out.begin() + 1);
  out.back() = 0;  // NullChar
  return out;
}

Bytes PkgLength(size_t body_length) {
  // The encoded length counts its own bytes. One byte holds 6 bits; with
  // N following bytes the lead byte holds 4 bits (bits 3:0) and bits 7:6
  // say N.
  if (body_length + 1 < (1u << 6)) {
    return {static_cast<uint8_t>(body_length + 1)};
  }
  for (size_t extra = 1; extra <= 3; ++extra) {
    const size_t total = body_length + 1 + extra;
    if (total < (size_t{1} << (4 + 8 * extra))) {
      Bytes out = {static_cast<uint8_t>(extra << 6 | (total & 0xf))};
      for (size_t i = 0; i < extra; ++i) {
        out.push_back(static_cast<uint8_t>(total >> (4 + 8 * i)));
      }
      return out;
    }
  }
  // Documented as unencodable; emit the largest length rather than garbage.
  return {0xff, 0xff, 0xff, 0xff};
}

Bytes Package(const std::vector<Bytes>& elements) {
  if (elements.size() <= 0xff) {
    Bytes body = {static_cast<uint8_t>(elements.size())};
    Append(body, Concat(elements));
    return WithPkgLength({kPackageOp}, body);
  }
  Bytes body = Integer(elements.size());
  Append(body, Concat(elements));
  return WithPkgLength({kVarPackageOp}, body);
}

Bytes Buffer(const Bytes& data) {
  Bytes body = Integer(data.size());
  Append(body, data);
  return WithPkgLength({kBufferOp}, body);
}

Bytes Name(const NamePath& name, const Bytes& value) {
  Bytes out = {kNameOp};
  Append(out, NameString(name));
  Append(out, value);
  return out;
}

Bytes Scope(const NamePath& name, const Bytes& terms) {
  return WithPkgLength({kScopeOp}, Concat({NameString(name), terms}));
}

Bytes Device(const NamePath& name, const Bytes& terms) {
  return WithPkgLength({kExtOpPrefix, kDeviceOp},
                       Concat({NameString(name), terms}));
}

Bytes Method(const NamePath& name, int args, bool serialized,
             const Bytes& terms) {
  // MethodFlags: bits 2:0 ArgCount, bit 3 SerializeFlag, bits 7:4 SyncLevel.
  const uint8_t flags =
      static_cast<uint8_t>((args & 0x7) | (serialized ? 1 << 3 : 0));
  return WithPkgLength({kMethodOp}, Concat({NameString(name), {flags}, terms}));
}

Bytes Return(const Bytes& value) { return Concat({{kReturnOp}, value}); }

Bytes Notify(const NamePath& object, uint64_t value) {
  return Concat({{kNotifyOp}, NameString(object), Integer(value)});
}

Bytes Io(uint16_t min, uint16_t max, uint8_t alignment, uint8_t length) {
  Bytes out = {kIoTag, 0x01};  // information: 16-bit address decode
  PutLe<uint16_t>(out, min);
  PutLe<uint16_t>(out, max);
  out.push_back(alignment);
  out.push_back(length);
  return out;
}

Bytes IrqNoFlags(uint8_t irq) {
  Bytes out = {kIrqTag};
  PutLe<uint16_t>(out, static_cast<uint16_t>(1u << (irq & 0xf)));
  return out;
}

Bytes Interrupt(uint32_t gsi, bool edge, bool active_low, bool shared) {
  Bytes out = {kExtendedIrq};
  PutLe<uint16_t>(out, 6);  // flags, count, one DWord
  // Bit 0 consumer, bit 1 edge, bit 2 active low, bit 3 shared.
  out.push_back(static_cast<uint8_t>(1 | (edge ? 1 << 1 : 0) |
                                     (active_low ? 1 << 2 : 0) |
                                     (shared ? 1 << 3 : 0)));
  out.push_back(1);
  PutLe<uint32_t>(out, gsi);
  return out;
}

Bytes Memory32Fixed(uint32_t base, uint32_t length) {
  Bytes out = {kMemory32Fixed};
  PutLe<uint16_t>(out, 9);  // information, base, length
  out.push_back(1);         // read-write
  PutLe<uint32_t>(out, base);
  PutLe<uint32_t>(out, length);
  return out;
}

Bytes WordBusNumber(uint16_t min, uint16_t max) {
  return AddressSpace<uint16_t>(kWordAddress, kBusNumberRange, 0, min, max);
}

Bytes WordIo(uint16_t min, uint16_t max) {
  return AddressSpace<uint16_t>(kWordAddress, kIoRange, kIoEntireRange, min,
                                max);
}

Bytes DWordMemory(uint32_t min, uint32_t max, bool cacheable) {
  return AddressSpace<uint32_t>(
      kDWordAddress, kMemoryRange,
      kMemReadWrite | (cacheable ? kMemCacheable : 0), min, max);
}

Bytes QWordMemory(uint64_t min, uint64_t max, bool cacheable) {
  return AddressSpace<uint64_t>(
      kQWordAddress, kMemoryRange,
      kMemReadWrite | (cacheable ? kMemCacheable : 0), min, max);
}

Bytes ResourceTemplate(const std::vector<Bytes>& descriptors) {
  Bytes data = Concat(descriptors);
  data.push_back(kEndTag);
  data.push_back(0);  // checksum 0: no checksum (6.4.2.9)
  return Buffer(data);
}

}  // namespace microvm::acpi::aml
