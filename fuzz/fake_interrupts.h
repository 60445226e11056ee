// SPDX-License-Identifier: Apache-2.0
// An interrupt controller for fuzz targets, so device models run without
// KVM. Its MSI vectors remember whether they are enabled: triggering a
// disabled one (an irqfd that is not attached) is a device-model bug.
#ifndef MICROVM_FUZZ_FAKE_INTERRUPTS_H_
#define MICROVM_FUZZ_FAKE_INTERRUPTS_H_

#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "base/irq.h"
#include "fuzz/fuzz_input.h"

namespace microvm::fuzz {

class FakeInterrupts final : public InterruptController {
 public:
  absl::StatusOr<std::unique_ptr<IrqLine>> MakeIrqLine(uint32_t gsi) override {
    return std::make_unique<Line>(gsi);
  }
  absl::StatusOr<std::unique_ptr<MsiVector>> AllocateMsi() override {
    return std::make_unique<Vector>();
  }
  absl::StatusOr<std::unique_ptr<IrqfdBinding>> BindLevelIrqfd(
      uint32_t, int, int) override {
    return absl::UnimplementedError("no irqfd in the fuzz fake");
  }

 private:
  class Line final : public IrqLine {
   public:
    explicit Line(uint32_t gsi) : gsi_(gsi) {}
    void Set(bool) override {}
    uint32_t gsi() const override { return gsi_; }

   private:
    uint32_t gsi_;
  };
  class Vector final : public MsiVector {
   public:
    absl::Status SetMessage(uint64_t, uint32_t) override {
      return absl::OkStatus();
    }
    absl::Status SetEnabled(bool enabled) override {
      enabled_ = enabled;
      return absl::OkStatus();
    }
    void Trigger() override { FUZZ_CHECK(enabled_); }
    int trigger_fd() const override { return -1; }

   private:
    bool enabled_ = false;
  };
};

}  // namespace microvm::fuzz

#endif  // MICROVM_FUZZ_FAKE_INTERRUPTS_H_
