// SPDX-License-Identifier: Apache-2.0
#include "vmm/boot/bzimage.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_format.h"
#include "base/status.h"
#include "memory/layout.h"

namespace microvm::boot {
namespace {

constexpr char kHdrSMagic[4] = {'H', 'd', 'r', 'S'};
// "Undefined" boot loader ID (boot.rst, type_of_loader).
constexpr uint8_t kLoaderTypeUndefined = 0xff;
// End of the setup heap as an offset into the real-mode segment, minus
// 0x200 (boot.rst, heap_end_ptr; the sample configuration's 0xe000). Never
// used by the 64-bit entry path, but CAN_USE_HEAP wants a sane value.
constexpr uint16_t kHeapEndPtr = 0xe000 - 0x200;
constexpr uint64_t kSectorSize = 512;

uint64_t AlignUp(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }
uint64_t MiBUp(uint64_t v) { return AlignUp(v, layout::kMiB) / layout::kMiB; }

absl::Status Corrupt(const std::string& what) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "bzImage header is corrupt: %s; use an intact kernel image", what));
}

}  // namespace

bool IsBzImage(absl::Span<const uint8_t> image) {
  return image.size() >= kHdrSMagicOffset + sizeof(kHdrSMagic) &&
         std::memcmp(image.data() + kHdrSMagicOffset, kHdrSMagic,
                     sizeof(kHdrSMagic)) == 0;
}

absl::StatusOr<BzImageHeader> ParseBzImage(absl::Span<const uint8_t> image) {
  return ParseBzImage(image, image.size());
}

absl::StatusOr<BzImageHeader> ParseBzImage(absl::Span<const uint8_t> head,
                                           uint64_t file_size) {
  if (!IsBzImage(head)) {
    return absl::InvalidArgumentError(
        "not a bzImage: no \"HdrS\" magic at offset 0x202; pass a Linux "
        "x86 bzImage (arch/x86/boot/bzImage) or an ELF64 vmlinux");
  }
  if (head.size() < kSetupHeaderOffset + sizeof(setup_header)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "bzImage is truncated: %d bytes, too short to hold its setup header "
        "(%d bytes); copy the whole file again",
        file_size, kSetupHeaderOffset + sizeof(setup_header)));
  }
  BzImageHeader bz;
  // The header ends at 0x202 + the byte at 0x201 (boot.rst, "64-bit Boot
  // Protocol"); newer kernels may define more than this build knows.
  bz.header_bytes =
      std::min<uint64_t>(kHdrSMagicOffset + head[0x201] - kSetupHeaderOffset,
                         sizeof(setup_header));
  std::memcpy(&bz.header, head.data() + kSetupHeaderOffset, bz.header_bytes);
  setup_header& h = bz.header;

  const uint16_t version = h.version;
  if (version < kMinBootProtocol) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "bzImage uses boot protocol %d.%02d, but microvm needs 2.12 or newer "
        "(for xloadflags, which announce the 64-bit entry point); use a "
        "Linux 3.8 or newer kernel",
        version >> 8, version & 0xff));
  }
  if (!(h.xloadflags & XLF_KERNEL_64)) {
    return absl::InvalidArgumentError(
        "bzImage has no 64-bit entry point (XLF_KERNEL_64 is not set in "
        "xloadflags): microvm enters the kernel in 64-bit mode; use an "
        "x86_64 kernel");
  }
  // setup_sects 0 means 4 (boot.rst, "The Real-Mode Kernel Header").
  const uint64_t setup_sects = h.setup_sects == 0 ? 4 : h.setup_sects;
  bz.setup_bytes = (setup_sects + 1) * kSectorSize;
  bz.kernel_bytes = uint64_t{h.syssize} * 16;
  if (bz.kernel_bytes == 0) return Corrupt("syssize is 0");
  const uint64_t needed = bz.setup_bytes + bz.kernel_bytes;
  if (file_size < needed) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "bzImage is truncated: the file has %d bytes but its header says "
        "%d (setup %d + kernel %d); copy or download it again",
        file_size, needed, bz.setup_bytes, bz.kernel_bytes));
  }
  const uint32_t align = h.kernel_alignment;
  if (h.relocatable_kernel &&
      (align == 0 || (align & (align - 1)) != 0 || align > layout::kGiB)) {
    return Corrupt(
        absl::StrFormat("kernel_alignment 0x%x is not a power of "
                        "two up to 1 GiB",
                        align));
  }
  if (!h.relocatable_kernel && h.pref_address < layout::kKernelAddr) {
    return Corrupt(absl::StrFormat(
        "the kernel is not relocatable and pref_address 0x%x is below 1 MiB",
        static_cast<uint64_t>(h.pref_address)));
  }
  return bz;
}

