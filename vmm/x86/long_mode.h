// SPDX-License-Identifier: Apache-2.0
// What the 64-bit boot protocol asks of the loader before jumping to the
// kernel: flat segments, paging with an identity map, long mode active
// (Linux Documentation/arch/x86/boot.rst, "64-bit Boot Protocol").
#ifndef MICROVM_VMM_X86_LONG_MODE_H_
#define MICROVM_VMM_X86_LONG_MODE_H_

#include "base/linux_uapi.h"

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "memory/guest_memory.h"

namespace microvm::x86 {

// Selectors in the boot GDT (the boot protocol wants __BOOT_CS 0x10 and
// __BOOT_DS 0x18).
inline constexpr uint16_t kCodeSelector = 0x10;
inline constexpr uint16_t kDataSelector = 0x18;
inline constexpr uint16_t kTssSelector = 0x20;

// Writes the boot GDT, an empty IDT and page tables identity-mapping the
// first 4 GiB with 2 MiB pages into guest memory (layout.h addresses).
absl::Status WriteBootTables(const GuestMemory& mem);

// Special registers for entering at a 64-bit entry point with those tables.
void SetLongModeSregs(kvm_sregs& sregs);

// The boot CPU's general registers: RIP at the entry, RSI at the zero page.
kvm_regs BootRegs(uint64_t entry, uint64_t zero_page);

// x87/SSE control words as after FNINIT and reset (mxcsr 0x1f80).
kvm_fpu BootFpu();

// MSRs a 64-bit guest expects to find in a known state.
std::vector<kvm_msr_entry> BootMsrs();

// Translates a guest virtual address through the guest's own page tables
// (4-level paging, 1 GiB / 2 MiB / 4 KiB pages), for error reports.
absl::StatusOr<uint64_t> GuestVirtToPhys(const GuestMemory& mem,
                                         const kvm_sregs& sregs, uint64_t va);

}  // namespace microvm::x86

#endif  // MICROVM_VMM_X86_LONG_MODE_H_
