// SPDX-License-Identifier: Apache-2.0
// Fuzzes the bzImage header checks, placement and loading with the input as
// the kernel file's contents (vmm/boot/bzimage.h).
#include <asm/bootparam.h>

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "fuzz/fuzz_input.h"
#include "fuzz/guest_ram.h"
#include "memory/guest_memory.h"
#include "memory/layout.h"
#include "vmm/boot/bzimage.h"

namespace microvm::boot {
namespace {

void CheckPlacement(const BzImageHeader& bz, uint64_t low_ram_end) {
  absl::StatusOr<BzImagePlacement> p = PlaceBzImage(bz, low_ram_end);
  if (!p.ok()) return;
  FUZZ_CHECK(p->load_addr >= layout::kKernelAddr);
  FUZZ_CHECK(p->load_addr + bz.kernel_bytes >= p->load_addr);
  FUZZ_CHECK(p->load_addr + bz.kernel_bytes <= p->end);
  FUZZ_CHECK(p->runtime_start <= p->end);
  FUZZ_CHECK(p->end <= low_ram_end);
}

}  // namespace
}  // namespace microvm::boot

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace microvm;
  using namespace microvm::boot;
  const absl::Span<const uint8_t> image(data, size);

  const bool magic = IsBzImage(image);
  absl::StatusOr<BzImageHeader> bz = ParseBzImage(image);
  FUZZ_CHECK(magic || !bz.ok());
  if (bz.ok()) {
    FUZZ_CHECK(bz->header_bytes <= sizeof(setup_header));
    FUZZ_CHECK(bz->header.version >= kMinBootProtocol);
    FUZZ_CHECK(bz->kernel_bytes > 0);
    FUZZ_CHECK(bz->setup_bytes + bz->kernel_bytes <= size);
    for (uint64_t end : {uint64_t{0}, 16 * layout::kMiB, 64 * layout::kMiB,
                         layout::kPciHoleStart, ~uint64_t{0}}) {
      CheckPlacement(*bz, end);
    }
  }

  const GuestMemory& mem = fuzz::SharedGuestRam();
  boot_params zero_page{};
  absl::StatusOr<KernelImage> k = LoadBzImage(mem, image, zero_page);
  FUZZ_CHECK(bz.ok() || !k.ok());
  if (k.ok()) {
    FUZZ_CHECK(k->format == "bzImage");
    FUZZ_CHECK(k->begin >= layout::kKernelAddr);
    FUZZ_CHECK(k->begin <= k->entry_rip);
    FUZZ_CHECK(k->begin < k->end);
    FUZZ_CHECK(k->end <= mem.end());
  }
  return 0;
}
