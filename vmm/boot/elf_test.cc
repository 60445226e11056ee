// SPDX-License-Identifier: Apache-2.0
#include "vmm/boot/elf.h"

#include <elf.h>

#include <cstring>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "memory/guest_memory.h"
#include "memory/layout.h"
#include "vmm/boot/test_images.h"

namespace microvm::boot {
namespace {

using testing::ElfSegment;
using ::testing::HasSubstr;
using testing::MakeElf;

constexpr uint64_t kMiB = layout::kMiB;

class ElfTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<GuestMemory> mem = GuestMemory::Create(64 * kMiB, false);
    ASSERT_TRUE(mem.ok()) << mem.status();
    mem_.emplace(std::move(*mem));
  }
  absl::StatusOr<KernelImage> Load(const std::vector<uint8_t>& image) {
    return LoadElf(*mem_, image, zp_);
  }
  uint8_t ByteAt(uint64_t gpa) {
    return mem_->ReadObject<uint8_t>(gpa).value();
  }

  std::optional<GuestMemory> mem_;
  boot_params zp_{};
};

TEST_F(ElfTest, LoadsSegmentsAndZeroFillsBss) {
  // Dirty the bss area first: the loader must clear it.
  ASSERT_TRUE(mem_->WriteObject<uint32_t>(0x201000 + 4, 0xffffffff).ok());
  std::vector<uint8_t> image =
      MakeElf({{0x200000, 0x200000, {1, 2, 3, 4}, 4},
               {0x201000, 0x201000, {5, 6, 7, 8}, 0x100}},
              0x200002);
  absl::StatusOr<KernelImage> k = Load(image);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->format, "ELF");
  EXPECT_EQ(k->entry_rip, 0x200002u);
  EXPECT_EQ(k->begin, 0x200000u);
  EXPECT_EQ(k->end, 0x201100u);
  EXPECT_EQ(ByteAt(0x200003), 4);
  EXPECT_EQ(ByteAt(0x201000), 5);
  for (uint64_t a = 0x201004; a < 0x201100; ++a) ASSERT_EQ(ByteAt(a), 0) << a;
  EXPECT_EQ(zp_.hdr.boot_flag, 0xaa55);
  EXPECT_EQ(std::memcmp(&zp_.hdr.header, "HdrS", 4), 0);
  EXPECT_EQ(zp_.hdr.type_of_loader, 0xff);
}

// From a file: the headers and each segment are read where they are, the
// segments straight into guest RAM; nothing else of the file is read.
TEST_F(ElfTest, ReadsOnlyHeadersAndSegmentsFromTheFile) {
  std::vector<uint8_t> image =
      MakeElf({{0x200000, 0x200000, {1, 2, 3, 4}, 4}}, 0x200000);
  // Unused bytes after the segment, as a vmlinux has (notes, symbols).
  image.resize(image.size() + 0x10000, 0xee);
  std::vector<std::pair<uint64_t, uint64_t>> reads;
  absl::StatusOr<KernelImage> k = LoadElf(
      *mem_, image.size(),
      [&](uint64_t offset, absl::Span<uint8_t> out) {
        reads.emplace_back(offset, out.size());
        std::memcpy(out.data(), image.data() + offset, out.size());
        return absl::OkStatus();
      },
      zp_);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(ByteAt(0x200003), 4);
  uint64_t bytes = 0;
  for (const auto& [offset, size] : reads) bytes += size;
  EXPECT_EQ(bytes, sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr) + 4);
  // A read that fails is what the load returns, before the entry is set.
  absl::StatusOr<KernelImage> failed = LoadElf(
      *mem_, image.size(),
      [&](uint64_t offset, absl::Span<uint8_t> out) {
        if (offset != 0) return absl::DataLossError("kernel x: read failed");
        std::memcpy(out.data(), image.data(), out.size());
        return absl::OkStatus();
      },
      zp_);
  EXPECT_EQ(failed.status(), absl::DataLossError("kernel x: read failed"));
}

TEST_F(ElfTest, TranslatesVirtualEntryPoint) {
  // Like a kernel linked high: virtual 0xffffffff81000000, physical 16 MiB.
  const uint64_t virt = 0xffffffff81000000;
  std::vector<uint8_t> image = MakeElf(
      {{16 * kMiB, virt, std::vector<uint8_t>(64, 0x90), 64}}, virt + 0x10);
  absl::StatusOr<KernelImage> k = Load(image);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->entry_rip, 16 * kMiB + 0x10);
}

