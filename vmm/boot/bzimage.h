// SPDX-License-Identifier: Apache-2.0
// Linux x86 bzImage: header checks and loading for the 64-bit boot protocol
// (Linux Documentation/arch/x86/boot.rst). Only the protected-mode part is
// loaded; the real-mode setup code never runs, the VMM enters the kernel's
// 64-bit entry point (load address + 0x200) with RSI at the zero page.
#ifndef MICROVM_VMM_BOOT_BZIMAGE_H_
#define MICROVM_VMM_BOOT_BZIMAGE_H_

#include <asm/bootparam.h>

#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "memory/guest_memory.h"
#include "vmm/boot/zero_page.h"

namespace microvm::boot {

// Offsets in the image file (boot.rst, "The Real-Mode Kernel Header").
inline constexpr uint64_t kSetupHeaderOffset = 0x1f1;
inline constexpr uint64_t kHdrSMagicOffset = 0x202;
// Boot protocol 2.12 added xloadflags (XLF_KERNEL_64) and ext_ramdisk_*.
inline constexpr uint16_t kMinBootProtocol = 0x020c;
// The 64-bit entry point is startup_64, 0x200 into the protected-mode kernel.
inline constexpr uint64_t kEntry64Offset = 0x200;
// The start of the file that holds the whole setup header: it ends at
// 0x202 + the byte at 0x201, so by 0x301.
inline constexpr uint64_t kBzImageHeadBytes = 0x400;

// The facts of a bzImage's setup header that decide how it is loaded.
struct BzImageHeader {
  setup_header header{};      // as in the file
  uint64_t header_bytes = 0;  // how much of setup_header the file defines
  uint64_t setup_bytes = 0;   // boot sector + real-mode code: (sects + 1) * 512
  uint64_t kernel_bytes = 0;  // protected-mode kernel: syssize * 16
};

// Where a bzImage goes in guest-physical memory.
struct BzImagePlacement {
  uint64_t load_addr = 0;      // protected-mode kernel is copied here
  uint64_t runtime_start = 0;  // where it decompresses itself (boot.rst)
  uint64_t end = 0;  // end of the image and of init_size from runtime_start
};

// True if `image` has the "HdrS" magic at 0x202.
bool IsBzImage(absl::Span<const uint8_t> image);

// Validates the header: magic, protocol >= 2.12, XLF_KERNEL_64, sizes
// against the file, alignment. Errors say what is wrong and what to do.
// `head` is the start of the file (kBzImageHeadBytes, or all of a shorter
// file), `file_size` the size of the whole file.
absl::StatusOr<BzImageHeader> ParseBzImage(absl::Span<const uint8_t> head,
                                           uint64_t file_size);
// The same for a whole image in memory.
absl::StatusOr<BzImageHeader> ParseBzImage(absl::Span<const uint8_t> image);

// Decides load and run-time addresses: layout::kKernelAddr rounded up to
// kernel_alignment for a relocatable kernel, pref_address otherwise. An error
// if the kernel and its init_size do not fit below `low_ram_end`.
absl::StatusOr<BzImagePlacement> PlaceBzImage(const BzImageHeader& bz,
                                              uint64_t low_ram_end);

// Parses, places and reads the protected-mode kernel into guest memory
// with `read` (head and file_size as for ParseBzImage) and fills
// zero_page.hdr (setup header from the image, type_of_loader, loadflags,
// heap). The command line, initrd and e820 are set by the caller
// (zero_page.h) from the returned KernelImage.
absl::StatusOr<KernelImage> LoadBzImage(const GuestMemory& mem,
                                        absl::Span<const uint8_t> head,
                                        uint64_t file_size, ImageReader read,
                                        boot_params& zero_page);
// The same for a whole image in memory.
absl::StatusOr<KernelImage> LoadBzImage(const GuestMemory& mem,
                                        absl::Span<const uint8_t> image,
                                        boot_params& zero_page);

}  // namespace microvm::boot

#endif  // MICROVM_VMM_BOOT_BZIMAGE_H_
