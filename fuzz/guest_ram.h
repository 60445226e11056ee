// SPDX-License-Identifier: Apache-2.0
// 64 MiB of guest RAM shared by every input of a boot-image fuzzer: made
// once, because mapping RAM per input would dominate the run time. Big
// enough for a relocatable kernel with a few MiB of init_size above
// kKernelAddr and for the usual 1-16 MiB ELF load addresses; anything above
// is the "outside guest RAM" error path.
#ifndef MICROVM_FUZZ_GUEST_RAM_H_
#define MICROVM_FUZZ_GUEST_RAM_H_

#include <utility>

#include "absl/status/statusor.h"
#include "fuzz/fuzz_input.h"
#include "memory/guest_memory.h"
#include "memory/layout.h"

namespace microvm::fuzz {

inline const GuestMemory& SharedGuestRam() {
  static const GuestMemory* mem = [] {
    absl::StatusOr<GuestMemory> m = GuestMemory::Create(64 * layout::kMiB,
                                                        /*hugepages=*/false);
    FUZZ_CHECK(m.ok());
    return new GuestMemory(std::move(*m));
  }();
  return *mem;
}

}  // namespace microvm::fuzz

#endif  // MICROVM_FUZZ_GUEST_RAM_H_
