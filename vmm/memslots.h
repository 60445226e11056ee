// SPDX-License-Identifier: Apache-2.0
// Hands out KVM memslots: guest RAM at start-up, and device memory (vfio-pci
// BAR mmaps) while the guest runs, through the GuestMapper interface.
#ifndef MICROVM_VMM_MEMSLOTS_H_
#define MICROVM_VMM_MEMSLOTS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "base/guest_mapper.h"
#include "memory/guest_memory.h"
#include "vmm/kvm/kvm.h"

namespace microvm {

class Memslots final : public GuestMapper {
 public:
  // `max_slots` is KVM_CAP_NR_MEMSLOTS (0 when KVM does not say: then 32,
  // the oldest KVM's count). `vm` must outlive this.
  Memslots(KvmVm& vm, uint32_t max_slots)
      : vm_(vm), max_slots_(max_slots > 0 ? max_slots : 32) {}

  // Guest RAM, one slot per region; kept for the VM's lifetime.
  absl::Status MapRam(const GuestMemory& mem);

  absl::StatusOr<std::unique_ptr<GuestMapping>> Map(uint64_t gpa,
                                                    uint64_t size,
                                                    void* host) override;

  size_t used() const;

 private:
  class Mapping;
  void Release(uint32_t slot);

  KvmVm& vm_;
  const uint32_t max_slots_;
  mutable absl::Mutex mu_;
  // Slot -> [gpa, gpa+size), for overlap checks.
  std::map<uint32_t, std::pair<uint64_t, uint64_t>> ranges_
      ABSL_GUARDED_BY(mu_);
  std::vector<Memslot> ram_;
};

}  // namespace microvm

#endif  // MICROVM_VMM_MEMSLOTS_H_
