// SPDX-License-Identifier: Apache-2.0
#include "vmm/boot/zero_page.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"
#include "base/status.h"
#include "memory/layout.h"

namespace microvm::boot {
namespace {

constexpr uint64_t kPage = 4 * layout::kKiB;
// KVM_SET_IDENTITY_MAP_ADDR takes one page, KVM_SET_TSS_ADDR three.
constexpr uint64_t kKvmPrivateEnd = layout::kTssAddr + 3 * kPage;

uint64_t AlignDown(uint64_t v, uint64_t a) { return v & ~(a - 1); }
uint64_t AlignUp(uint64_t v, uint64_t a) { return AlignDown(v + a - 1, a); }
uint64_t MiBUp(uint64_t v) { return AlignUp(v, layout::kMiB) / layout::kMiB; }

}  // namespace

absl::StatusOr<uint64_t> LowRamEnd(const GuestMemory& mem) {
  for (const MemoryRegion& r : mem.regions()) {
    if (r.gpa == 0) {
      if (r.size < layout::kIsaHoleEnd) break;
      return r.size;
    }
  }
  return absl::FailedPreconditionError(
      "guest memory has no RAM region at address 0 reaching 1 MiB, which the "
      "PC boot layout needs (memory/layout.h)");
}

absl::StatusOr<std::vector<boot_e820_entry>> BuildE820Map(
    const GuestMemory& mem) {
  MVM_ASSIGN_OR_RETURN(uint64_t low_end, LowRamEnd(mem));
  std::vector<boot_e820_entry> map;
  auto add = [&map](uint64_t addr, uint64_t end, uint32_t type) {
    if (end > addr) map.push_back({addr, end - addr, type});
  };
  // The EBDA (MP tables) and the legacy VGA/ROM area are backed by RAM here
  // but must not be used as RAM by the guest.
  add(0, layout::kEbdaStart, kE820Ram);
  add(layout::kEbdaStart, layout::kIsaHoleEnd, kE820Reserved);
  add(layout::kIsaHoleEnd, low_end, kE820Ram);
  for (const MemoryRegion& r : mem.regions()) {
    if (r.gpa != 0) add(r.gpa, r.gpa + r.size, kE820Ram);
  }
  // Linux uses MMCONFIG only when the ECAM window is reserved in e820
  // (arch/x86/pci/mmconfig-shared.c, is_mmconf_reserved). The 32-bit BAR
  // window stays out of the map so Linux may assign BARs there.
  add(layout::kEcamAddr, layout::kEcamAddr + layout::kEcamSize, kE820Reserved);
  // KVM's real-mode TSS and identity map (as QEMU reserves them).
  add(layout::kIdentityMapAddr, kKvmPrivateEnd, kE820Reserved);
  std::sort(map.begin(), map.end(),
            [](const boot_e820_entry& a, const boot_e820_entry& b) {
              return a.addr < b.addr;
            });
  if (map.size() > E820_MAX_ENTRIES_ZEROPAGE) {
    return absl::InternalError(absl::StrFormat(
        "the e820 map has %d entries, more than the zero page holds (%d)",
        map.size(), E820_MAX_ENTRIES_ZEROPAGE));
  }
  return map;
}

absl::Status SetE820(const GuestMemory& mem, boot_params& zero_page) {
  MVM_ASSIGN_OR_RETURN(std::vector<boot_e820_entry> map, BuildE820Map(mem));
  std::copy(map.begin(), map.end(), zero_page.e820_table);
  zero_page.e820_entries = static_cast<uint8_t>(map.size());
  return absl::OkStatus();
}

absl::Status WriteCmdline(const GuestMemory& mem, std::string_view cmdline,
                          uint64_t max_len, boot_params& zero_page) {
  if (cmdline.find('\0') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        "the kernel command line contains a NUL byte; remove it");
  }
  const uint64_t limit = std::min(max_len, layout::kCmdlineMax - 1);
  if (cmdline.size() > limit) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the kernel command line is %d bytes, %d more than this kernel "
        "accepts (%d, its cmdline_size); shorten it",
        cmdline.size(), cmdline.size() - limit, limit));
  }
  MVM_ASSIGN_OR_RETURN(uint8_t * host, mem.HostAddress(layout::kCmdlineAddr,
                                                       cmdline.size() + 1));
  std::memcpy(host, cmdline.data(), cmdline.size());
  host[cmdline.size()] = 0;
  zero_page.hdr.cmd_line_ptr = static_cast<uint32_t>(layout::kCmdlineAddr);
  zero_page.ext_cmd_line_ptr =
      static_cast<uint32_t>(layout::kCmdlineAddr >> 32);
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> PlaceInitrd(const GuestMemory& mem, uint64_t size,
                                     const KernelImage& kernel) {
  MVM_ASSIGN_OR_RETURN(uint64_t low_end, LowRamEnd(mem));
  // initrd_addr_max is the highest address the last byte may occupy.
  const uint64_t addr_limit = kernel.initrd_addr_max == UINT64_MAX
                                  ? UINT64_MAX
                                  : kernel.initrd_addr_max + 1;
  const uint64_t top = std::min(addr_limit, low_end);
  const uint64_t floor = AlignUp(kernel.end, kPage);
  if (size <= top && AlignDown(top - size, kPage) >= floor) {
    return AlignDown(top - size, kPage);
  }
  const uint64_t needed = floor + AlignUp(size, kPage);
  if (addr_limit < low_end || needed > layout::kPciHoleStart) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "the initrd is %d MiB, but between the kernel's end (%d MiB) and the "
        "highest address it accepts for an initrd (%d MiB) there are only "
        "%d MiB; use a smaller initrd",
        MiBUp(size), MiBUp(floor), top / layout::kMiB,
        top > floor ? (top - floor) / layout::kMiB : 0));
  }
  return absl::ResourceExhaustedError(absl::StrFormat(
      "the initrd is %d MiB and does not fit in guest RAM above the kernel "
      "(which needs memory up to %d MiB); give the guest at least %d MiB of "
      "RAM",
      MiBUp(size), MiBUp(floor), MiBUp(needed)));
}

void SetRamdisk(uint64_t gpa, uint64_t size, boot_params& zero_page) {
  zero_page.hdr.ramdisk_image = static_cast<uint32_t>(gpa);
  zero_page.hdr.ramdisk_size = static_cast<uint32_t>(size);
  zero_page.ext_ramdisk_image = static_cast<uint32_t>(gpa >> 32);
  zero_page.ext_ramdisk_size = static_cast<uint32_t>(size >> 32);
}

}  // namespace microvm::boot
