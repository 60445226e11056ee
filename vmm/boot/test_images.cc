// SPDX-License-Identifier: Apache-2.0
#include "vmm/boot/test_images.h"

#include <asm/bootparam.h>
#include <elf.h>
#include <sys/stat.h>

#include <cstdlib>
#include <cstring>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace microvm::boot::testing {

std::vector<uint8_t> MakeBzImage(const BzImageSpec& spec) {
  const uint64_t sects = spec.setup_sects == 0 ? 4 : spec.setup_sects;
  const uint64_t setup_bytes = (sects + 1) * 512;
  std::vector<uint8_t> image(setup_bytes + spec.kernel_bytes);
  setup_header h{};
  h.setup_sects = spec.setup_sects;
  h.syssize = spec.kernel_bytes / 16;
  h.boot_flag = 0xaa55;
  h.jump = 0x6aeb;  // jmp to 0x26c: the header is 0x7b bytes long
  std::memcpy(&h.header, "HdrS", 4);
  h.version = spec.version;
  h.loadflags = LOADED_HIGH;
  h.code32_start = 0x100000;
  h.heap_end_ptr = 0x1234;
  h.initrd_addr_max = spec.initrd_addr_max;
  h.kernel_alignment = spec.kernel_alignment;
  h.relocatable_kernel = spec.relocatable ? 1 : 0;
  h.min_alignment = spec.min_alignment;
  h.xloadflags = spec.xloadflags;
  h.cmdline_size = spec.cmdline_size;
  h.pref_address = spec.pref_address;
  h.init_size = spec.init_size;
  std::memcpy(image.data() + 0x1f1, &h, sizeof(h));
  for (uint64_t i = 0; i < spec.kernel_bytes; ++i) {
    image[setup_bytes + i] = KernelByte(i);
  }
  return image;
}

std::vector<uint8_t> MakeElf(const std::vector<ElfSegment>& segments,
                             uint64_t entry) {
  Elf64_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS64;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_ident[EI_VERSION] = EV_CURRENT;
  eh.e_type = ET_EXEC;
  eh.e_machine = EM_X86_64;
  eh.e_version = EV_CURRENT;
  eh.e_entry = entry;
  eh.e_phoff = sizeof(Elf64_Ehdr);
  eh.e_ehsize = sizeof(Elf64_Ehdr);
  eh.e_phentsize = sizeof(Elf64_Phdr);
  eh.e_phnum = static_cast<uint16_t>(segments.size());
  std::vector<uint8_t> out(sizeof(eh) + segments.size() * sizeof(Elf64_Phdr));
  std::memcpy(out.data(), &eh, sizeof(eh));
  for (size_t i = 0; i < segments.size(); ++i) {
    const ElfSegment& s = segments[i];
    Elf64_Phdr ph{};
    ph.p_type = PT_LOAD;
    ph.p_flags = PF_R | PF_X;
    ph.p_offset = out.size();
    ph.p_vaddr = s.vaddr;
    ph.p_paddr = s.paddr;
    ph.p_filesz = s.data.size();
    ph.p_memsz = s.memsz;
    ph.p_align = 0x1000;
    std::memcpy(out.data() + sizeof(eh) + i * sizeof(ph), &ph, sizeof(ph));
    out.insert(out.end(), s.data.begin(), s.data.end());
  }
  return out;
}

std::string WriteTempFile(const std::string& name,
                          const std::vector<uint8_t>& contents) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = absl::StrCat(dir ? dir : "/tmp", "/", name);
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(contents.data()),
          static_cast<std::streamsize>(contents.size()));
  return path;
}

absl::StatusOr<std::string> CachedKernelPath() {
  const char* cache = std::getenv("MICROVM_CACHE");
  std::string path = absl::StrCat(
      cache && *cache ? cache : "/var/tmp/microvm-cache", "/kernel/vmlinuz");
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || st.st_size == 0) {
    return absl::NotFoundError(absl::StrCat(
        "the cached Debian kernel ", path,
        " is missing: run tools/setup.sh (it downloads Debian's cloud kernel "
        "into $MICROVM_CACHE, default /var/tmp/microvm-cache)"));
  }
  return path;
}

}  // namespace microvm::boot::testing
