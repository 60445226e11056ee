// SPDX-License-Identifier: Apache-2.0
#include "vmm/boot/elf.h"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status.h"
#include "memory/layout.h"

namespace microvm::boot {
namespace {

// Boot data the VMM writes below here (GDT, zero page, page tables, command
// line); a segment there would be overwritten or would overwrite it.
constexpr uint64_t kBootDataEnd = layout::kCmdlineAddr + layout::kCmdlineMax;
// Linux x86 COMMAND_LINE_SIZE (asm/setup.h) is 2048 with the NUL; a vmlinux
// carries no cmdline_size, so assume that.
constexpr uint64_t kElfCmdlineMax = 2047;
// What a bzImage declares and what the kernel assumes without one.
constexpr uint64_t kElfInitrdAddrMax = 0x7fffffff;
constexpr uint16_t kBootFlag = 0xaa55;
constexpr uint32_t kHdrSMagic = 0x53726448;  // "HdrS"
constexpr uint8_t kLoaderTypeUndefined = 0xff;

// "ELF <what>; <todo>", by default saying what microvm can load.
absl::Status NotLoadable(const std::string& what,
                         const std::string& todo =
                             "microvm boots x86-64 ELF64 executables "
                             "(ET_EXEC) linked at fixed physical addresses") {
  return absl::InvalidArgumentError(absl::StrCat("ELF ", what, "; ", todo));
}

bool Overlaps(uint64_t a, uint64_t a_end, uint64_t b, uint64_t b_end) {
  return a < b_end && b < a_end;
}

// `image`: the file's first bytes (up to sizeof(Elf64_Ehdr)); `file_size`:
// the whole file's.
absl::StatusOr<Elf64_Ehdr> CheckHeader(absl::Span<const uint8_t> image,
                                       uint64_t file_size) {
  if (image.size() < EI_NIDENT) {
    return absl::InvalidArgumentError(
        "ELF file is truncated: shorter than the ELF identification; copy "
        "the whole file again");
  }
  if (image[EI_CLASS] == ELFCLASS32) {
    return NotLoadable("file is 32-bit (ELFCLASS32)",
                       "build it for x86_64 (ELFCLASS64)");
  }
  if (image[EI_CLASS] != ELFCLASS64) {
    return NotLoadable(
        absl::StrFormat("file has an unknown class %d", image[EI_CLASS]));
  }
  if (image.size() < sizeof(Elf64_Ehdr)) {
    return absl::InvalidArgumentError(
        "ELF file is truncated: shorter than its ELF header; copy the whole "
        "file again");
  }
  Elf64_Ehdr eh;
  std::memcpy(&eh, image.data(), sizeof(eh));
  if (eh.e_ident[EI_DATA] != ELFDATA2LSB) {
    return NotLoadable("file is not little-endian");
  }
  if (eh.e_ident[EI_VERSION] != EV_CURRENT || eh.e_version != EV_CURRENT) {
    return NotLoadable("file has an unknown ELF version");
  }
  if (eh.e_machine != EM_X86_64) {
    return NotLoadable(
        absl::StrFormat("file is built for machine %d, not x86-64 (%d)",
                        eh.e_machine, EM_X86_64));
  }
  if (eh.e_type != ET_EXEC) {
    return NotLoadable(
        absl::StrFormat("file has type %d, not an executable (ET_EXEC)",
                        eh.e_type),
        "link it with -static -no-pie at a fixed address");
  }
  if (eh.e_phnum == 0 || eh.e_phentsize != sizeof(Elf64_Phdr)) {
    return NotLoadable(absl::StrFormat(
        "file has %d program headers of %d bytes (need at least one of %d)",
        eh.e_phnum, eh.e_phentsize, sizeof(Elf64_Phdr)));
  }
  if (eh.e_phoff > file_size ||
      uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr) > file_size - eh.e_phoff) {
    return absl::InvalidArgumentError(
        "ELF file is truncated: its program headers lie beyond the end of "
        "the file; copy the whole file again");
  }
  return eh;
}

absl::Status CheckSegment(const GuestMemory& mem, size_t file_size, int index,
                          const Elf64_Phdr& ph) {
  const uint64_t paddr = ph.p_paddr;
  if (ph.p_filesz > ph.p_memsz) {
    return NotLoadable(
        absl::StrFormat("segment %d has filesz 0x%x larger than memsz 0x%x",
                        index, ph.p_filesz, ph.p_memsz));
  }
  if (ph.p_offset > file_size || ph.p_filesz > file_size - ph.p_offset) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "ELF file is truncated: segment %d needs bytes up to offset 0x%x but "
        "the file has 0x%x; copy the whole file again",
        index, ph.p_offset + ph.p_filesz, file_size));
  }
  if (ph.p_memsz > UINT64_MAX - paddr) {
    return NotLoadable(
        absl::StrFormat("segment %d wraps around the address space", index));
  }
  const uint64_t end = paddr + ph.p_memsz;
  if (Overlaps(paddr, end, 0, kBootDataEnd) ||
      Overlaps(paddr, end, layout::kEbdaStart, layout::kIsaHoleEnd)) {
    return NotLoadable(
        absl::StrFormat("segment %d at [0x%x, 0x%x) overlaps the VMM's boot "
                        "data (zero page, page tables, command line below "
                        "0x%x; EBDA/MP tables and ISA hole [0x%x, 0x%x))",
                        index, paddr, end, kBootDataEnd, layout::kEbdaStart,
                        layout::kIsaHoleEnd),
        absl::StrFormat("link it at 0x%x or above", layout::kIsaHoleEnd));
  }
  if (!mem.HostAddress(paddr, ph.p_memsz).ok()) {
    return absl::OutOfRangeError(absl::StrFormat(
        "ELF segment %d at [0x%x, 0x%x) is not inside guest RAM (%d MiB, "
        "low part ending at 0x%x); give the guest more RAM or link it lower",
        index, paddr, end, mem.ram_bytes() / layout::kMiB,
        mem.regions().empty() ? 0 : mem.regions()[0].size));
  }
  return absl::OkStatus();
}

