// SPDX-License-Identifier: Apache-2.0
// The parts of the Linux zero page (struct boot_params) that do not depend on
// the kernel's file format: the e820 memory map, the command line and the
// initrd placement. bzimage.h and elf.h fill in the setup header and say
// where the kernel lies; loader.h puts it all together.
// Linux Documentation/arch/x86/boot.rst and zero-page.rst.
#ifndef MICROVM_VMM_BOOT_ZERO_PAGE_H_
#define MICROVM_VMM_BOOT_ZERO_PAGE_H_

#include <asm/bootparam.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "memory/guest_memory.h"

namespace microvm::boot {

// e820 entry types (ACPI 6.4 table 15.312; Linux asm/e820/types.h).
inline constexpr uint32_t kE820Ram = 1;
inline constexpr uint32_t kE820Reserved = 2;

// What a format-specific loader learned about the kernel it put into guest
// memory, for the format-independent zero-page code.
// Reads exactly out.size() bytes of the kernel file at `offset` into `out`
// (an error otherwise). The loaders read the kernel, nearly all of the
// file, straight into guest RAM with it: no copy of the whole file on the
// way.
using ImageReader =
    absl::FunctionRef<absl::Status(uint64_t offset, absl::Span<uint8_t> out)>;

struct KernelImage {
  std::string format;  // "bzImage" or "ELF"
  uint64_t entry_rip = 0;
  // Guest-physical range the kernel occupies or will need before it reads
  // the memory map (for a bzImage: the loaded image and init_size from its
  // run-time address). The initrd is placed above `end`.
  uint64_t begin = 0;
  uint64_t end = 0;
  // Highest address the initrd's last byte may occupy (initrd_addr_max).
  uint64_t initrd_addr_max = 0;
  // Longest command line the kernel accepts, without the NUL (cmdline_size).
  uint64_t cmdline_max = 0;
};

// End of the RAM region at GPA 0 (RAM below the 32-bit PCI hole); an error
// if guest memory does not start with RAM at 0 covering the ISA hole.
absl::StatusOr<uint64_t> LowRamEnd(const GuestMemory& mem);

// The memory map Linux gets: RAM [0, EBDA), reserved EBDA + ISA hole up to
// 1 MiB, RAM [1 MiB, end of low RAM), RAM above 4 GiB, and reserved entries
// for the parts of the hole below 4 GiB that must never become BAR space:
// ECAM (so Linux trusts MMCONFIG, PCI Firmware 3.2 4.1.2) and the KVM
// TSS/identity-map pages. Sorted by address.
absl::StatusOr<std::vector<boot_e820_entry>> BuildE820Map(
    const GuestMemory& mem);

// Fills zero_page.e820_table/e820_entries from BuildE820Map().
absl::Status SetE820(const GuestMemory& mem, boot_params& zero_page);

// Copies `cmdline` and its NUL to layout::kCmdlineAddr and points
// hdr.cmd_line_ptr at it. Longer than `max_len` (or than the cmdline area)
// is an error saying by how much.
absl::Status WriteCmdline(const GuestMemory& mem, std::string_view cmdline,
                          uint64_t max_len, boot_params& zero_page);

// Where an initrd of `size` bytes goes: the highest page-aligned address
// whose last byte is at or below min(kernel.initrd_addr_max, end of low RAM)
// and that starts at or above kernel.end. Too big is an error saying how much
// RAM would be needed.
absl::StatusOr<uint64_t> PlaceInitrd(const GuestMemory& mem, uint64_t size,
                                     const KernelImage& kernel);

// Records the initrd in the zero page (ramdisk_image/size and, boot protocol
// 2.12, their high 32 bits in ext_ramdisk_image/size).
void SetRamdisk(uint64_t gpa, uint64_t size, boot_params& zero_page);

}  // namespace microvm::boot

#endif  // MICROVM_VMM_BOOT_ZERO_PAGE_H_
