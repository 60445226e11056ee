// SPDX-License-Identifier: Apache-2.0
#include "memory/guest_memory.h"

#include <cstdint>

#include "gtest/gtest.h"
#include "memory/layout.h"

namespace microvm {
namespace {

using layout::kGiB;
using layout::kMiB;

TEST(GuestMemoryTest, SmallRamIsOneLowRegion) {
  auto mem = GuestMemory::Create(64 * kMiB, false);
  ASSERT_TRUE(mem.ok()) << mem.status();
  ASSERT_EQ(mem->regions().size(), 1u);
  EXPECT_EQ(mem->regions()[0].gpa, 0u);
  EXPECT_EQ(mem->regions()[0].size, 64 * kMiB);
  EXPECT_EQ(mem->end(), 64 * kMiB);
}

TEST(GuestMemoryTest, RamAboveTheHoleStartsAt4GiB) {
  // MAP_NORESERVE: nothing is touched, so this costs no host memory.
  auto mem = GuestMemory::Create(4 * kGiB, false);
  ASSERT_TRUE(mem.ok()) << mem.status();
  ASSERT_EQ(mem->regions().size(), 2u);
  EXPECT_EQ(mem->regions()[0].size, layout::kPciHoleStart);
  EXPECT_EQ(mem->regions()[1].gpa, layout::kHighRamStart);
  EXPECT_EQ(mem->regions()[1].size, 4 * kGiB - layout::kPciHoleStart);
  EXPECT_EQ(mem->end(), layout::kHighRamStart + kGiB);
  // The hole itself is not RAM.
  EXPECT_FALSE(mem->HostAddress(layout::kPciHoleStart, 1).ok());
  EXPECT_TRUE(mem->HostAddress(layout::kHighRamStart, 4096).ok());
}

// Each region's host mapping starts on a 2 MiB boundary, as its
// guest-physical range does: KVM maps a 2 MiB page only where they agree.
TEST(GuestMemoryTest, HostMappingsAre2MiBAligned) {
  for (uint64_t size : {16 * kMiB, 64 * kMiB + 4096, 4 * kGiB}) {
    auto mem = GuestMemory::Create(size, false);
    ASSERT_TRUE(mem.ok()) << mem.status();
    for (const MemoryRegion& r : mem->regions()) {
      EXPECT_EQ(
          reinterpret_cast<uintptr_t>(r.host) % GuestMemory::kHugePageSize, 0u)
          << "region at GPA 0x" << std::hex << r.gpa << " of 0x" << r.size;
      // The whole region is mapped and writable, up to its last byte.
      r.host[0] = 1;
      r.host[r.size - 1] = 2;
    }
  }
}

TEST(GuestMemoryTest, BoundsAreChecked) {
  auto mem = GuestMemory::Create(16 * kMiB, false);
  ASSERT_TRUE(mem.ok());
  EXPECT_TRUE(mem->HostAddress(16 * kMiB - 8, 8).ok());
  EXPECT_FALSE(mem->HostAddress(16 * kMiB - 8, 9).ok());
  EXPECT_FALSE(mem->HostAddress(16 * kMiB, 1).ok());
  EXPECT_FALSE(mem->HostAddress(~0ull, 2).ok());
  EXPECT_FALSE(mem->HostAddress(8, ~0ull).ok());
}

TEST(GuestMemoryTest, ReadBackWhatWasWritten) {
  auto mem = GuestMemory::Create(16 * kMiB, false);
  ASSERT_TRUE(mem.ok());
  struct Pod {
    uint32_t a;
    uint64_t b;
  };
  ASSERT_TRUE(mem->WriteObject<Pod>(0x1234, {7, 0x1122334455667788}).ok());
  auto back = mem->ReadObject<Pod>(0x1234);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->a, 7u);
  EXPECT_EQ(back->b, 0x1122334455667788u);
  EXPECT_FALSE(mem->WriteObject<Pod>(16 * kMiB - 4, {}).ok());
}

TEST(GuestMemoryTest, RejectsBadSizes) {
  EXPECT_EQ(GuestMemory::Create(1 * kMiB, false).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GuestMemory::Create(16 * kMiB + 1, false).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GuestMemory::Create(17 * kMiB, true).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GuestMemory::Create(2048 * kGiB, false).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(GuestMemoryTest, MoveTransfersOwnership) {
  auto mem = GuestMemory::Create(16 * kMiB, false);
  ASSERT_TRUE(mem.ok());
  GuestMemory moved = std::move(*mem);
  EXPECT_EQ(moved.regions().size(), 1u);
  EXPECT_TRUE(mem->regions().empty());
}

}  // namespace
}  // namespace microvm
