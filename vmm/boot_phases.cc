// SPDX-License-Identifier: Apache-2.0
#include "vmm/boot_phases.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

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

}  // namespace microvm
