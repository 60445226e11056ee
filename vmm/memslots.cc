// SPDX-License-Identifier: Apache-2.0
#include "vmm/memslots.h"

#include <unistd.h>

#include "absl/strings/str_format.h"
#include "base/status.h"

namespace microvm {

class Memslots::Mapping final : public GuestMapping {
 public:
  Mapping(Memslots& owner, Memslot slot)
      : owner_(owner), slot_(std::move(slot)) {}
  ~Mapping() override {
    uint32_t n = slot_.slot();
    slot_ = Memslot();  // deletes the KVM slot first
    owner_.Release(n);
  }

 private:
  Memslots& owner_;
  Memslot slot_;
};

absl::Status Memslots::MapRam(const GuestMemory& mem) {
  for (const MemoryRegion& r : mem.regions()) {
    uint32_t slot;
    {
      absl::MutexLock lock(&mu_);
      slot = static_cast<uint32_t>(ranges_.size());
      ranges_[slot] = {r.gpa, r.gpa + r.size};
    }
    MVM_ASSIGN_OR_RETURN(Memslot s, vm_.MapMemory(slot, r.gpa, r.size, r.host));
    ram_.push_back(std::move(s));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<GuestMapping>> Memslots::Map(uint64_t gpa,
                                                            uint64_t size,
                                                            void* host) {
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  if (size == 0 || gpa % page || size % page ||
      reinterpret_cast<uintptr_t>(host) % page || gpa + size < gpa) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "cannot map [0x%x, +0x%x) into the guest: not page-aligned", gpa,
        size));
  }
  uint32_t slot = 0;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [used, range] : ranges_) {
      if (gpa < range.second && range.first < gpa + size) {
        return absl::AlreadyExistsError(absl::StrFormat(
            "guest range [0x%x, 0x%x) overlaps memslot %d [0x%x, 0x%x)", gpa,
            gpa + size, used, range.first, range.second));
      }
    }
    while (ranges_.count(slot) != 0) ++slot;
    if (slot >= max_slots_) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "out of KVM memslots (%d in use)", ranges_.size()));
    }
    ranges_[slot] = {gpa, gpa + size};
  }
  absl::StatusOr<Memslot> s = vm_.MapMemory(slot, gpa, size, host);
  if (!s.ok()) {
    Release(slot);
    return s.status();
  }
  return std::make_unique<Mapping>(*this, std::move(*s));
}

void Memslots::Release(uint32_t slot) {
  absl::MutexLock lock(&mu_);
  ranges_.erase(slot);
}

size_t Memslots::used() const {
  absl::MutexLock lock(&mu_);
  return ranges_.size();
}

}  // namespace microvm
