// SPDX-License-Identifier: Apache-2.0
#include "vmm/x86/cpuid.h"

#include <cstring>

namespace microvm::x86 {
namespace {

constexpr uint32_t kLeafFeatures = 0x1;
constexpr uint32_t kLeafCacheTopology = 0x4;
constexpr uint32_t kLeafExtTopology = 0xB;
constexpr uint32_t kLeafExtTopologyV2 = 0x1F;
constexpr uint32_t kLeafHypervisor = 0x40000000;
constexpr uint32_t kLeafAmdSizes = 0x80000008;
constexpr uint32_t kLeafAmdExtApic = 0x8000001E;

// CPUID.1:ECX bit 31 is reserved for hypervisors to announce themselves
// (Intel SDM vol. 2A, CPUID; AMD APM vol. 3, E.3.2).
constexpr uint32_t kEcxHypervisor = 1u << 31;
// CPUID.1:EDX bit 28: HTT, "EBX[23:16] is valid".
constexpr uint32_t kEdxHtt = 1u << 28;

uint32_t Bits(uint32_t value, int lo, int width) {
  return (value >> lo) & ((1u << width) - 1);
}

uint32_t SetBits(uint32_t value, int lo, int width, uint32_t field) {
  uint32_t mask = ((1u << width) - 1) << lo;
  return (value & ~mask) | ((field << lo) & mask);
}

// Bits needed to number `count` logical processors (x2APIC id shift).
uint32_t ShiftFor(uint32_t count) {
  uint32_t shift = 0;
  while ((1u << shift) < count) ++shift;
  return shift;
}

}  // namespace

std::vector<kvm_cpuid_entry2> VcpuCpuid(
    const std::vector<kvm_cpuid_entry2>& supported, uint32_t index,
    uint32_t count) {
  std::vector<kvm_cpuid_entry2> out = supported;
  for (kvm_cpuid_entry2& e : out) {
    switch (e.function) {
      case kLeafFeatures:
        // EBX[31:24] initial APIC id, EBX[23:16] logical processors per
        // package.
        e.ebx = SetBits(e.ebx, 24, 8, index);
        e.ebx = SetBits(e.ebx, 16, 8, count);
        e.ecx |= kEcxHypervisor;
        if (count > 1) e.edx |= kEdxHtt; else e.edx &= ~kEdxHtt;
        break;
      case kLeafCacheTopology:
        // EAX[31:26] cores per package - 1; EAX[25:14] threads sharing
        // this cache - 1 (one thread per core here, caches per core except
        // the last level, which all cores share).
        if (Bits(e.eax, 0, 5) != 0) {
          e.eax = SetBits(e.eax, 26, 6, count - 1);
          uint32_t level = Bits(e.eax, 5, 3);
          e.eax = SetBits(e.eax, 14, 12, level >= 3 ? count - 1 : 0);
        }
        break;
      case kLeafExtTopology:
      case kLeafExtTopologyV2:
        // Level 0: SMT (1 thread), level 1: core (count); EDX = x2APIC id.
        if (e.index == 0) {
          e.eax = 0;
          e.ebx = 1;
          e.ecx = (1u << 8) | e.index;
        } else if (e.index == 1) {
          e.eax = ShiftFor(count);
          e.ebx = count;
          e.ecx = (2u << 8) | e.index;
        } else {
          e.eax = 0;
          e.ebx = 0;
          e.ecx = e.index;
        }
        e.edx = index;
        break;
      case kLeafHypervisor: {
        // KVM's own paravirt leaves follow; the VMM must fill the signature.
        static const char kSignature[12] = {'K', 'V', 'M', 'K', 'V', 'M',
                                            'K', 'V', 'M', 0,   0,   0};
        std::memcpy(&e.ebx, kSignature, 4);
        std::memcpy(&e.ecx, kSignature + 4, 4);
        std::memcpy(&e.edx, kSignature + 8, 4);
        break;
      }
      case kLeafAmdSizes:
        // ECX[7:0] NC: cores per package - 1; ECX[15:12] APIC id size.
        e.ecx = SetBits(e.ecx, 0, 8, count - 1);
        e.ecx = SetBits(e.ecx, 12, 4, ShiftFor(count));
        break;
      case kLeafAmdExtApic:
        // EAX extended APIC id; EBX[7:0] core id, EBX[15:8] threads per
        // core - 1; ECX[7:0] node id.
        e.eax = index;
        e.ebx = index & 0xff;
        e.ecx = 0;
        break;
      default:
        break;
    }
  }
  return out;
}

uint32_t PhysAddressBits(const std::vector<kvm_cpuid_entry2>& cpuid) {
  for (const kvm_cpuid_entry2& e : cpuid) {
    if (e.function == kLeafAmdSizes && (e.eax & 0xff) != 0) {
      return e.eax & 0xff;
    }
  }
  return 36;
}

}  // namespace microvm::x86
