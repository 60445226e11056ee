// SPDX-License-Identifier: Apache-2.0
// ELF64 x86-64 executables: an uncompressed Linux vmlinux or a test guest.
// Each PT_LOAD segment is copied to its physical address (p_paddr); the
// guest is entered in 64-bit mode at the entry point with RSI at the zero
// page, as Linux's startup_64 expects (boot.rst, "64-bit Boot Protocol").
#ifndef MICROVM_VMM_BOOT_ELF_H_
#define MICROVM_VMM_BOOT_ELF_H_

#include <asm/bootparam.h>

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "memory/guest_memory.h"
#include "vmm/boot/zero_page.h"

namespace microvm::boot {

// True if `image` starts with the ELF magic.
bool IsElf(absl::Span<const uint8_t> image);

// Validates the ELF header and program headers, loads every PT_LOAD segment
// (zero-filling memsz beyond filesz) and fills zero_page.hdr with the
// fields a kernel without a setup header needs. A segment outside guest RAM
// or over the VMM's boot data (zero page, page tables, command line below
// layout::kCmdlineAddr + kCmdlineMax; EBDA and ISA hole) is an error.
//
// The entry point: e_entry when it is a physical address inside a loaded
// segment (vmlinux: ENTRY(phys_startup_64)); otherwise e_entry translated
// from the segment's virtual to its physical address.
//
// The headers and every segment are read with `read` from a file of
// `file_size` bytes, the segments straight into guest RAM: an uncompressed
// Linux is ~50 MB, which the VMM does not copy twice.
absl::StatusOr<KernelImage> LoadElf(const GuestMemory& mem, uint64_t file_size,
                                    ImageReader read, boot_params& zero_page);
// The same from an image in memory.
absl::StatusOr<KernelImage> LoadElf(const GuestMemory& mem,
                                    absl::Span<const uint8_t> image,
                                    boot_params& zero_page);

}  // namespace microvm::boot

#endif  // MICROVM_VMM_BOOT_ELF_H_
