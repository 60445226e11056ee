// SPDX-License-Identifier: Apache-2.0
// Guest RAM: anonymous host mappings placed in guest-physical space according
// to memory/layout.h. This layer knows nothing of KVM or VFIO; the VMM turns
// regions() into memslots and, later, into VFIO DMA mappings.
#ifndef MICROVM_MEMORY_GUEST_MEMORY_H_
#define MICROVM_MEMORY_GUEST_MEMORY_H_

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace microvm {

struct MemoryRegion {
  uint64_t gpa;
  uint64_t size;
  uint8_t* host;
};

// Anonymous read-write memory of `size` bytes for guest RAM, 2 MiB-aligned
// (GuestMemory::kHugePageSize; see guest_memory.cc), of 2 MiB hugetlb pages
// if `hugepages`; MAP_FAILED with errno on failure. munmap() to free.
void* MapGuestRam(uint64_t size, bool hugepages);

class GuestMemory {
 public:
  // Every region's host mapping starts on a boundary of this size, as its
  // guest-physical range does, so that 2 MiB host pages back 2 MiB guest
  // pages (transparent huge pages, KVM's nested page tables, the IOMMU).
  static constexpr uint64_t kHugePageSize = 2 * 1024 * 1024;

  // Maps `ram_bytes` of RAM (a multiple of 2 MiB with huge pages, of 4 KiB
  // otherwise): the part below layout::kPciHoleStart at GPA 0, the rest at
  // layout::kHighRamStart. With `hugepages`, uses MAP_HUGETLB 2 MiB pages and
  // fails clearly when the host has not reserved enough of them.
  static absl::StatusOr<GuestMemory> Create(uint64_t ram_bytes,
                                            bool hugepages);

  GuestMemory(GuestMemory&& other) noexcept;
  GuestMemory& operator=(GuestMemory&& other) noexcept;
  GuestMemory(const GuestMemory&) = delete;
  GuestMemory& operator=(const GuestMemory&) = delete;
  ~GuestMemory();

  const std::vector<MemoryRegion>& regions() const { return regions_; }
  uint64_t ram_bytes() const { return ram_bytes_; }
  // Highest guest-physical address of RAM plus one.
  uint64_t end() const;

  // Host pointer for [gpa, gpa+len), which must lie inside one region.
  absl::StatusOr<uint8_t*> HostAddress(uint64_t gpa, uint64_t len) const;

  absl::Status Write(uint64_t gpa, absl::Span<const uint8_t> data) const;
  absl::Status Read(uint64_t gpa, absl::Span<uint8_t> out) const;

  template <typename T>
  absl::Status WriteObject(uint64_t gpa, const T& value) const {
    static_assert(std::is_trivially_copyable_v<T>);
    return Write(gpa, absl::MakeConstSpan(
                          reinterpret_cast<const uint8_t*>(&value), sizeof(T)));
  }
  template <typename T>
  absl::StatusOr<T> ReadObject(uint64_t gpa) const {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    absl::Status s = Read(
        gpa, absl::MakeSpan(reinterpret_cast<uint8_t*>(&value), sizeof(T)));
    if (!s.ok()) return s;
    return value;
  }

 private:
  GuestMemory() = default;
  void Release();

  std::vector<MemoryRegion> regions_;
  uint64_t ram_bytes_ = 0;
};

}  // namespace microvm

#endif  // MICROVM_MEMORY_GUEST_MEMORY_H_
