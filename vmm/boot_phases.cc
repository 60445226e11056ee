// SPDX-License-Identifier: Apache-2.0
#include "vmm/boot_phases.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "base/status.h"

namespace microvm {

void BootPhases::Mark(absl::string_view name, Clock::time_point at) {
  // A clock read before the last mark counts as no time.
  const absl::Duration took =
      at > last_ ? absl::FromChrono(at - last_) : absl::ZeroDuration();
  if (at > last_) last_ = at;
  phases_.push_back({std::string(name), took});
}

std::string BootPhases::Describe() const {
  if (phases_.empty()) return "";
  std::string out = "set-up:";
  for (size_t i = 0; i < phases_.size(); ++i) {
    absl::StrAppend(&out, i == 0 ? " " : ", ", phases_[i].name, " ",
                    absl::StrFormat("%.3f ms", absl::ToDoubleMilliseconds(
                                                   phases_[i].took)));
  }
  return out;
}

absl::StatusOr<absl::Duration> TimeBeforeMain(BootPhases::Clock::time_point main_start) {
  constexpr char kPath[] = "/proc/self/schedstat";
  const int fd = open(kPath, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoError(errno, absl::StrCat("cannot open ", kPath));
  char buf[128];
  const ssize_t n = read(fd, buf, sizeof(buf) - 1);
  const int read_errno = errno;
  close(fd);
  const BootPhases::Clock::time_point now = BootPhases::Clock::now();
  if (n < 0) return ErrnoError(read_errno, absl::StrCat("cannot read ", kPath));
  // "<ns on a CPU> <ns waiting for one> <times run>"
  std::vector<absl::string_view> f =
      absl::StrSplit(absl::string_view(buf, static_cast<size_t>(n)), ' ', absl::SkipWhitespace());
  uint64_t on_cpu = 0, waiting = 0;
  if (f.size() < 2 || !absl::SimpleAtoi(f[0], &on_cpu) || !absl::SimpleAtoi(f[1], &waiting)) {
    return absl::InternalError(absl::StrCat("unexpected ", kPath, ": ",
                                            absl::string_view(buf, static_cast<size_t>(n))));
  }
  const absl::Duration since_fork = absl::Nanoseconds(on_cpu) + absl::Nanoseconds(waiting);
  const absl::Duration since_main = absl::FromChrono(now - main_start);
  return since_fork > since_main ? since_fork - since_main : absl::ZeroDuration();
}

}  // namespace microvm
