// SPDX-License-Identifier: Apache-2.0
// Fakes for pci/ unit tests: an interrupt controller that records lines.
#ifndef MICROVM_PCI_TESTING_H_
#define MICROVM_PCI_TESTING_H_

#include <map>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "base/irq.h"

namespace microvm::pci::testing {

class FakeIrqLine final : public IrqLine {
 public:
  explicit FakeIrqLine(uint32_t gsi) : gsi_(gsi) {}
  void Set(bool high) override {
    high_ = high;
    ++sets_;
  }
  uint32_t gsi() const override { return gsi_; }
  bool high() const { return high_; }
  int sets() const { return sets_; }

 private:
  uint32_t gsi_;
  bool high_ = false;
  int sets_ = 0;
};

// Hands out FakeIrqLines and keeps a pointer to each, by GSI. MSI is not
// used by pci/ itself.
class FakeInterruptController final : public InterruptController {
 public:
  absl::StatusOr<std::unique_ptr<IrqLine>> MakeIrqLine(uint32_t gsi) override {
    auto line = std::make_unique<FakeIrqLine>(gsi);
    lines[gsi].push_back(line.get());
    return line;
  }
  absl::StatusOr<std::unique_ptr<MsiVector>> AllocateMsi() override {
    return absl::UnimplementedError("no MSI in this fake");
  }
  absl::StatusOr<std::unique_ptr<IrqfdBinding>> BindLevelIrqfd(
      uint32_t, int, int) override {
    return absl::UnimplementedError("no irqfd in this fake");
  }
  std::map<uint32_t, std::vector<FakeIrqLine*>> lines;
};

}  // namespace microvm::pci::testing

#endif  // MICROVM_PCI_TESTING_H_
