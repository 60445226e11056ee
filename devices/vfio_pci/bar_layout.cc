// SPDX-License-Identifier: Apache-2.0
#include "devices/vfio_pci/bar_layout.h"

#include <algorithm>

namespace microvm::vfio_pci {

std::vector<BarRange> MmapPieces(uint64_t bar_size,
                                 absl::Span<const vfio::MmapArea> areas,
                                 absl::Span<const BarRange> trapped,
                                 uint64_t page_size) {
  const uint64_t mask = page_size - 1;
  // Trapped ranges grown to whole pages, sorted.
  std::vector<BarRange> holes;
  for (const BarRange& t : trapped) {
    if (t.size == 0 || t.offset >= bar_size) continue;
    const uint64_t start = t.offset & ~mask;
    const uint64_t end =
        std::min(bar_size, t.offset + std::min(t.size, bar_size - t.offset));
    // BAR sizes are powers of two, so a BAR of at least a page ends on a
    // page boundary and rounding up cannot wrap.
    const uint64_t end_up = (end + mask) & ~mask;
    holes.push_back({start, end_up - start});
  }
  std::sort(holes.begin(), holes.end(),
            [](const BarRange& a, const BarRange& b) {
              return a.offset < b.offset;
            });

  std::vector<BarRange> pieces;
  for (const vfio::MmapArea& area : areas) {
    if (area.offset >= bar_size || area.size == 0) continue;
    const uint64_t area_end =
        area.offset + std::min(area.size, bar_size - area.offset);
    uint64_t start = (area.offset + mask) & ~mask;
    const uint64_t end = area_end & ~mask;
    if (start < area.offset) continue;  // wrapped
    for (const BarRange& hole : holes) {
      if (start >= end) break;
      if (hole.end() <= start || hole.offset >= end) continue;
      if (hole.offset > start) pieces.push_back({start, hole.offset - start});
      start = std::max(start, hole.end());
    }
    if (start < end) pieces.push_back({start, end - start});
  }
  std::sort(pieces.begin(), pieces.end(),
            [](const BarRange& a, const BarRange& b) {
              return a.offset < b.offset;
            });
  return pieces;
}

}  // namespace microvm::vfio_pci
