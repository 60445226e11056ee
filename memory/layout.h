// SPDX-License-Identifier: Apache-2.0
// Guest physical address map, shared by every layer. The PC conventions
// (ISA hole, EBDA, 32-bit PCI hole below 4 GiB) are what Linux expects.
#ifndef MICROVM_MEMORY_LAYOUT_H_
#define MICROVM_MEMORY_LAYOUT_H_

#include <cstdint>

namespace microvm::layout {

inline constexpr uint64_t kKiB = 1024;
inline constexpr uint64_t kMiB = 1024 * kKiB;
inline constexpr uint64_t kGiB = 1024 * kMiB;

// Low memory used by the boot path (below the EBDA).
inline constexpr uint64_t kGdtAddr = 0x500;       // boot GDT, 4 entries
inline constexpr uint64_t kIdtAddr = 0x520;       // empty boot IDT
inline constexpr uint64_t kZeroPageAddr = 0x7000; // struct boot_params
inline constexpr uint64_t kPml4Addr = 0x9000;     // identity page tables:
inline constexpr uint64_t kPdptAddr = 0xA000;     //   PML4, PDPT and four
inline constexpr uint64_t kPdAddr = 0xB000;       //   PDs (0xB000-0xEFFF)
inline constexpr uint64_t kCmdlineAddr = 0x20000;
inline constexpr uint64_t kCmdlineMax = 0x10000;
// Extended BIOS data area up to the end of the ISA hole; reserved in e820.
inline constexpr uint64_t kEbdaStart = 0x9FC00;
inline constexpr uint64_t kMpTableAddr = kEbdaStart;
inline constexpr uint64_t kIsaHoleEnd = 0x100000;
inline constexpr uint64_t kKernelAddr = 0x100000;

// RAM below 4 GiB ends where the 32-bit PCI hole starts; the rest of RAM is
// placed from 4 GiB up.
inline constexpr uint64_t kPciHoleStart = 0xC0000000;
inline constexpr uint64_t kHighRamStart = 4 * kGiB;
// 32-bit MMIO window for PCI BARs, then ECAM (256 buses x 1 MiB).
inline constexpr uint64_t kMmio32Start = kPciHoleStart;
inline constexpr uint64_t kMmio32Size = 0x20000000;
inline constexpr uint64_t kEcamAddr = 0xE0000000;
inline constexpr uint64_t kEcamSize = 0x10000000;
// Boot timer (devices/boot_timer.h): one page right above ECAM, in no PCI
// window and never RAM.
inline constexpr uint64_t kBootTimerAddr = 0xF0000000;
inline constexpr uint64_t kBootTimerSize = 0x1000;
inline constexpr uint64_t kIoapicAddr = 0xFEC00000;
inline constexpr uint64_t kLapicAddr = 0xFEE00000;
// KVM_SET_TSS_ADDR needs three pages and KVM_SET_IDENTITY_MAP_ADDR one, in
// guest-physical space that is neither RAM nor MMIO (same places as QEMU).
inline constexpr uint64_t kIdentityMapAddr = 0xFEFFC000;
inline constexpr uint64_t kTssAddr = 0xFEFFD000;

// Smallest and largest guest RAM microvm accepts.
inline constexpr uint64_t kMinRam = 16 * kMiB;
inline constexpr uint64_t kMaxRam = 1024 * kGiB;

}  // namespace microvm::layout

#endif  // MICROVM_MEMORY_LAYOUT_H_
