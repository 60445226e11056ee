// SPDX-License-Identifier: Apache-2.0
// The CPUID a vCPU sees: what KVM supports, adjusted by the VMM for topology
// and to announce the hypervisor. Pure logic, unit-tested without KVM.
#ifndef MICROVM_VMM_X86_CPUID_H_
#define MICROVM_VMM_X86_CPUID_H_

#include "base/linux_uapi.h"

#include <cstdint>
#include <vector>

namespace microvm::x86 {

// Returns `supported` adjusted for vCPU `index` of `count`, each vCPU a
// single-threaded core of one package, APIC id = index.
std::vector<kvm_cpuid_entry2> VcpuCpuid(
    const std::vector<kvm_cpuid_entry2>& supported, uint32_t index,
    uint32_t count);

// Guest physical address width from CPUID 0x80000008 EAX[7:0]; 36 (the
// architectural minimum with PAE) when the leaf is absent.
uint32_t PhysAddressBits(const std::vector<kvm_cpuid_entry2>& cpuid);

}  // namespace microvm::x86

#endif  // MICROVM_VMM_X86_CPUID_H_
