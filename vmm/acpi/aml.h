// SPDX-License-Identifier: Apache-2.0
// A small ACPI Machine Language encoder (ACPI 6.4 chapter 20, "ACPI Machine
// Language Specification"), enough for a microvm DSDT: data objects, names,
// packages, devices, scopes, methods that return a value, and the resource
// templates of _CRS (section 6.4, "Resource Data Types for ACPI").
//
// Every function returns the encoded bytes of one object; larger objects are
// built by passing the bytes of their contents. Nothing here can fail at run
// time: names and EISA ids given as string literals are checked at compile
// time (consteval), and names made at run time go through NamePath::Parse,
// which returns an error for a malformed name.
#ifndef MICROVM_VMM_ACPI_AML_H_
#define MICROVM_VMM_ACPI_AML_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace microvm::acpi::aml {

using Bytes = std::vector<uint8_t>;

// Concatenates encoded objects (a TermList).
Bytes Concat(std::initializer_list<Bytes> parts);
Bytes Concat(const std::vector<Bytes>& parts);

// --- Names (20.2.2) ------------------------------------------------------

// Lead character 'A'-'Z' or '_', then 'A'-'Z', '0'-'9' or '_'.
constexpr bool IsNameChar(char c, bool lead) {
  return (c >= 'A' && c <= 'Z') || c == '_' || (!lead && c >= '0' && c <= '9');
}

// A name path in ASL spelling: an optional root '\' or any number of parent
// prefixes '^', then up to 255 NameSegs of 1-4 characters joined by '.'.
// Segments shorter than four characters are padded with '_' as iasl does
// ("_SB" is "_SB_"). An empty path is the NullName.
constexpr bool IsValidNamePath(std::string_view path) {
  size_t i = 0;
  if (i < path.size() && path[i] == '\\') {
    ++i;
  } else {
    while (i < path.size() && path[i] == '^') ++i;
  }
  if (i == path.size()) return true;  // root, parent(s) or NullName alone
  int segs = 0;
  while (true) {
    size_t len = 0;
    while (i < path.size() && path[i] != '.') {
      if (!IsNameChar(path[i], len == 0)) return false;
      ++len;
      ++i;
    }
    if (len == 0 || len > 4) return false;
    if (++segs > 255) return false;
    if (i == path.size()) return true;
    ++i;  // '.'
  }
}

class NamePath {
 public:
  // Longest path accepted, in ASL characters; enough for any name here.
  static constexpr size_t kMaxLength = 63;

  // For literals: a malformed name does not compile.
  consteval NamePath(const char* path) {  // NOLINT: implicit on purpose
    std::string_view view(path);
    if (view.size() > kMaxLength || !IsValidNamePath(view)) {
      throw "malformed ACPI name path";
    }
    Copy(view);
  }
  // For names made at run time: an error for a malformed or long path.
  static absl::StatusOr<NamePath> Parse(std::string_view path);

  std::string_view text() const { return std::string_view(text_, length_); }

 private:
  constexpr NamePath() = default;
  constexpr void Copy(std::string_view view) {
    for (size_t i = 0; i < view.size(); ++i) text_[i] = view[i];
    length_ = view.size();
  }
  char text_[kMaxLength] = {};
  size_t length_ = 0;
};

// NameString encoding: RootChar/ParentPrefixChars, then NullName, a NameSeg,
// DualNamePrefix (0x2E) + 2 segs or MultiNamePrefix (0x2F) + count + segs.
Bytes NameString(const NamePath& path);

// --- Data objects (20.2.3) -----------------------------------------------

// The shortest encoding: ZeroOp, OneOp, OnesOp (all 64 bits set; DSDTs from
// here are revision 2, 64-bit integers), then Byte/Word/DWord/QWordPrefix.
Bytes Integer(uint64_t value);
// A DWordConst whatever the value, as iasl emits for EISAID().
Bytes DWord(uint32_t value);
// StringPrefix, the ASCII characters, NUL. `s` must not contain NUL.
Bytes String(std::string_view s);

