// SPDX-License-Identifier: Apache-2.0
#include "vmm/x86/long_mode.h"

#include "absl/strings/str_format.h"
#include "base/status.h"
#include "memory/layout.h"

namespace microvm::x86 {
namespace {

constexpr uint64_t kCr0Pe = 1ull << 0;
constexpr uint64_t kCr0Et = 1ull << 4;
constexpr uint64_t kCr0Ne = 1ull << 5;
constexpr uint64_t kCr0Pg = 1ull << 31;
constexpr uint64_t kCr4Pae = 1ull << 5;
constexpr uint64_t kEferLme = 1ull << 8;
constexpr uint64_t kEferLma = 1ull << 10;

constexpr uint64_t kPtePresent = 1ull << 0;
constexpr uint64_t kPteWrite = 1ull << 1;
constexpr uint64_t kPteHuge = 1ull << 7;
constexpr uint64_t kPteAddrMask = 0x000ffffffffff000ull;

constexpr uint32_t kMsrSysenterCs = 0x174;
constexpr uint32_t kMsrSysenterEsp = 0x175;
constexpr uint32_t kMsrSysenterEip = 0x176;
constexpr uint32_t kMsrStar = 0xc0000081;
constexpr uint32_t kMsrLstar = 0xc0000082;
constexpr uint32_t kMsrCstar = 0xc0000083;
constexpr uint32_t kMsrSyscallMask = 0xc0000084;
constexpr uint32_t kMsrKernelGsBase = 0xc0000102;
constexpr uint32_t kMsrMiscEnable = 0x1a0;
constexpr uint32_t kMsrMtrrDefType = 0x2ff;
constexpr uint64_t kMiscEnableFastString = 1;
// MTRRs enabled, default type write-back (Intel SDM vol. 3A, 11.11.2.1).
constexpr uint64_t kMtrrEnableWriteBack = (1ull << 11) | 6;

// A GDT descriptor from the classic flags/base/limit triple.
uint64_t GdtEntry(uint16_t flags, uint32_t base, uint32_t limit) {
  return ((uint64_t{base} & 0xff000000) << 32) |
         ((uint64_t{base} & 0x00ffffff) << 16) |
         (uint64_t{limit} & 0x0000ffff) |
         ((uint64_t{limit} & 0x000f0000) << 32) |
         ((uint64_t{flags} & 0xf0ff) << 40);
}

kvm_segment SegmentFrom(uint64_t entry, uint16_t selector) {
  kvm_segment s{};
  s.base = ((entry >> 16) & 0xffffff) | (((entry >> 56) & 0xff) << 24);
  uint32_t limit = (entry & 0xffff) | (((entry >> 48) & 0xf) << 16);
  s.g = (entry >> 55) & 1;
  s.limit = s.g ? (limit << 12) | 0xfff : limit;
  s.selector = selector;
  s.type = (entry >> 40) & 0xf;
  s.s = (entry >> 44) & 1;
  s.dpl = (entry >> 45) & 3;
  s.present = (entry >> 47) & 1;
  s.avl = (entry >> 52) & 1;
  s.l = (entry >> 53) & 1;
  s.db = (entry >> 54) & 1;
  s.unusable = s.present ? 0 : 1;
  return s;
}

// null, null, 64-bit code, data, TSS.
const uint64_t kGdt[] = {
    0,
    0,
    GdtEntry(0xa09b, 0, 0xfffff),
    GdtEntry(0xc093, 0, 0xfffff),
    GdtEntry(0x808b, 0, 0xfffff),
};

}  // namespace

absl::Status WriteBootTables(const GuestMemory& mem) {
  MVM_RETURN_IF_ERROR(mem.WriteObject(layout::kGdtAddr, kGdt));
  MVM_RETURN_IF_ERROR(mem.WriteObject<uint64_t>(layout::kIdtAddr, 0));
  // PML4[0] -> PDPT; PDPT[0..3] -> four PDs; each PD maps 1 GiB as 2 MiB
  // pages. Covers the PCI hole too, so MMIO is reachable before the kernel
  // builds its own tables.
  MVM_RETURN_IF_ERROR(mem.WriteObject<uint64_t>(
      layout::kPml4Addr, layout::kPdptAddr | kPtePresent | kPteWrite));
  for (uint64_t i = 0; i < 4; ++i) {
    uint64_t pd = layout::kPdAddr + i * 0x1000;
    MVM_RETURN_IF_ERROR(mem.WriteObject<uint64_t>(
        layout::kPdptAddr + i * 8, pd | kPtePresent | kPteWrite));
    uint64_t entries[512];
    for (uint64_t j = 0; j < 512; ++j) {
      entries[j] = ((i << 30) + (j << 21)) | kPtePresent | kPteWrite |
                   kPteHuge;
    }
    MVM_RETURN_IF_ERROR(mem.WriteObject(pd, entries));
  }
  return absl::OkStatus();
}

void SetLongModeSregs(kvm_sregs& sregs) {
  sregs.gdt.base = layout::kGdtAddr;
  sregs.gdt.limit = sizeof(kGdt) - 1;
  sregs.idt.base = layout::kIdtAddr;
  sregs.idt.limit = sizeof(uint64_t) - 1;
  sregs.cs = SegmentFrom(kGdt[2], kCodeSelector);
  kvm_segment data = SegmentFrom(kGdt[3], kDataSelector);
  sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
  sregs.tr = SegmentFrom(kGdt[4], kTssSelector);
  sregs.cr0 = kCr0Pe | kCr0Et | kCr0Ne | kCr0Pg;
  sregs.cr3 = layout::kPml4Addr;
  sregs.cr4 = kCr4Pae;
  sregs.efer = kEferLme | kEferLma;
}

kvm_regs BootRegs(uint64_t entry, uint64_t zero_page) {
  kvm_regs regs{};
  regs.rflags = 0x2;  // bit 1 is always set; interrupts off
  regs.rip = entry;
  regs.rsi = zero_page;
  return regs;
}

kvm_fpu BootFpu() {
  kvm_fpu fpu{};
  fpu.fcw = 0x37f;
  fpu.mxcsr = 0x1f80;
  return fpu;
}

// IA32_TSC is left alone: KVM starts every vCPU's TSC in step, and writing
// it per vCPU as they are created made Linux mark the TSCs unsynchronized.
std::vector<kvm_msr_entry> BootMsrs() {
  auto msr = [](uint32_t index, uint64_t data) {
    kvm_msr_entry e{};
    e.index = index;
    e.data = data;
    return e;
  };
  return {
      msr(kMsrSysenterCs, 0),      msr(kMsrSysenterEsp, 0),
      msr(kMsrSysenterEip, 0),     msr(kMsrStar, 0),
      msr(kMsrCstar, 0),           msr(kMsrKernelGsBase, 0),
      msr(kMsrSyscallMask, 0),     msr(kMsrLstar, 0),
      msr(kMsrMiscEnable, kMiscEnableFastString),
      msr(kMsrMtrrDefType, kMtrrEnableWriteBack),
  };
}

absl::StatusOr<uint64_t> GuestVirtToPhys(const GuestMemory& mem,
                                         const kvm_sregs& sregs, uint64_t va) {
  if (!(sregs.cr0 & kCr0Pg)) return va;
  if (!(sregs.efer & kEferLma)) {
    return absl::UnimplementedError("guest paging mode is not 4-level");
  }
  uint64_t table = sregs.cr3 & kPteAddrMask;
  // Levels: PML4 (bits 47:39), PDPT (38:30), PD (29:21), PT (20:12).
  for (int level = 3; level >= 0; --level) {
    int shift = 12 + 9 * level;
    uint64_t index = (va >> shift) & 0x1ff;
    MVM_ASSIGN_OR_RETURN(uint64_t entry,
                         mem.ReadObject<uint64_t>(table + index * 8));
    if (!(entry & kPtePresent)) {
      return absl::NotFoundError(
          absl::StrFormat("guest address 0x%x is not mapped", va));
    }
    bool leaf = level == 0 || ((level == 1 || level == 2) && (entry & kPteHuge));
    if (leaf) {
      uint64_t page_mask = (1ull << shift) - 1;
      return ((entry & kPteAddrMask) & ~page_mask) | (va & page_mask);
    }
    table = entry & kPteAddrMask;
  }
  return absl::InternalError("unreachable page walk state");
}

}  // namespace microvm::x86
