// SPDX-License-Identifier: Apache-2.0
#include "vmm/boot/bzimage.h"

#include <cstring>
#include <fstream>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "memory/guest_memory.h"
#include "memory/layout.h"
#include "vmm/boot/test_images.h"

namespace microvm::boot {
namespace {

using testing::BzImageSpec;
using ::testing::HasSubstr;
using testing::KernelByte;
using testing::MakeBzImage;

constexpr uint64_t kMiB = layout::kMiB;

std::vector<uint8_t> ReadCachedKernel() {
  absl::StatusOr<std::string> path = testing::CachedKernelPath();
  EXPECT_TRUE(path.ok()) << path.status().message();
  if (!path.ok()) return {};
  std::ifstream f(*path, std::ios::binary | std::ios::ate);
  std::vector<uint8_t> image(static_cast<size_t>(f.tellg()));
  f.seekg(0);
  f.read(reinterpret_cast<char*>(image.data()),
         static_cast<std::streamsize>(image.size()));
  return image;
}

TEST(BzImageTest, ParsesRealDebianKernel) {
  std::vector<uint8_t> image = ReadCachedKernel();
  ASSERT_FALSE(image.empty());
  ASSERT_TRUE(IsBzImage(image));
  absl::StatusOr<BzImageHeader> bz = ParseBzImage(image);
  ASSERT_TRUE(bz.ok()) << bz.status();
  const uint16_t version = bz->header.version;
  EXPECT_GE(version, kMinBootProtocol);
  EXPECT_TRUE(bz->header.xloadflags & XLF_KERNEL_64);
  EXPECT_TRUE(bz->header.relocatable_kernel);
  EXPECT_EQ(bz->header_bytes, sizeof(setup_header));
  // The protected-mode kernel is the rest of the file (build.c pads it).
  EXPECT_EQ(bz->setup_bytes + bz->kernel_bytes, image.size());

  absl::StatusOr<BzImagePlacement> p = PlaceBzImage(*bz, 256 * kMiB);
  ASSERT_TRUE(p.ok()) << p.status();
  // Debian's kernel_alignment (and min_alignment) is 2 MiB: 1 MiB rounds up.
  EXPECT_EQ(p->load_addr, uint64_t{bz->header.kernel_alignment});
  EXPECT_EQ(p->runtime_start, uint64_t{bz->header.pref_address});
  EXPECT_EQ(p->end, p->runtime_start + bz->header.init_size);
}

TEST(BzImageTest, LoadsRealDebianKernel) {
  std::vector<uint8_t> image = ReadCachedKernel();
  ASSERT_FALSE(image.empty());
  absl::StatusOr<GuestMemory> mem = GuestMemory::Create(256 * kMiB, false);
  ASSERT_TRUE(mem.ok()) << mem.status();
  boot_params zp{};
  absl::StatusOr<KernelImage> k = LoadBzImage(*mem, image, zp);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->format, "bzImage");
  EXPECT_EQ(k->begin, 2 * kMiB);
  EXPECT_EQ(k->entry_rip, 2 * kMiB + 0x200);
  EXPECT_EQ(k->cmdline_max, 2047u);
  EXPECT_EQ(k->initrd_addr_max, 0x7fffffffu);

  const uint64_t setup = (image[0x1f1] + 1) * 512;
  std::vector<uint8_t> loaded(image.size() - setup);
  ASSERT_TRUE(mem->Read(k->begin, absl::MakeSpan(loaded)).ok());
  EXPECT_TRUE(std::equal(loaded.begin(), loaded.end(), image.begin() + setup));

  EXPECT_EQ(std::memcmp(&zp.hdr.header, "HdrS", 4), 0);
  EXPECT_EQ(zp.hdr.boot_flag, 0xaa55);
  EXPECT_EQ(zp.hdr.type_of_loader, 0xff);
  EXPECT_TRUE(zp.hdr.loadflags & CAN_USE_HEAP);
  EXPECT_TRUE(zp.hdr.loadflags & LOADED_HIGH);
  EXPECT_EQ(zp.hdr.heap_end_ptr, 0xde00);
  EXPECT_EQ(zp.hdr.code32_start, 2 * kMiB);
}

TEST(BzImageTest, RealKernelTooBigFor64MiB) {
  std::vector<uint8_t> image = ReadCachedKernel();
  ASSERT_FALSE(image.empty());
  absl::StatusOr<GuestMemory> mem = GuestMemory::Create(64 * kMiB, false);
  ASSERT_TRUE(mem.ok());
  boot_params zp{};
  absl::StatusOr<KernelImage> k = LoadBzImage(*mem, image, zp);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(k.status().message(), HasSubstr("give the guest at least"));
}

TEST(BzImageTest, SyntheticImageLoadsAtAlignedAddress) {
  absl::StatusOr<GuestMemory> mem = GuestMemory::Create(64 * kMiB, false);
  ASSERT_TRUE(mem.ok());
  std::vector<uint8_t> image = MakeBzImage({});
  boot_params zp{};
  absl::StatusOr<KernelImage> k = LoadBzImage(*mem, image, zp);
  ASSERT_TRUE(k.ok()) << k.status();
  EXPECT_EQ(k->entry_rip, 2 * kMiB + 0x200);
  EXPECT_EQ(k->end, 16 * kMiB + 4 * kMiB);  // pref_address + init_size
  absl::StatusOr<uint8_t> b = mem->ReadObject<uint8_t>(2 * kMiB + 100);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, KernelByte(100));
}

