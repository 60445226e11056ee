// SPDX-License-Identifier: Apache-2.0
// Firmware-style BAR placement, as pure logic: given every BAR's type and
// size, pick addresses in the windows the VMM reserved for PCI. PciRoot's
// AssignBars() sizes the BARs through config space and programs the result.
#ifndef MICROVM_PCI_BAR_ALLOCATOR_H_
#define MICROVM_PCI_BAR_ALLOCATOR_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "memory/layout.h"
#include "pci/pci_device.h"
#include "pci/pci_header.h"

namespace microvm::pci {

// Address windows for BARs. The caller keeps them clear of RAM and other
// MMIO and describes them to the guest (ACPI _CRS).
struct BarWindows {
  uint64_t io_base = 0xc000;
  uint64_t io_size = 0x4000;
  uint64_t mmio32_base = layout::kMmio32Start;
  uint64_t mmio32_size = layout::kMmio32Size;
  // Above RAM; size 0 means no 64-bit window.
  uint64_t mmio64_base = 0;
  uint64_t mmio64_size = 0;
  // 64-bit BARs at least this big go to the 64-bit window first; smaller
  // ones (and any that do not fit there) go below 4 GiB.
  uint64_t mmio64_min_bar = 64 * layout::kMiB;
};

struct BarRequest {
  PciAddress device;
  int index = 0;
  BarType type = BarType::kMemory32;
  uint64_t size = 0;  // a power of two
};

// One address per request, in request order. Largest BARs are placed first
// so that aligning each to its size wastes nothing. Fails, naming the BAR
// and the space left, if one does not fit.
absl::StatusOr<std::vector<uint64_t>> PlaceBars(
    const std::vector<BarRequest>& bars, const BarWindows& windows);

}  // namespace microvm::pci

#endif  // MICROVM_PCI_BAR_ALLOCATOR_H_
