// SPDX-License-Identifier: Apache-2.0
// Test inputs for the boot loaders: synthetic bzImage and ELF files built
// in memory, temporary files, and the real Debian kernel that
// tools/setup.sh caches.
#ifndef MICROVM_VMM_BOOT_TEST_IMAGES_H_
#define MICROVM_VMM_BOOT_TEST_IMAGES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace microvm::boot::testing {

struct BzImageSpec {
  uint16_t version = 0x020f;
  uint16_t xloadflags = 1;  // XLF_KERNEL_64
  uint8_t setup_sects = 4;
  uint32_t kernel_bytes = 64 * 1024;  // multiple of 16
  bool relocatable = true;
  uint32_t kernel_alignment = 2 << 20;
  uint8_t min_alignment = 21;
  uint64_t pref_address = 16 << 20;
  uint32_t init_size = 4 << 20;
  uint32_t initrd_addr_max = 0x7fffffff;
  uint32_t cmdline_size = 2047;
};

// A bzImage with the given header; the protected-mode kernel holds the
// bytes KernelByte(0), KernelByte(1), ...
std::vector<uint8_t> MakeBzImage(const BzImageSpec& spec);
inline uint8_t KernelByte(uint64_t i) {
  return static_cast<uint8_t>(i * 7 + 3);
}

struct ElfSegment {
  uint64_t paddr;
  uint64_t vaddr;
  std::vector<uint8_t> data;  // filesz = data.size()
  uint64_t memsz;
};

// An ELF64 x86-64 executable with one PT_LOAD per segment.
std::vector<uint8_t> MakeElf(const std::vector<ElfSegment>& segments,
                             uint64_t entry);

// A file under TEST_TMPDIR with `contents`; returns its path.
std::string WriteTempFile(const std::string& name,
                          const std::vector<uint8_t>& contents);

// $MICROVM_CACHE/kernel/vmlinuz (default /var/tmp/microvm-cache/...), or
// an error telling to run tools/setup.sh when it is not there.
absl::StatusOr<std::string> CachedKernelPath();

}  // namespace microvm::boot::testing

#endif  // MICROVM_VMM_BOOT_TEST_IMAGES_H_
