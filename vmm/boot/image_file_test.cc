// SPDX-License-Identifier: Apache-2.0
#include "vmm/boot/image_file.h"

#include <sys/stat.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "vmm/boot/test_images.h"

namespace microvm::boot {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(ImageFileTest, ReadsWholeFile) {
  std::string path = testing::WriteTempFile("k", {1, 2, 3});
  absl::StatusOr<ImageFile> f = ImageFile::Open(path, "kernel");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->size(), 3u);
  uint8_t all[3];
  ASSERT_TRUE(f->ReadAt(0, absl::MakeSpan(all)).ok());
  EXPECT_THAT(all, ::testing::ElementsAre(1, 2, 3));
  uint8_t b[2];
  EXPECT_TRUE(f->ReadAt(1, absl::MakeSpan(b)).ok());
  EXPECT_EQ(b[1], 3);
  absl::Status s = f->ReadAt(2, absl::MakeSpan(b));
  EXPECT_THAT(s.message(), HasSubstr("file ended at 3 bytes"));
}

TEST(ImageFileTest, MissingFile) {
  absl::StatusOr<ImageFile> f =
      ImageFile::Open("/nonexistent/vmlinuz", "kernel");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(f.status().message()),
              StartsWith("kernel /nonexistent/vmlinuz: "));
  EXPECT_THAT(f.status().message(), HasSubstr("check the path"));
}

TEST(ImageFileTest, EmptyFile) {
  std::string path = testing::WriteTempFile("empty", {});
  absl::StatusOr<ImageFile> f = ImageFile::Open(path, "initrd");
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(std::string(f.status().message()), StartsWith("initrd " + path));
  EXPECT_THAT(f.status().message(), HasSubstr("empty"));
}

TEST(ImageFileTest, Directory) {
  absl::StatusOr<ImageFile> f = ImageFile::Open("/", "kernel");
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(f.status().message(), HasSubstr("not a regular file"));
}

TEST(ImageFileTest, NoPath) {
  absl::StatusOr<ImageFile> f = ImageFile::Open("", "kernel");
  ASSERT_FALSE(f.ok());
  EXPECT_THAT(f.status().message(), HasSubstr("no file given"));
}

TEST(ImageFileTest, Unreadable) {
  if (::geteuid() == 0) {
    // root reads any file; check the message path with a file that cannot
    // be opened for another reason instead.
    absl::StatusOr<ImageFile> f = ImageFile::Open("/proc/self/mem/x", "kernel");
    ASSERT_FALSE(f.ok());
    EXPECT_THAT(f.status().message(), HasSubstr("cannot open"));
    return;
  }
  std::string path = testing::WriteTempFile("secret", {1});
  ASSERT_EQ(::chmod(path.c_str(), 0), 0);
  absl::StatusOr<ImageFile> f = ImageFile::Open(path, "kernel");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(f.status().message(), HasSubstr("chmod a+r"));
}

}  // namespace
}  // namespace microvm::boot
