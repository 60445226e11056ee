// SPDX-License-Identifier: Apache-2.0
#include "devices/boot_timer.h"

#include <string>
#include <utility>

#include "absl/strings/str_format.h"

namespace microvm {

BootTimer::BootTimer(Clock::time_point start, Report report)
    : start_(start), report_(std::move(report)) {}

void BootTimer::Read(uint64_t, absl::Span<uint8_t> data) {
  for (auto& b : data) b = 0;
}

void BootTimer::Write(uint64_t, absl::Span<const uint8_t> data) {
  if (data.empty()) return;
  absl::Duration since = absl::FromChrono(Clock::now() - start_);
  int n = reports_.fetch_add(1, std::memory_order_relaxed);
  if (n >= kMaxReports) return;
  if (report_) report_(data[0], since, n == kMaxReports - 1);
}

std::string BootTimer::Describe(uint8_t marker, absl::Duration since_start,
                                bool suppressed_after) {
  return absl::StrFormat(
      "boot timer: guest marker %u%s at %.3f ms after microvm started%s",
      marker, marker == kInitMarker ? " (init)" : "",
      absl::ToDoubleMilliseconds(since_start),
      suppressed_after ? "; further markers are ignored" : "");
}

}  // namespace microvm