TEST(BzImageTest, KernelAlignmentOf1MiBLoadsAt1MiB) {
  BzImageSpec spec;
  spec.kernel_alignment = 1 << 20;
  absl::StatusOr<BzImageHeader> bz = ParseBzImage(MakeBzImage(spec));
  ASSERT_TRUE(bz.ok()) << bz.status();
  absl::StatusOr<BzImagePlacement> p = PlaceBzImage(*bz, 64 * kMiB);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->load_addr, 1 * kMiB);
  EXPECT_EQ(p->runtime_start, 16 * kMiB);
}

TEST(BzImageTest, NonRelocatableLoadsAtPrefAddress) {
  BzImageSpec spec;
  spec.relocatable = false;
  spec.pref_address = 8 * kMiB;
  absl::StatusOr<BzImageHeader> bz = ParseBzImage(MakeBzImage(spec));
  ASSERT_TRUE(bz.ok()) << bz.status();
  absl::StatusOr<BzImagePlacement> p = PlaceBzImage(*bz, 64 * kMiB);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->load_addr, 8 * kMiB);
  EXPECT_EQ(p->runtime_start, 8 * kMiB);
  EXPECT_EQ(p->end, 12 * kMiB);
}

TEST(BzImageTest, RejectsBadMagic) {
  std::vector<uint8_t> image = MakeBzImage({});
  image[0x202] = 'X';
  EXPECT_FALSE(IsBzImage(image));
  absl::StatusOr<BzImageHeader> bz = ParseBzImage(image);
  ASSERT_FALSE(bz.ok());
  EXPECT_THAT(bz.status().message(), HasSubstr("no \"HdrS\" magic"));
}

TEST(BzImageTest, RejectsOldProtocol) {
  BzImageSpec spec;
  spec.version = 0x020a;
  absl::StatusOr<BzImageHeader> bz = ParseBzImage(MakeBzImage(spec));
  ASSERT_FALSE(bz.ok());
  EXPECT_THAT(bz.status().message(), HasSubstr("boot protocol 2.10"));
  EXPECT_THAT(bz.status().message(), HasSubstr("2.12 or newer"));
  EXPECT_THAT(bz.status().message(), HasSubstr("xloadflags"));
}

TEST(BzImageTest, RejectsKernelWithout64BitEntry) {
  BzImageSpec spec;
  spec.xloadflags = XLF_CAN_BE_LOADED_ABOVE_4G;
  absl::StatusOr<BzImageHeader> bz = ParseBzImage(MakeBzImage(spec));
  ASSERT_FALSE(bz.ok());
  EXPECT_THAT(bz.status().message(), HasSubstr("XLF_KERNEL_64"));
}

TEST(BzImageTest, RejectsTruncatedKernel) {
  std::vector<uint8_t> image = MakeBzImage({});
  image.resize(image.size() - 16);
  absl::StatusOr<BzImageHeader> bz = ParseBzImage(image);
  ASSERT_FALSE(bz.ok());
  EXPECT_THAT(bz.status().message(), HasSubstr("truncated"));
  EXPECT_THAT(bz.status().message(), HasSubstr("copy or download it again"));
}

TEST(BzImageTest, RejectsTruncatedHeader) {
  std::vector<uint8_t> image = MakeBzImage({});
  image.resize(0x210);
  absl::StatusOr<BzImageHeader> bz = ParseBzImage(image);
  ASSERT_FALSE(bz.ok());
  EXPECT_THAT(bz.status().message(), HasSubstr("truncated"));
}

TEST(BzImageTest, RejectsEmptyImage) {
  absl::StatusOr<BzImageHeader> bz = ParseBzImage({});
  ASSERT_FALSE(bz.ok());
  EXPECT_THAT(bz.status().message(), HasSubstr("not a bzImage"));
}

