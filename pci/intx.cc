// SPDX-License-Identifier: Apache-2.0
#include "pci/intx.h"

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace microvm::pci {

struct SharedIrqLine::State {
  explicit State(std::unique_ptr<IrqLine> l) : line(std::move(l)) {}
  // Held across IrqLine::Set so the line follows the count in order.
  absl::Mutex mu;
  std::unique_ptr<IrqLine> line;
  uint32_t asserted ABSL_GUARDED_BY(mu) = 0;  // sources driving high
};

class SharedIrqLine::Source final : public IrqLine {
 public:
  explicit Source(std::shared_ptr<State> state) : state_(std::move(state)) {}
  ~Source() override { Set(false); }

  void Set(bool high) override {
    absl::MutexLock lock(&state_->mu);
    if (high == high_) return;
    high_ = high;
    if (high) {
      if (state_->asserted++ == 0) state_->line->Set(true);
    } else {
      if (--state_->asserted == 0) state_->line->Set(false);
    }
  }
  uint32_t gsi() const override { return state_->line->gsi(); }

 private:
  std::shared_ptr<State> state_;
  bool high_ = false;  // guarded by state_->mu
};

SharedIrqLine::SharedIrqLine(std::unique_ptr<IrqLine> line)
    : state_(std::make_shared<State>(std::move(line))) {}

std::unique_ptr<IrqLine> SharedIrqLine::NewSource() {
  return std::make_unique<Source>(state_);
}

uint32_t SharedIrqLine::gsi() const { return state_->line->gsi(); }

}  // namespace microvm::pci