TEST_F(ElfTest, PhysicalEntryPointWins) {
  // vmlinux: ENTRY(phys_startup_64) is already physical.
  const uint64_t virt = 0xffffffff81000000;
  std::vector<uint8_t> image =
      MakeElf({{16 * kMiB, virt, std::vector<uint8_t>(64, 0x90), 64}},
              16 * kMiB + 0x20);
  absl::StatusOr<KernelImage> k = Load(image);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->entry_rip, 16 * kMiB + 0x20);
}

TEST_F(ElfTest, RejectsEntryOutsideSegments) {
  absl::StatusOr<KernelImage> k =
      Load(MakeElf({{0x200000, 0x200000, {1}, 1}}, 0x300000));
  ASSERT_FALSE(k.ok());
  EXPECT_THAT(k.status().message(), HasSubstr("entry point 0x300000"));
}

TEST_F(ElfTest, RejectsSegmentOutsideRam) {
  absl::StatusOr<KernelImage> k =
      Load(MakeElf({{63 * kMiB, 63 * kMiB, {1}, 2 * kMiB}}, 63 * kMiB));
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(k.status().message(), HasSubstr("not inside guest RAM"));
  k = Load(MakeElf({{0xd0000000, 0xd0000000, {1}, 1}}, 0xd0000000));
  EXPECT_FALSE(k.ok());
}

TEST_F(ElfTest, RejectsSegmentOverBootData) {
  absl::StatusOr<KernelImage> k =
      Load(MakeElf({{0x8000, 0x8000, {1}, 0x1000}}, 0x8000));
  ASSERT_FALSE(k.ok());
  EXPECT_THAT(k.status().message(), HasSubstr("overlaps the VMM's boot data"));
  k = Load(MakeElf({{0x2f000, 0x2f000, {1}, 0x2000}}, 0x2f000));
  EXPECT_FALSE(k.ok());
  k = Load(MakeElf({{0x9f000, 0x9f000, {1}, 0x1000}}, 0x9f000));
  EXPECT_FALSE(k.ok());
  // Right above the command line area is fine.
  k = Load(MakeElf({{0x30000, 0x30000, {1}, 0x1000}}, 0x30000));
  EXPECT_TRUE(k.ok()) << k.status();
}

TEST_F(ElfTest, RejectsClass32) {
  std::vector<uint8_t> image =
      MakeElf({{0x200000, 0x200000, {1}, 1}}, 0x200000);
  image[EI_CLASS] = ELFCLASS32;
  absl::StatusOr<KernelImage> k = Load(image);
  ASSERT_FALSE(k.ok());
  EXPECT_THAT(k.status().message(), HasSubstr("32-bit"));
}

TEST_F(ElfTest, RejectsWrongMachineAndType) {
  std::vector<uint8_t> image =
      MakeElf({{0x200000, 0x200000, {1}, 1}}, 0x200000);
  std::vector<uint8_t> arm = image;
  const uint16_t aarch64 = EM_AARCH64;
  std::memcpy(arm.data() + offsetof(Elf64_Ehdr, e_machine), &aarch64, 2);
  EXPECT_THAT(Load(arm).status().message(), HasSubstr("not x86-64"));
  std::vector<uint8_t> pie = image;
  const uint16_t dyn = ET_DYN;
  std::memcpy(pie.data() + offsetof(Elf64_Ehdr, e_type), &dyn, 2);
  EXPECT_THAT(Load(pie).status().message(), HasSubstr("-no-pie"));
}

TEST_F(ElfTest, RejectsTruncatedFiles) {
  std::vector<uint8_t> image = MakeElf(
      {{0x200000, 0x200000, std::vector<uint8_t>(100, 1), 100}}, 0x200000);
  std::vector<uint8_t> cut(image.begin(), image.end() - 1);
  EXPECT_THAT(Load(cut).status().message(), HasSubstr("truncated"));
  cut.resize(sizeof(Elf64_Ehdr) + 10);  // half a program header
  EXPECT_THAT(Load(cut).status().message(), HasSubstr("truncated"));
  cut.resize(20);
  EXPECT_THAT(Load(cut).status().message(), HasSubstr("truncated"));
}

TEST_F(ElfTest, RejectsFileszAboveMemsz) {
  absl::StatusOr<KernelImage> k =
      Load(MakeElf({{0x200000, 0x200000, {1, 2}, 1}}, 0x200000));
  ASSERT_FALSE(k.ok());
  EXPECT_THAT(k.status().message(), HasSubstr("larger than memsz"));
}

TEST_F(ElfTest, RejectsNoLoadableSegment) {
  absl::StatusOr<KernelImage> k =
      Load(MakeElf({{0x200000, 0x200000, {}, 0}}, 0));
  ASSERT_FALSE(k.ok());
  EXPECT_THAT(k.status().message(), HasSubstr("no PT_LOAD"));
}

}  // namespace
}  // namespace microvm::boot
