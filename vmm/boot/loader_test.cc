// SPDX-License-Identifier: Apache-2.0
#include "vmm/boot/loader.h"

#include <asm/bootparam.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "memory/guest_memory.h"
#include "memory/layout.h"
#include "vmm/boot/test_images.h"

namespace microvm::boot {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr uint64_t kMiB = layout::kMiB;

GuestMemory Memory(uint64_t bytes) {
  absl::StatusOr<GuestMemory> mem = GuestMemory::Create(bytes, false);
  EXPECT_TRUE(mem.ok()) << mem.status();
  return std::move(mem).value();
}

boot_params ZeroPage(const GuestMemory& mem) {
  return mem.ReadObject<boot_params>(layout::kZeroPageAddr).value();
}

TEST(LoaderTest, BootsRealDebianKernelWithInitrd) {
  absl::StatusOr<std::string> kernel = testing::CachedKernelPath();
  ASSERT_TRUE(kernel.ok()) << kernel.status().message();
  GuestMemory mem = Memory(256 * kMiB);
  std::vector<uint8_t> initrd(3 * 4096 + 5, 0x5a);
  LoadOptions o;
  o.kernel_path = *kernel;
  o.initrd_path = testing::WriteTempFile("initrd.cpio", initrd);
  o.cmdline = "console=ttyS0 panic=-1";
  o.cpus = 2;
  absl::StatusOr<BootInfo> info = LoadKernel(mem, o);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->format, "bzImage");
  EXPECT_EQ(info->entry_rip, 2 * kMiB + 0x200);
  EXPECT_EQ(info->zero_page_gpa, layout::kZeroPageAddr);

  boot_params zp = ZeroPage(mem);
  EXPECT_EQ(std::memcmp(&zp.hdr.header, "HdrS", 4), 0);
  EXPECT_EQ(zp.hdr.type_of_loader, 0xff);
  EXPECT_EQ(zp.hdr.cmd_line_ptr, layout::kCmdlineAddr);
  EXPECT_EQ(zp.e820_entries, 5);
  EXPECT_EQ(zp.hdr.ramdisk_size, initrd.size());
  EXPECT_EQ(zp.hdr.ramdisk_image % 4096, 0u);
  EXPECT_LE(zp.hdr.ramdisk_image + initrd.size(), 256 * kMiB);
  // Above the kernel's init_size from its run-time address (16 MiB).
  EXPECT_GE(zp.hdr.ramdisk_image, 16 * kMiB + zp.hdr.init_size);
  std::vector<uint8_t> back(initrd.size());
  ASSERT_TRUE(mem.Read(zp.hdr.ramdisk_image, absl::MakeSpan(back)).ok());
  EXPECT_EQ(back, initrd);
  char cmdline[64] = {};
  ASSERT_TRUE(mem.Read(layout::kCmdlineAddr,
                       absl::MakeSpan(reinterpret_cast<uint8_t*>(cmdline),
                                      sizeof(cmdline)))
                  .ok());
  EXPECT_STREQ(cmdline, "console=ttyS0 panic=-1");
  // MP tables are there.
  char sig[4];
  ASSERT_TRUE(mem.Read(layout::kMpTableAddr,
                       absl::MakeSpan(reinterpret_cast<uint8_t*>(sig), 4))
                  .ok());
  EXPECT_EQ(std::memcmp(sig, "_MP_", 4), 0);
}

TEST(LoaderTest, RealKernelTooBigForMemory) {
  absl::StatusOr<std::string> kernel = testing::CachedKernelPath();
  ASSERT_TRUE(kernel.ok()) << kernel.status().message();
  GuestMemory mem = Memory(32 * kMiB);
  absl::StatusOr<BootInfo> info = LoadKernel(mem, {.kernel_path = *kernel});
  ASSERT_FALSE(info.ok());
  EXPECT_THAT(std::string(info.status().message()),
              StartsWith("kernel " + *kernel + ": "));
  EXPECT_THAT(info.status().message(), HasSubstr("give the guest at least"));
}

TEST(LoaderTest, LoadsElfGuest) {
  GuestMemory mem = Memory(64 * kMiB);
  std::string path = testing::WriteTempFile(
      "guest.elf",
      testing::MakeElf({{0x200000, 0x200000, {0xf4}, 0x1000}}, 0x200000));
  absl::StatusOr<BootInfo> info =
      LoadKernel(mem, {.kernel_path = path, .cmdline = "x", .cpus = 4});
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->format, "ELF");
  EXPECT_EQ(info->entry_rip, 0x200000u);
  boot_params zp = ZeroPage(mem);
  EXPECT_EQ(zp.hdr.boot_flag, 0xaa55);
  EXPECT_EQ(zp.hdr.cmd_line_ptr, layout::kCmdlineAddr);
  EXPECT_EQ(zp.e820_entries, 5);
}

