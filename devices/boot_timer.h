// SPDX-License-Identifier: Apache-2.0
// Boot timer: the guest marks a boot milestone by writing one byte to an MMIO
// page (layout::kBootTimerAddr); microvm reports when that happened, measured
// from its own start, so start-to-init is timed by the VMM and not by
// whoever reads the console. Firecracker's boot timer works the same way
// (its guest init writes 123), so the numbers compare with its published
// ones; kInitMarker is that value.
//
// A write of any size at any offset reports its first byte. A guest that
// keeps writing gets kMaxReports reports and then silence: it cannot flood
// the VMM's stderr. Reads return zeros.
#ifndef MICROVM_DEVICES_BOOT_TIMER_H_
#define MICROVM_DEVICES_BOOT_TIMER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>

#include "absl/time/time.h"
#include "absl/types/span.h"
#include "base/bus.h"

namespace microvm {

class BootTimer final : public BusDevice {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr uint8_t kInitMarker = 123;
  static constexpr int kMaxReports = 16;

  // `report(marker, since_start, suppressed_after)` runs on the writing vCPU
  // thread; `suppressed_after` is true for the last report a guest gets.
  using Report = std::function<void(uint8_t marker, absl::Duration since_start,
                                    bool suppressed_after)>;
  BootTimer(Clock::time_point start, Report report);

  void Read(uint64_t offset, absl::Span<uint8_t> data) override;
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override;

  // Text of one report line (without the "microvm: " prefix).
  static std::string Describe(uint8_t marker, absl::Duration since_start,
                              bool suppressed_after);

 private:
  const Clock::time_point start_;
  const Report report_;
  std::atomic<int> reports_{0};
};

}  // namespace microvm

#endif  // MICROVM_DEVICES_BOOT_TIMER_H_
