// SPDX-License-Identifier: Apache-2.0
// Loading a guest kernel: the one call the VMM makes to get from a kernel
// file (bzImage or ELF64), an optional initrd and a command line to guest
// memory ready for the 64-bit entry: kernel, zero page, command line, initrd,
// e820 map and MP tables in place. Page tables and the GDT are the VMM's
// (vmm/x86/long_mode.h).
#ifndef MICROVM_VMM_BOOT_LOADER_H_
#define MICROVM_VMM_BOOT_LOADER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "memory/guest_memory.h"
#include "vmm/boot/image_file.h"
#include "vmm/boot/mptable.h"

namespace microvm::boot {

struct LoadOptions {
  std::string kernel_path;  // bzImage (protocol >= 2.12) or ELF64 x86-64
  std::string initrd_path;  // empty: no initrd
  // The same files already open (a VM that boots again keeps them open);
  // null: opened from the paths.
  const ImageFile* kernel_file = nullptr;
  const ImageFile* initrd_file = nullptr;
  std::string cmdline;
  int cpus = 1;
  // PCI INTx wiring for the MP tables (bus 1); empty until the PCI root
  // complex provides it.
  std::vector<PciIntxRoute> pci_intx;
};

struct BootInfo {
  uint64_t entry_rip = 0;      // 64-bit entry point
  uint64_t zero_page_gpa = 0;  // RSI at entry (layout::kZeroPageAddr)
  std::string format;          // "bzImage" or "ELF"
};

// Sniffs the kernel's format (ELF magic or bzImage "HdrS"), loads it and
// the initrd, writes the command line, the zero page and the MP tables.
// Errors are one line naming the file, what is wrong and what to do.
absl::StatusOr<BootInfo> LoadKernel(const GuestMemory& mem,
                                    const LoadOptions& options);

}  // namespace microvm::boot

#endif  // MICROVM_VMM_BOOT_LOADER_H_
