// SPDX-License-Identifier: Apache-2.0
// Which parts of a passed-through BAR go straight into the guest (a KVM
// memslot over the VFIO region's mmap, no exits) and which trap. Pure logic.
//
// A part is mapped when it lies in an mmappable area of the region (VFIO's
// sparse-mmap list, else the whole region) and in none of the pages that
// hold what the VMM must see (the MSI-X table and PBA, which it emulates).
// Memslots are page-granular, so areas shrink inward to page boundaries
// and trapped ranges grow outward (QEMU hw/vfio/pci.c does the same around
// the MSI-X table: vfio_pci_fixup_msix_region).
#ifndef MICROVM_DEVICES_VFIO_PCI_BAR_LAYOUT_H_
#define MICROVM_DEVICES_VFIO_PCI_BAR_LAYOUT_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"
#include "devices/vfio/info.h"

namespace microvm::vfio_pci {

// [offset, offset+size) within a BAR.
struct BarRange {
  uint64_t offset = 0;
  uint64_t size = 0;
  uint64_t end() const { return offset + size; }
  bool Contains(uint64_t at, uint64_t len) const {
    return at >= offset && len <= size && at - offset <= size - len;
  }
  bool operator==(const BarRange&) const = default;
};

// The page-aligned pieces of a `bar_size`-byte BAR to map, in offset
// order, each inside a single one of `areas` (so each is one mmap).
// `trapped` ranges (may be empty or overlap) are excluded with their
// pages. `page_size` is a power of two.
std::vector<BarRange> MmapPieces(uint64_t bar_size,
                                 absl::Span<const vfio::MmapArea> areas,
                                 absl::Span<const BarRange> trapped,
                                 uint64_t page_size);

}  // namespace microvm::vfio_pci

#endif  // MICROVM_DEVICES_VFIO_PCI_BAR_LAYOUT_H_
