// SPDX-License-Identifier: Apache-2.0
// Reading the files a guest boots from (kernel, initrd), with errors that
// name the file, say what is wrong with it and what to do.
#ifndef MICROVM_VMM_BOOT_IMAGE_FILE_H_
#define MICROVM_VMM_BOOT_IMAGE_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "base/unique_fd.h"

namespace microvm::boot {

// A regular, non-empty file opened for reading. `what` ("kernel", "initrd")
// starts every error message: "kernel /path: ...".
class ImageFile {
 public:
  static absl::StatusOr<ImageFile> Open(const std::string& path,
                                        const std::string& what);

  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }

  // Reads exactly out.size() bytes at `offset`; a short read (the file
  // shrank under us) is an error.
  absl::Status ReadAt(uint64_t offset, absl::Span<uint8_t> out) const;

 private:
  ImageFile(UniqueFd fd, std::string path, std::string what, uint64_t size)
      : fd_(std::move(fd)),
        path_(std::move(path)),
        what_(std::move(what)),
        size_(size) {}

  UniqueFd fd_;
  std::string path_;
  std::string what_;
  uint64_t size_;
};

}  // namespace microvm::boot

#endif  // MICROVM_VMM_BOOT_IMAGE_FILE_H_