TEST(BzImageTest, SetupSectsZeroMeansFour) {
  BzImageSpec spec;
  spec.setup_sects = 0;
  std::vector<uint8_t> image = MakeBzImage(spec);
  absl::StatusOr<BzImageHeader> bz = ParseBzImage(image);
  ASSERT_TRUE(bz.ok()) << bz.status();
  EXPECT_EQ(bz->setup_bytes, 5u * 512);
  absl::StatusOr<GuestMemory> mem = GuestMemory::Create(64 * kMiB, false);
  ASSERT_TRUE(mem.ok());
  boot_params zp{};
  absl::StatusOr<KernelImage> k = LoadBzImage(*mem, image, zp);
  ASSERT_TRUE(k.ok()) << k.status();
  absl::StatusOr<uint8_t> first = mem->ReadObject<uint8_t>(k->begin);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, KernelByte(0));
}

// From a file, only the head is in memory; the protected-mode kernel is
// read once, straight into guest RAM at the load address.
TEST(BzImageTest, ReadsTheKernelStraightIntoGuestRam) {
  std::vector<uint8_t> image = MakeBzImage({});
  absl::StatusOr<GuestMemory> mem = GuestMemory::Create(64 * kMiB, false);
  ASSERT_TRUE(mem.ok());
  struct Read {
    uint64_t offset;
    uint8_t* data;
    size_t size;
  };
  std::vector<Read> reads;
  boot_params zp{};
  absl::StatusOr<KernelImage> k = LoadBzImage(
      *mem, absl::MakeConstSpan(image).first(kBzImageHeadBytes), image.size(),
      [&](uint64_t offset, absl::Span<uint8_t> out) {
        reads.push_back({offset, out.data(), out.size()});
        std::memcpy(out.data(), image.data() + offset, out.size());
        return absl::OkStatus();
      },
      zp);
  ASSERT_TRUE(k.ok()) << k.status();
  ASSERT_EQ(reads.size(), 1u);
  EXPECT_EQ(reads[0].offset, 5u * 512);  // after 4 setup sectors + boot sector
  EXPECT_EQ(reads[0].size, 64u * 1024);
  EXPECT_EQ(reads[0].data, mem->HostAddress(k->begin, 1).value());
  absl::StatusOr<uint8_t> b = mem->ReadObject<uint8_t>(k->begin + 100);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, KernelByte(100));
  EXPECT_EQ(std::memcmp(&zp.hdr.header, "HdrS", 4), 0);
}

TEST(BzImageTest, ReadErrorIsReturnedAsIs) {
  std::vector<uint8_t> image = MakeBzImage({});
  absl::StatusOr<GuestMemory> mem = GuestMemory::Create(64 * kMiB, false);
  ASSERT_TRUE(mem.ok());
  boot_params zp{};
  absl::StatusOr<KernelImage> k = LoadBzImage(
      *mem, absl::MakeConstSpan(image).first(kBzImageHeadBytes), image.size(),
      [](uint64_t, absl::Span<uint8_t>) {
        return absl::DataLossError("kernel /x: file ended");
      },
      zp);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status(), absl::DataLossError("kernel /x: file ended"));
}

// The size check is against the whole file, not the head in memory.
TEST(BzImageTest, HeadAloneIsNotTruncatedButAShortFileIs) {
  std::vector<uint8_t> image = MakeBzImage({});
  absl::Span<const uint8_t> head =
      absl::MakeConstSpan(image).first(kBzImageHeadBytes);
  EXPECT_TRUE(ParseBzImage(head, image.size()).ok());
  absl::StatusOr<BzImageHeader> bz = ParseBzImage(head, image.size() - 16);
  ASSERT_FALSE(bz.ok());
  EXPECT_THAT(bz.status().message(), HasSubstr("truncated"));
}

TEST(BzImageTest, RejectsBadKernelAlignment) {
  BzImageSpec spec;
  spec.kernel_alignment = 3 << 20;
  absl::StatusOr<BzImageHeader> bz = ParseBzImage(MakeBzImage(spec));
  ASSERT_FALSE(bz.ok());
  EXPECT_THAT(bz.status().message(), HasSubstr("kernel_alignment"));
}

TEST(BzImageTest, InitSizeBeyondRamNamesTheMemoryNeeded) {
  BzImageSpec spec;
  spec.init_size = 60 << 20;  // runs at 16 MiB: needs 76 MiB
  absl::StatusOr<BzImageHeader> bz = ParseBzImage(MakeBzImage(spec));
  ASSERT_TRUE(bz.ok());
  absl::StatusOr<BzImagePlacement> p = PlaceBzImage(*bz, 64 * kMiB);
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(p.status().message(), HasSubstr("at least 76 MiB"));
}

}  // namespace
}  // namespace microvm::boot