TEST(LoaderTest, ElfWithInitrd) {
  GuestMemory mem = Memory(64 * kMiB);
  std::string path = testing::WriteTempFile(
      "guest2.elf",
      testing::MakeElf({{0x200000, 0x200000, {0xf4}, 0x1000}}, 0x200000));
  LoadOptions o{.kernel_path = path,
                .initrd_path = testing::WriteTempFile("i2", {1, 2, 3})};
  ASSERT_TRUE(LoadKernel(mem, o).ok());
  boot_params zp = ZeroPage(mem);
  EXPECT_EQ(zp.hdr.ramdisk_size, 3u);
  EXPECT_EQ(zp.hdr.ramdisk_image, 64 * kMiB - 4096);
}

TEST(LoaderTest, SyntheticBzImageWithInitrd) {
  GuestMemory mem = Memory(64 * kMiB);
  std::string path = testing::WriteTempFile("bz", testing::MakeBzImage({}));
  LoadOptions o{.kernel_path = path,
                .initrd_path = testing::WriteTempFile("i3", {1, 2, 3}),
                .cmdline = "quiet"};
  absl::StatusOr<BootInfo> info = LoadKernel(mem, o);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->entry_rip, 2 * kMiB + 0x200);
  EXPECT_EQ(ZeroPage(mem).hdr.ramdisk_image, 64 * kMiB - 4096);
}

TEST(LoaderTest, FileErrorsNameThePath) {
  GuestMemory mem = Memory(64 * kMiB);
  absl::StatusOr<BootInfo> info =
      LoadKernel(mem, {.kernel_path = "/no/such/vmlinuz"});
  ASSERT_FALSE(info.ok());
  EXPECT_THAT(std::string(info.status().message()),
              StartsWith("kernel /no/such/vmlinuz: "));
  EXPECT_THAT(info.status().message(), HasSubstr("No such file"));

  std::string empty = testing::WriteTempFile("empty-kernel", {});
  info = LoadKernel(mem, {.kernel_path = empty});
  EXPECT_THAT(std::string(info.status().message()),
              StartsWith("kernel " + empty + ": "));
  EXPECT_THAT(info.status().message(), HasSubstr("empty"));

  std::string text =
      testing::WriteTempFile("notes.txt", std::vector<uint8_t>(4096, 'a'));
  info = LoadKernel(mem, {.kernel_path = text});
  EXPECT_THAT(std::string(info.status().message()),
              StartsWith("kernel " + text + ": "));
  EXPECT_THAT(info.status().message(), HasSubstr("not a kernel"));

  std::vector<uint8_t> bz = testing::MakeBzImage({});
  bz.resize(bz.size() / 2);
  std::string cut = testing::WriteTempFile("cut", bz);
  info = LoadKernel(mem, {.kernel_path = cut});
  EXPECT_THAT(std::string(info.status().message()),
              StartsWith("kernel " + cut + ": "));
  EXPECT_THAT(info.status().message(), HasSubstr("truncated"));

  testing::BzImageSpec old;
  old.version = 0x0204;
  std::string old_path =
      testing::WriteTempFile("old", testing::MakeBzImage(old));
  info = LoadKernel(mem, {.kernel_path = old_path});
  EXPECT_THAT(info.status().message(), HasSubstr("boot protocol 2.04"));

  std::string ok = testing::WriteTempFile("ok", testing::MakeBzImage({}));
  info = LoadKernel(mem, {.kernel_path = ok, .initrd_path = "/no/initrd"});
  EXPECT_THAT(std::string(info.status().message()),
              StartsWith("initrd /no/initrd: "));
}

TEST(LoaderTest, InitrdTooLargeForMemory) {
  GuestMemory mem = Memory(64 * kMiB);
  std::string kernel = testing::WriteTempFile("bz2", testing::MakeBzImage({}));
  // A sparse 100 MiB file: the size is checked before anything is read.
  std::string initrd = testing::WriteTempFile("big-initrd", {0});
  ASSERT_EQ(::truncate(initrd.c_str(), 100 * kMiB), 0);
  absl::StatusOr<BootInfo> info =
      LoadKernel(mem, {.kernel_path = kernel, .initrd_path = initrd});
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(info.status().message()),
              StartsWith("initrd " + initrd + ": "));
  // The kernel needs up to 20 MiB (16 MiB + init_size 4 MiB).
  EXPECT_THAT(info.status().message(), HasSubstr("at least 120 MiB"));
}

TEST(LoaderTest, CmdlineTooLong) {
  GuestMemory mem = Memory(64 * kMiB);
  testing::BzImageSpec spec;
  spec.cmdline_size = 10;
  std::string kernel =
      testing::WriteTempFile("bz3", testing::MakeBzImage(spec));
  absl::StatusOr<BootInfo> info =
      LoadKernel(mem, {.kernel_path = kernel, .cmdline = "console=ttyS0"});
  ASSERT_FALSE(info.ok());
  EXPECT_THAT(info.status().message(), HasSubstr("13 bytes, 3 more than"));
}

TEST(LoaderTest, TooManyCpus) {
  GuestMemory mem = Memory(64 * kMiB);
  std::string kernel = testing::WriteTempFile("bz4", testing::MakeBzImage({}));
  absl::StatusOr<BootInfo> info =
      LoadKernel(mem, {.kernel_path = kernel, .cpus = 300});
  ASSERT_FALSE(info.ok());
  EXPECT_THAT(info.status().message(), HasSubstr("use 1 to 254"));
}

}  // namespace
}  // namespace microvm::boot
