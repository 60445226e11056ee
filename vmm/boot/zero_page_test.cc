// SPDX-License-Identifier: Apache-2.0
#include "vmm/boot/zero_page.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "memory/guest_memory.h"
#include "memory/layout.h"

namespace microvm::boot {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kMiB = layout::kMiB;
constexpr uint64_t kGiB = layout::kGiB;

struct Entry {
  uint64_t addr, size;
  uint32_t type;
  bool operator==(const Entry&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Entry& e) {
  return os << std::hex << "{0x" << e.addr << ", 0x" << e.size << ", "
            << std::dec << e.type << "}";
}

std::vector<Entry> Map(const GuestMemory& mem) {
  absl::StatusOr<std::vector<boot_e820_entry>> map = BuildE820Map(mem);
  EXPECT_TRUE(map.ok()) << map.status();
  std::vector<Entry> out;
  if (map.ok()) {
    for (const boot_e820_entry& e : *map)
      out.push_back({e.addr, e.size, e.type});
  }
  return out;
}

TEST(E820Test, Map64MiB) {
  absl::StatusOr<GuestMemory> mem = GuestMemory::Create(64 * kMiB, false);
  ASSERT_TRUE(mem.ok());
  EXPECT_THAT(Map(*mem), ::testing::ElementsAre(
                             Entry{0, 0x9fc00, kE820Ram},
                             Entry{0x9fc00, 0x100000 - 0x9fc00, kE820Reserved},
                             Entry{0x100000, 64 * kMiB - 0x100000, kE820Ram},
                             Entry{0xe0000000, 0x10000000, kE820Reserved},
                             Entry{0xfeffc000, 0x4000, kE820Reserved}));
}

TEST(E820Test, Map5GiBSplitsAroundThePciHole) {
  absl::StatusOr<GuestMemory> mem = GuestMemory::Create(5 * kGiB, false);
  ASSERT_TRUE(mem.ok()) << mem.status();
  EXPECT_THAT(Map(*mem), ::testing::ElementsAre(
                             Entry{0, 0x9fc00, kE820Ram},
                             Entry{0x9fc00, 0x100000 - 0x9fc00, kE820Reserved},
                             Entry{0x100000, 3 * kGiB - 0x100000, kE820Ram},
                             Entry{0xe0000000, 0x10000000, kE820Reserved},
                             Entry{0xfeffc000, 0x4000, kE820Reserved},
                             Entry{4 * kGiB, 2 * kGiB, kE820Ram}));
}

TEST(E820Test, SetE820FillsTheZeroPage) {
  absl::StatusOr<GuestMemory> mem = GuestMemory::Create(64 * kMiB, false);
  ASSERT_TRUE(mem.ok());
  boot_params zp{};
  ASSERT_TRUE(SetE820(*mem, zp).ok());
  ASSERT_EQ(zp.e820_entries, 5);
  EXPECT_EQ(zp.e820_table[2].addr, 0x100000u);
  EXPECT_EQ(zp.e820_table[2].type, kE820Ram);
}

TEST(CmdlineTest, WritesCmdlineAndPointer) {
  absl::StatusOr<GuestMemory> mem = GuestMemory::Create(16 * kMiB, false);
  ASSERT_TRUE(mem.ok());
  boot_params zp{};
  const std::string cmdline = "console=ttyS0 panic=-1";
  ASSERT_TRUE(WriteCmdline(*mem, cmdline, 2047, zp).ok());
  EXPECT_EQ(zp.hdr.cmd_line_ptr, layout::kCmdlineAddr);
  EXPECT_EQ(zp.ext_cmd_line_ptr, 0u);
  std::string back(cmdline.size() + 1, 'x');
  ASSERT_TRUE(mem->Read(layout::kCmdlineAddr,
                        absl::MakeSpan(reinterpret_cast<uint8_t*>(back.data()),
                                       back.size()))
                  .ok());
  EXPECT_EQ(back, cmdline + '\0');
}

TEST(CmdlineTest, RejectsTooLongCmdline) {
  absl::StatusOr<GuestMemory> mem = GuestMemory::Create(16 * kMiB, false);
  ASSERT_TRUE(mem.ok());
  boot_params zp{};
  EXPECT_TRUE(WriteCmdline(*mem, std::string(2047, 'a'), 2047, zp).ok());
  absl::Status s = WriteCmdline(*mem, std::string(2048, 'a'), 2047, zp);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("2048 bytes, 1 more than"));
  EXPECT_THAT(s.message(), HasSubstr("shorten it"));
  // The cmdline area bounds it even when the kernel would accept more.
  s = WriteCmdline(*mem, std::string(layout::kCmdlineMax, 'a'), UINT32_MAX, zp);
  EXPECT_FALSE(s.ok());
}

TEST(CmdlineTest, RejectsNul) {
  absl::StatusOr<GuestMemory> mem = GuestMemory::Create(16 * kMiB, false);
  ASSERT_TRUE(mem.ok());
  boot_params zp{};
  EXPECT_FALSE(WriteCmdline(*mem, std::string("a\0b", 3), 2047, zp).ok());
}

KernelImage Kernel(uint64_t end) {
  KernelImage k;
  k.begin = 2 * kMiB;
  k.end = end;
  k.initrd_addr_max = 0x7fffffff;
  return k;
}

TEST(InitrdTest, PlacedAtTopOfLowRamPageAligned) {
  absl::StatusOr<GuestMemory> mem = GuestMemory::Create(64 * kMiB, false);
  ASSERT_TRUE(mem.ok());
  absl::StatusOr<uint64_t> gpa = PlaceInitrd(*mem, 1000000, Kernel(20 * kMiB));
  ASSERT_TRUE(gpa.ok()) << gpa.status();
  EXPECT_EQ(*gpa % 4096, 0u);
  EXPECT_LE(*gpa + 1000000, 64 * kMiB);
  EXPECT_GT(*gpa + 1000000 + 4096, 64 * kMiB);
}

TEST(InitrdTest, BelowInitrdAddrMax) {
  absl::StatusOr<GuestMemory> mem = GuestMemory::Create(64 * kMiB, false);
  ASSERT_TRUE(mem.ok());
  KernelImage k = Kernel(20 * kMiB);
  k.initrd_addr_max = 32 * kMiB - 1;
  absl::StatusOr<uint64_t> gpa = PlaceInitrd(*mem, 4 * kMiB, k);
  ASSERT_TRUE(gpa.ok());
  EXPECT_EQ(*gpa, 28 * kMiB);
}

TEST(InitrdTest, BelowThePciHoleWithMuchRam) {
  absl::StatusOr<GuestMemory> mem = GuestMemory::Create(5 * kGiB, false);
  ASSERT_TRUE(mem.ok());
  KernelImage k = Kernel(20 * kMiB);
  k.initrd_addr_max = UINT32_MAX;
  absl::StatusOr<uint64_t> gpa = PlaceInitrd(*mem, 4 * kMiB, k);
  ASSERT_TRUE(gpa.ok());
  EXPECT_EQ(*gpa, 3 * kGiB - 4 * kMiB);
}

TEST(InitrdTest, TooLargeSaysHowMuchRamIsNeeded) {
  absl::StatusOr<GuestMemory> mem = GuestMemory::Create(64 * kMiB, false);
  ASSERT_TRUE(mem.ok());
  absl::StatusOr<uint64_t> gpa =
      PlaceInitrd(*mem, 50 * kMiB, Kernel(20 * kMiB));
  ASSERT_FALSE(gpa.ok());
  EXPECT_EQ(gpa.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(gpa.status().message(), HasSubstr("initrd is 50 MiB"));
  EXPECT_THAT(gpa.status().message(), HasSubstr("at least 70 MiB"));
}

TEST(InitrdTest, TooLargeForInitrdAddrMaxSaysUseSmaller) {
  absl::StatusOr<GuestMemory> mem = GuestMemory::Create(64 * kMiB, false);
  ASSERT_TRUE(mem.ok());
  KernelImage k = Kernel(20 * kMiB);
  k.initrd_addr_max = 24 * kMiB - 1;
  absl::StatusOr<uint64_t> gpa = PlaceInitrd(*mem, 8 * kMiB, k);
  ASSERT_FALSE(gpa.ok());
  EXPECT_THAT(gpa.status().message(), HasSubstr("use a smaller initrd"));
}

TEST(InitrdTest, SetRamdiskSplitsHighBits) {
  boot_params zp{};
  SetRamdisk(0x123456789000, 0x100000001, zp);
  EXPECT_EQ(zp.hdr.ramdisk_image, 0x56789000u);
  EXPECT_EQ(zp.ext_ramdisk_image, 0x1234u);
  EXPECT_EQ(zp.hdr.ramdisk_size, 1u);
  EXPECT_EQ(zp.ext_ramdisk_size, 1u);
}

}  // namespace
}  // namespace microvm::boot
