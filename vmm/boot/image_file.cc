// SPDX-License-Identifier: Apache-2.0
#include "vmm/boot/image_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/status.h"

namespace microvm::boot {

absl::StatusOr<ImageFile> ImageFile::Open(const std::string& path,
                                          const std::string& what) {
  const std::string name = absl::StrCat(what, " ", path);
  if (path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": no file given; pass the path of the ", what));
  }
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    const int err = errno;
    const char* hint = err == ENOENT   ? "check the path"
                       : err == EACCES ? "make it readable (chmod a+r)"
                                       : "check the file";
    absl::Status s = ErrnoError(err, absl::StrCat(name, ": cannot open"));
    return absl::Status(s.code(), absl::StrCat(s.message(), "; ", hint));
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) {
    return LastErrnoError(absl::StrCat(name, ": cannot stat"));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": not a regular file; pass the ", what, " image file itself"));
  }
  if (st.st_size == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, ": the file is empty; pass a complete ", what, " image"));
  }
  return ImageFile(std::move(fd), path, what,
                   static_cast<uint64_t>(st.st_size));
}

absl::Status ImageFile::ReadAt(uint64_t offset, absl::Span<uint8_t> out) const {
  uint64_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(fd_.get(), out.data() + done, out.size() - done,
                              static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return LastErrnoError(
          absl::StrFormat("%s %s: reading %d bytes at offset %d", what_, path_,
                          out.size(), offset));
    }
    if (n == 0) {
      return absl::DataLossError(absl::StrFormat(
          "%s %s: file ended at %d bytes while reading %d bytes at offset %d "
          "(was it changed while loading?)",
          what_, path_, offset + done, out.size(), offset));
    }
    done += static_cast<uint64_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace microvm::boot
