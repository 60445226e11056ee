// SPDX-License-Identifier: Apache-2.0
// Fuzzes the ELF64 loader with the input as the kernel file's contents
// (vmm/boot/elf.h).
#include <asm/bootparam.h>

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "fuzz/fuzz_input.h"
#include "fuzz/guest_ram.h"
#include "memory/guest_memory.h"
#include "memory/layout.h"
#include "vmm/boot/elf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace microvm;
  using namespace microvm::boot;
  const absl::Span<const uint8_t> image(data, size);

  const GuestMemory& mem = fuzz::SharedGuestRam();
  boot_params zero_page{};
  absl::StatusOr<KernelImage> k = LoadElf(mem, image, zero_page);
  FUZZ_CHECK(IsElf(image) || !k.ok());
  if (k.ok()) {
    FUZZ_CHECK(k->format == "ELF");
    FUZZ_CHECK(k->begin < k->end);
    FUZZ_CHECK(k->end <= mem.end());
    // The entry point lies in a loaded segment (physical, or translated
    // from virtual), so inside the loaded span.
    FUZZ_CHECK(k->begin <= k->entry_rip && k->entry_rip < k->end);
    FUZZ_CHECK(zero_page.hdr.boot_flag == 0xaa55);
  }
  return 0;
}