// The 32-bit compressed EISA id of "AAANNNN" (three letters 'A'-'Z', four
// upper-case hex digits), as ASL's EISAID() computes it: letters in 5 bits
// each, the product number in 16, the whole stored big-endian.
consteval uint32_t EisaIdValue(const char (&id)[8]) {
  for (int i = 0; i < 3; ++i) {
    if (id[i] < 'A' || id[i] > 'Z') throw "EISA id: 3 letters A-Z first";
  }
  uint32_t value = static_cast<uint32_t>((id[0] - '@') << 26 |
                                         (id[1] - '@') << 21 |
                                         (id[2] - '@') << 16);
  for (int i = 3; i < 7; ++i) {
    const char c = id[i];
    uint32_t digit;
    if (c >= '0' && c <= '9') {
      digit = static_cast<uint32_t>(c - '0');
    } else if (c >= 'A' && c <= 'F') {
      digit = static_cast<uint32_t>(c - 'A' + 10);
    } else {
      throw "EISA id: 4 upper-case hex digits after the letters";
    }
    value |= digit << (4 * (6 - i));
  }
  return (value >> 24) | ((value >> 8) & 0xff00) | ((value << 8) & 0xff0000) |
         (value << 24);
}

// PkgLength (20.2.4): the length of `body_length` plus the encoding itself,
// in 1 to 4 bytes. Bodies of 2^28 - 4 bytes or more cannot be encoded; no
// table built here comes near that.
Bytes PkgLength(size_t body_length);

// PackageOp (up to 255 elements) or VarPackageOp (more).
Bytes Package(const std::vector<Bytes>& elements);

// BufferOp PkgLength BufferSize data.
Bytes Buffer(const Bytes& data);

// --- Named objects and methods (20.2.5) ----------------------------------

// NameOp NameString DataRefObject.
Bytes Name(const NamePath& name, const Bytes& value);
// ScopeOp PkgLength NameString TermList.
Bytes Scope(const NamePath& name, const Bytes& terms);
// ExtOpPrefix DeviceOp PkgLength NameString TermList.
Bytes Device(const NamePath& name, const Bytes& terms);
// MethodOp PkgLength NameString MethodFlags TermList; `args` 0-7.
Bytes Method(const NamePath& name, int args, bool serialized,
             const Bytes& terms);
// ReturnOp ArgObject.
Bytes Return(const Bytes& value);
// NotifyOp NotifyObject NotifyValue (19.6.92): e.g. Notify (PWRB, 0x80),
// a power button press (5.6.6, table 5.166).
Bytes Notify(const NamePath& object, uint64_t value);

// --- Resource descriptors for _CRS (6.4) ---------------------------------

// I/O port descriptor (6.4.2.5): 16-bit decode, [min, max] bases.
Bytes Io(uint16_t min, uint16_t max, uint8_t alignment, uint8_t length);
// IRQ descriptor without the flags byte (6.4.2.1): ISA edge, active high.
Bytes IrqNoFlags(uint8_t irq);
// Extended interrupt descriptor (6.4.3.6), consumer, one interrupt.
Bytes Interrupt(uint32_t gsi, bool edge, bool active_low, bool shared);
// 32-bit fixed memory range descriptor (6.4.3.4), read-write.
Bytes Memory32Fixed(uint32_t base, uint32_t length);
// Address space descriptors (6.4.3.5), producer, MinFixed, MaxFixed,
// PosDecode, granularity and translation 0, covering [min, max].
Bytes WordBusNumber(uint16_t min, uint16_t max);
Bytes WordIo(uint16_t min, uint16_t max);  // EntireRange
Bytes DWordMemory(uint32_t min, uint32_t max, bool cacheable);  // ReadWrite
Bytes QWordMemory(uint64_t min, uint64_t max, bool cacheable);  // ReadWrite
// A Buffer holding `descriptors` followed by the End Tag (6.4.2.9) with
// checksum 0 ("treated as if the checksum operation succeeded").
Bytes ResourceTemplate(const std::vector<Bytes>& descriptors);

}  // namespace microvm::acpi::aml

#endif  // MICROVM_VMM_ACPI_AML_H_
