// SPDX-License-Identifier: Apache-2.0
// Include Linux UAPI headers (KVM, VFIO) through here, never directly.
//
// The 6.1 UAPI headers declare flexible arrays with __DECLARE_FLEX_ARRAY,
// which wraps the array in a struct holding an empty struct. In C that is
// zero bytes; in C++ an empty struct takes one byte, so kvm_cpuid2 grows
// from 8 to 12 bytes, `entries` moves, and the size encoded in the ioctl
// number (KVM_GET_SUPPORTED_CPUID) changes: the kernel answers EINVAL.
// Later kernels fixed the macro for C++; this does the same here.
#ifndef MICROVM_BASE_LINUX_UAPI_H_
#define MICROVM_BASE_LINUX_UAPI_H_

#include <linux/stddef.h>

#undef __DECLARE_FLEX_ARRAY
#define __DECLARE_FLEX_ARRAY(TYPE, NAME) TYPE NAME[0]

#include <linux/kvm.h>
#include <linux/vfio.h>

static_assert(sizeof(kvm_cpuid2) == 8, "kvm_cpuid2 layout differs from C");
static_assert(sizeof(kvm_msrs) == 8, "kvm_msrs layout differs from C");
static_assert(sizeof(kvm_irq_routing) == 8,
              "kvm_irq_routing layout differs from C");

#endif  // MICROVM_BASE_LINUX_UAPI_H_
