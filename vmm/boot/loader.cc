// SPDX-License-Identifier: Apache-2.0
#include "vmm/boot/loader.h"

#include <asm/bootparam.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "memory/layout.h"
#include "vmm/boot/bzimage.h"
#include "vmm/boot/elf.h"
#include "vmm/boot/image_file.h"
#include "vmm/boot/zero_page.h"

namespace microvm::boot {
namespace {

// `opened` if given, else the file at `path`.
absl::StatusOr<const ImageFile*> OpenImage(const ImageFile* opened,
                                           const std::string& path,
                                           const std::string& what,
                                           std::optional<ImageFile>& storage) {
  if (opened != nullptr) return opened;
  MVM_ASSIGN_OR_RETURN(storage, ImageFile::Open(path, what));
  return &*storage;
}

absl::StatusOr<KernelImage> LoadKernelFile(const GuestMemory& mem,
                                           const ImageFile& file,
                                           boot_params& zero_page) {
  const std::string& path = file.path();
  // The start of the file tells the format and holds a bzImage's header.
  std::vector<uint8_t> head(std::min(file.size(), kBzImageHeadBytes));
  MVM_RETURN_IF_ERROR(file.ReadAt(0, absl::MakeSpan(head)));
  const std::string name = absl::StrCat("kernel ", path);
  absl::StatusOr<KernelImage> kernel;
  // Either is read straight into guest RAM, segment by segment or the
  // protected-mode kernel, nearly all of the file.
  absl::Status read_error;
  auto read = [&](uint64_t offset, absl::Span<uint8_t> out) {
    read_error = file.ReadAt(offset, out);
    return read_error;
  };
  if (IsElf(head)) {
    kernel = LoadElf(mem, file.size(), read, zero_page);
  } else if (IsBzImage(head)) {
    kernel = LoadBzImage(mem, head, file.size(), read, zero_page);
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        name,
        ": not a kernel (neither ELF magic nor a bzImage \"HdrS\" "
        "header at 0x202); pass a Linux bzImage, a vmlinux or an ELF64 "
        "guest"));
  }
  // A read error names the file already.
  if (!read_error.ok()) return read_error;
  if (!kernel.ok()) return Annotate(kernel.status(), name);
  return kernel;
}

absl::Status LoadInitrd(const GuestMemory& mem, const ImageFile& file,
                        const KernelImage& kernel, boot_params& zero_page) {
  const std::string& path = file.path();
  absl::StatusOr<uint64_t> gpa = PlaceInitrd(mem, file.size(), kernel);
  if (!gpa.ok()) {
    return Annotate(gpa.status(), absl::StrCat("initrd ", path));
  }
  // Read straight into guest RAM: initrds can be hundreds of MiB.
  MVM_ASSIGN_OR_RETURN(uint8_t * host, mem.HostAddress(*gpa, file.size()));
  MVM_RETURN_IF_ERROR(file.ReadAt(0, absl::MakeSpan(host, file.size())));
  SetRamdisk(*gpa, file.size(), zero_page);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<BootInfo> LoadKernel(const GuestMemory& mem,
                                    const LoadOptions& options) {
  boot_params zero_page{};
  std::optional<ImageFile> kernel_storage;
  MVM_ASSIGN_OR_RETURN(const ImageFile* kernel_file,
                       OpenImage(options.kernel_file, options.kernel_path,
                                 "kernel", kernel_storage));
  MVM_ASSIGN_OR_RETURN(KernelImage kernel,
                       LoadKernelFile(mem, *kernel_file, zero_page));
  if (options.initrd_file != nullptr || !options.initrd_path.empty()) {
    std::optional<ImageFile> initrd_storage;
    MVM_ASSIGN_OR_RETURN(const ImageFile* initrd_file,
                         OpenImage(options.initrd_file, options.initrd_path,
                                   "initrd", initrd_storage));
    MVM_RETURN_IF_ERROR(LoadInitrd(mem, *initrd_file, kernel, zero_page));
  }
  MVM_RETURN_IF_ERROR(
      WriteCmdline(mem, options.cmdline, kernel.cmdline_max, zero_page));
  MVM_RETURN_IF_ERROR(SetE820(mem, zero_page));
  MVM_RETURN_IF_ERROR(
      Annotate(mem.WriteObject(layout::kZeroPageAddr, zero_page),
               "writing the zero page"));
  MVM_RETURN_IF_ERROR(WriteMpTable(mem, {options.cpus, options.pci_intx}));

  BootInfo info;
  info.entry_rip = kernel.entry_rip;
  info.zero_page_gpa = layout::kZeroPageAddr;
  info.format = kernel.format;
  return info;
}

}  // namespace microvm::boot
