// SPDX-License-Identifier: Apache-2.0
#include "vmm/x86/long_mode.h"

#include "gtest/gtest.h"
#include "memory/layout.h"

namespace microvm::x86 {
namespace {

TEST(LongModeTest, BootTablesIdentityMapFourGiB) {
  auto mem = GuestMemory::Create(16 << 20, false);
  ASSERT_TRUE(mem.ok());
  ASSERT_TRUE(WriteBootTables(*mem).ok());
  kvm_sregs sregs{};
  SetLongModeSregs(sregs);
  for (uint64_t va : {0x0ull, 0x123456ull, 0x7fffffffull, 0xfee00000ull,
                      0xffffffffull}) {
    auto pa = GuestVirtToPhys(*mem, sregs, va);
    ASSERT_TRUE(pa.ok()) << pa.status();
    EXPECT_EQ(*pa, va);
  }
  EXPECT_FALSE(GuestVirtToPhys(*mem, sregs, 0x100000000ull).ok());
}

TEST(LongModeTest, SegmentsAreFlat64BitCode) {
  kvm_sregs sregs{};
  SetLongModeSregs(sregs);
  EXPECT_EQ(sregs.cs.selector, kCodeSelector);
  EXPECT_EQ(sregs.cs.l, 1);
  EXPECT_EQ(sregs.cs.db, 0);
  EXPECT_EQ(sregs.cs.present, 1);
  EXPECT_EQ(sregs.cs.base, 0u);
  EXPECT_EQ(sregs.ds.selector, kDataSelector);
  EXPECT_EQ(sregs.ds.limit, 0xffffffffu);
  EXPECT_EQ(sregs.ds.type, 3);
  EXPECT_EQ(sregs.cr3, layout::kPml4Addr);
  EXPECT_TRUE(sregs.efer & (1 << 10));
}

TEST(LongModeTest, WalksFourKiBPagesOfAGuestTable) {
  auto mem = GuestMemory::Create(16 << 20, false);
  ASSERT_TRUE(mem.ok());
  // A kernel-style mapping: VA 0xffffffff81000000 -> PA 0x1000000 via 4 KiB
  // pages, tables at 0x100000.
  const uint64_t va = 0xffffffff81000000ull + 0x3abc;
  const uint64_t pml4 = 0x100000, pdpt = 0x101000, pd = 0x102000,
                 pt = 0x103000;
  ASSERT_TRUE(mem->WriteObject<uint64_t>(pml4 + ((va >> 39) & 0x1ff) * 8,
                                         pdpt | 3).ok());
  ASSERT_TRUE(mem->WriteObject<uint64_t>(pdpt + ((va >> 30) & 0x1ff) * 8,
                                         pd | 3).ok());
  ASSERT_TRUE(mem->WriteObject<uint64_t>(pd + ((va >> 21) & 0x1ff) * 8,
                                         pt | 3).ok());
  ASSERT_TRUE(mem->WriteObject<uint64_t>(pt + ((va >> 12) & 0x1ff) * 8,
                                         0x1003000 | 3).ok());
  kvm_sregs sregs{};
  SetLongModeSregs(sregs);
  sregs.cr3 = pml4;
  auto pa = GuestVirtToPhys(*mem, sregs, va);
  ASSERT_TRUE(pa.ok()) << pa.status();
  EXPECT_EQ(*pa, 0x1003abcu);
}

}  // namespace
}  // namespace microvm::x86
