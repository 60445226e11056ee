// SPDX-License-Identifier: Apache-2.0
#include "pci/bar_allocator.h"

#include <algorithm>
#include <numeric>
#include <optional>
#include <string>

#include "absl/strings/str_format.h"

namespace microvm::pci {
namespace {

class Window {
 public:
  Window(const char* name, uint64_t base, uint64_t size)
      : name_(name), base_(base), end_(base + size), next_(base) {}

  // Lowest free address aligned to `size`, or nullopt.
  std::optional<uint64_t> Take(uint64_t size) {
    if (size == 0 || end_ <= base_) return std::nullopt;
    const uint64_t at = (next_ + size - 1) & ~(size - 1);
    if (at < next_ || at >= end_ || size > end_ - at) return std::nullopt;
    next_ = at + size;
    return at;
  }

  std::string Describe() const {
    return absl::StrFormat("the %s window [0x%x, 0x%x) (0x%x bytes left)",
                           name_, base_, end_, end_ - next_);
  }

 private:
  const char* name_;
  uint64_t base_, end_, next_;
};

}  // namespace

absl::StatusOr<std::vector<uint64_t>> PlaceBars(
    const std::vector<BarRequest>& bars, const BarWindows& windows) {
  Window io("I/O", windows.io_base, windows.io_size);
  Window mmio32("32-bit MMIO", windows.mmio32_base, windows.mmio32_size);
  Window mmio64("64-bit MMIO", windows.mmio64_base, windows.mmio64_size);

  std::vector<size_t> order(bars.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return bars[a].size > bars[b].size;
  });

  std::vector<uint64_t> addresses(bars.size());
  for (size_t i : order) {
    const BarRequest& bar = bars[i];
    std::vector<Window*> tries;
    switch (bar.type) {
      case BarType::kIo:
        tries = {&io};
        break;
      case BarType::kMemory32:
        tries = {&mmio32};
        break;
      case BarType::kMemory64:
        if (bar.size >= windows.mmio64_min_bar) {
          tries = {&mmio64, &mmio32};
        } else {
          tries = {&mmio32, &mmio64};
        }
        break;
    }
    std::optional<uint64_t> at;
    for (Window* w : tries) {
      at = w->Take(bar.size);
      if (at) break;
    }
    if (!at) {
      std::string where;
      for (Window* w : tries) {
        where += (where.empty() ? "" : " nor ") + w->Describe();
      }
      return absl::ResourceExhaustedError(absl::StrFormat(
          "PCI %s BAR %d (%s, 0x%x bytes) does not fit in %s; give the VM "
          "bigger PCI windows (e.g. a 64-bit window above RAM) or fewer "
          "devices",
          bar.device.ToString(), bar.index, BarTypeName(bar.type), bar.size,
          where));
    }
    addresses[i] = *at;
  }
  return addresses;
}

}  // namespace microvm::pci
