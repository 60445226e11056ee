// SPDX-License-Identifier: Apache-2.0
#include "devices/power.h"

#include <utility>

namespace microvm {

SleepControl::SleepControl(std::function<void()> on_poweroff)
    : on_poweroff_(std::move(on_poweroff)) {}

void SleepControl::Read(uint64_t, absl::Span<uint8_t> data) {
  // Sleep status register: WAK_STS (bit 7) clear, the rest reserved (0).
  for (auto& b : data) b = 0;
}

void SleepControl::Write(uint64_t offset, absl::Span<const uint8_t> data) {
  if (offset != 0 || data.size() != 1) return;
  uint8_t value = data[0];
  if ((value & kSleepEnable) == 0) return;
  uint8_t type = (value & kSleepTypeMask) >> kSleepTypeShift;
  if (type == kS5SleepType && on_poweroff_) on_poweroff_();
}

}  // namespace microvm