absl::StatusOr<uint64_t> EntryPoint(const Elf64_Ehdr& eh,
                                    const std::vector<Elf64_Phdr>& loads) {
  const uint64_t e = eh.e_entry;
  for (const Elf64_Phdr& ph : loads) {
    if (e >= ph.p_paddr && e - ph.p_paddr < ph.p_memsz) return e;
  }
  for (const Elf64_Phdr& ph : loads) {
    if (e >= ph.p_vaddr && e - ph.p_vaddr < ph.p_memsz) {
      return ph.p_paddr + (e - ph.p_vaddr);
    }
  }
  return NotLoadable(absl::StrFormat(
      "entry point 0x%x is in no loaded segment, neither as a physical nor "
      "as a virtual address",
      e));
}

}  // namespace

bool IsElf(absl::Span<const uint8_t> image) {
  return image.size() >= SELFMAG &&
         std::memcmp(image.data(), ELFMAG, SELFMAG) == 0;
}

absl::StatusOr<KernelImage> LoadElf(const GuestMemory& mem,
                                    absl::Span<const uint8_t> image,
                                    boot_params& zero_page) {
  return LoadElf(
      mem, image.size(),
      [image](uint64_t offset, absl::Span<uint8_t> out) {
        // LoadElf checked every range against image.size(); an empty
        // image has no data() to copy from.
        if (!out.empty()) {
          std::memcpy(out.data(), image.data() + offset, out.size());
        }
        return absl::OkStatus();
      },
      zero_page);
}

absl::StatusOr<KernelImage> LoadElf(const GuestMemory& mem, uint64_t file_size,
                                    ImageReader read, boot_params& zero_page) {
  std::vector<uint8_t> head(std::min<uint64_t>(file_size, sizeof(Elf64_Ehdr)));
  MVM_RETURN_IF_ERROR(read(0, absl::MakeSpan(head)));
  if (!IsElf(head)) {
    return absl::InvalidArgumentError(
        "not an ELF file: no \\x7fELF magic; pass an ELF64 executable");
  }
  MVM_ASSIGN_OR_RETURN(Elf64_Ehdr eh, CheckHeader(head, file_size));
  std::vector<Elf64_Phdr> headers(eh.e_phnum);
  MVM_RETURN_IF_ERROR(read(
      eh.e_phoff, absl::MakeSpan(reinterpret_cast<uint8_t*>(headers.data()),
                                 headers.size() * sizeof(Elf64_Phdr))));

  // Validate everything before writing anything into guest memory.
  std::vector<Elf64_Phdr> loads;
  for (int i = 0; i < eh.e_phnum; ++i) {
    const Elf64_Phdr& ph = headers[i];
    if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
    MVM_RETURN_IF_ERROR(CheckSegment(mem, file_size, i, ph));
    loads.push_back(ph);
  }
  if (loads.empty()) return NotLoadable("file has no PT_LOAD segment");
  MVM_ASSIGN_OR_RETURN(uint64_t entry, EntryPoint(eh, loads));

  KernelImage k;
  k.format = "ELF";
  k.entry_rip = entry;
  k.begin = UINT64_MAX;
  for (const Elf64_Phdr& ph : loads) {
    MVM_ASSIGN_OR_RETURN(uint8_t * host,
                         mem.HostAddress(ph.p_paddr, ph.p_memsz));
    MVM_RETURN_IF_ERROR(read(ph.p_offset, absl::MakeSpan(host, ph.p_filesz)));
    std::memset(host + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
    k.begin = std::min<uint64_t>(k.begin, ph.p_paddr);
    k.end = std::max<uint64_t>(k.end, ph.p_paddr + ph.p_memsz);
  }
  k.initrd_addr_max = kElfInitrdAddrMax;
  k.cmdline_max = kElfCmdlineMax;

  // No setup header in the file: write the fields Linux reads on the 64-bit
  // entry path (boot.rst, zero-page.rst).
  setup_header& h = zero_page.hdr;
  h.boot_flag = kBootFlag;
  h.header = kHdrSMagic;
  h.type_of_loader = kLoaderTypeUndefined;
  h.cmdline_size = static_cast<uint32_t>(kElfCmdlineMax);
  h.initrd_addr_max = static_cast<uint32_t>(kElfInitrdAddrMax);
  return k;
}

}  // namespace microvm::boot