absl::StatusOr<BzImagePlacement> PlaceBzImage(const BzImageHeader& bz,
                                              uint64_t low_ram_end) {
  const setup_header& h = bz.header;
  const uint64_t pref = h.pref_address;
  if (pref >= layout::kPciHoleStart) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "bzImage wants to run at 0x%x (pref_address), above the %d MiB of "
        "RAM below the PCI hole; use a kernel built for a lower "
        "CONFIG_PHYSICAL_START",
        pref, layout::kPciHoleStart / layout::kMiB));
  }
  BzImagePlacement p;
  if (h.relocatable_kernel) {
    // A relocatable kernel may be loaded at any kernel_alignment boundary;
    // it then moves itself to the run-time start (boot.rst, init_size).
    const uint64_t align = h.kernel_alignment;
    p.load_addr = AlignUp(layout::kKernelAddr, align);
    p.runtime_start = AlignUp(std::max(p.load_addr, pref), align);
  } else {
    p.load_addr = pref;
    p.runtime_start = pref;
  }
  p.end = std::max(p.load_addr + bz.kernel_bytes,
                   p.runtime_start + uint64_t{h.init_size});
  if (p.end > low_ram_end) {
    if (p.end > layout::kPciHoleStart) {
      return absl::ResourceExhaustedError(absl::StrFormat(
          "bzImage needs RAM up to %d MiB (init_size 0x%x from 0x%x), beyond "
          "the %d MiB below the PCI hole; use a smaller kernel",
          MiBUp(p.end), uint64_t{h.init_size}, p.runtime_start,
          layout::kPciHoleStart / layout::kMiB));
    }
    return absl::ResourceExhaustedError(absl::StrFormat(
        "bzImage needs RAM up to %d MiB (it is loaded at 0x%x and needs "
        "init_size 0x%x bytes from 0x%x) but the guest has only %d MiB; give "
        "the guest at least %d MiB of RAM",
        MiBUp(p.end), p.load_addr, uint64_t{h.init_size}, p.runtime_start,
        low_ram_end / layout::kMiB, MiBUp(p.end)));
  }
  return p;
}

absl::StatusOr<KernelImage> LoadBzImage(const GuestMemory& mem,
                                        absl::Span<const uint8_t> image,
                                        boot_params& zero_page) {
  return LoadBzImage(
      mem, image, image.size(),
      [image](uint64_t offset, absl::Span<uint8_t> out) {
        // ParseBzImage checked the sizes against image.size().
        std::memcpy(out.data(), image.data() + offset, out.size());
        return absl::OkStatus();
      },
      zero_page);
}

absl::StatusOr<KernelImage> LoadBzImage(const GuestMemory& mem,
                                        absl::Span<const uint8_t> head,
                                        uint64_t file_size, ImageReader read,
                                        boot_params& zero_page) {
  MVM_ASSIGN_OR_RETURN(BzImageHeader bz, ParseBzImage(head, file_size));
  MVM_ASSIGN_OR_RETURN(uint64_t low_end, LowRamEnd(mem));
  MVM_ASSIGN_OR_RETURN(BzImagePlacement p, PlaceBzImage(bz, low_end));
  // Straight from the file into guest RAM, with no copy of the whole image
  // on the way: for Debian's 14 MB kernel that copy, its buffer faulted in
  // and zeroed, was a fifth of microvm's time from main() to the vCPUs
  // with nested KVM.
  absl::StatusOr<uint8_t*> dest = mem.HostAddress(p.load_addr, bz.kernel_bytes);
  if (!dest.ok()) {
    return Annotate(dest.status(),
                    "loading the bzImage's protected-mode kernel");
  }
  MVM_RETURN_IF_ERROR(
      read(bz.setup_bytes, absl::MakeSpan(*dest, bz.kernel_bytes)));

  // The zero page starts as the image's setup header (boot.rst, "64-bit
  // Boot Protocol"); the fields a boot loader writes follow.
  std::memcpy(&zero_page.hdr, head.data() + kSetupHeaderOffset,
              bz.header_bytes);
  setup_header& h = zero_page.hdr;
  h.type_of_loader = kLoaderTypeUndefined;
  h.loadflags = static_cast<uint8_t>((h.loadflags | CAN_USE_HEAP) &
                                     ~(KEEP_SEGMENTS | QUIET_FLAG));
  h.heap_end_ptr = kHeapEndPtr;
  h.code32_start = static_cast<uint32_t>(p.load_addr);
  h.ramdisk_image = 0;
  h.ramdisk_size = 0;
  h.setup_data = 0;

  KernelImage k;
  k.format = "bzImage";
  k.entry_rip = p.load_addr + kEntry64Offset;
  k.begin = p.load_addr;
  k.end = p.end;
  k.initrd_addr_max = bz.header.initrd_addr_max;
  k.cmdline_max = bz.header.cmdline_size;
  return k;
}

}  // namespace microvm::boot
