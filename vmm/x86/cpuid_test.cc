// SPDX-License-Identifier: Apache-2.0
#include "vmm/x86/cpuid.h"

#include "gtest/gtest.h"

namespace microvm::x86 {
namespace {

kvm_cpuid_entry2 Leaf(uint32_t function, uint32_t index = 0) {
  kvm_cpuid_entry2 e{};
  e.function = function;
  e.index = index;
  return e;
}

const kvm_cpuid_entry2& Find(const std::vector<kvm_cpuid_entry2>& v,
                             uint32_t function, uint32_t index = 0) {
  for (const auto& e : v) {
    if (e.function == function && e.index == index) return e;
  }
  static kvm_cpuid_entry2 missing{};
  ADD_FAILURE() << "leaf " << function << " missing";
  return missing;
}

TEST(CpuidTest, Leaf1CarriesApicIdCountAndHypervisorBit) {
  std::vector<kvm_cpuid_entry2> in = {Leaf(1)};
  in[0].ebx = 0xff00ff00;
  auto out = VcpuCpuid(in, 3, 4);
  const auto& l1 = Find(out, 1);
  EXPECT_EQ(l1.ebx >> 24, 3u);
  EXPECT_EQ((l1.ebx >> 16) & 0xff, 4u);
  EXPECT_EQ(l1.ebx & 0xffff, 0xff00u);  // brand/clflush untouched
  EXPECT_TRUE(l1.ecx & (1u << 31));
  EXPECT_TRUE(l1.edx & (1u << 28));
  auto single = VcpuCpuid(in, 0, 1);
  EXPECT_FALSE(Find(single, 1).edx & (1u << 28));
}

TEST(CpuidTest, HypervisorSignatureIsKvm) {
  auto out = VcpuCpuid({Leaf(0x40000000)}, 0, 1);
  const auto& l = Find(out, 0x40000000);
  char sig[13] = {};
  memcpy(sig, &l.ebx, 4);
  memcpy(sig + 4, &l.ecx, 4);
  memcpy(sig + 8, &l.edx, 4);
  EXPECT_STREQ(sig, "KVMKVMKVM");
}

TEST(CpuidTest, ExtendedTopologyNumbersCores) {
  auto out = VcpuCpuid({Leaf(0xB, 0), Leaf(0xB, 1), Leaf(0xB, 2)}, 5, 6);
  EXPECT_EQ(Find(out, 0xB, 0).ebx, 1u);
  EXPECT_EQ(Find(out, 0xB, 1).ebx, 6u);
  EXPECT_EQ(Find(out, 0xB, 1).eax, 3u);  // 6 cores need 3 id bits
  EXPECT_EQ(Find(out, 0xB, 1).edx, 5u);
  EXPECT_EQ(Find(out, 0xB, 2).ebx, 0u);
  EXPECT_EQ((Find(out, 0xB, 1).ecx >> 8) & 0xff, 2u);  // core level
}

TEST(CpuidTest, AmdLeavesCarryCoreCount) {
  auto out = VcpuCpuid({Leaf(0x80000008), Leaf(0x8000001E)}, 2, 4);
  EXPECT_EQ(Find(out, 0x80000008).ecx & 0xff, 3u);
  EXPECT_EQ(Find(out, 0x8000001E).eax, 2u);
}

TEST(CpuidTest, PhysAddressBits) {
  EXPECT_EQ(PhysAddressBits({}), 36u);
  auto leaf = Leaf(0x80000008);
  leaf.eax = 0x3028;  // 48 virtual, 40 physical
  EXPECT_EQ(PhysAddressBits({leaf}), 40u);
}

}  // namespace
}  // namespace microvm::x86
