// SPDX-License-Identifier: Apache-2.0
#include "vmm/legacy_devices.h"

#include "base/status.h"
#include "devices/console_input.h"
#include "devices/console_output.h"
#include "devices/i8042.h"
#include "devices/power.h"
#include "devices/serial.h"

namespace microvm {

LegacyDevices::~LegacyDevices() = default;

void LegacyDevices::PressPowerButton() { power_button_->Press(); }

absl::StatusOr<std::unique_ptr<LegacyDevices>> LegacyDevices::Create(
    Vm& vm, EventLoop& loop, Options options) {
  std::unique_ptr<LegacyDevices> d(new LegacyDevices());
  Bus& pio = vm.pio_bus();
  InterruptController& irqs = vm.interrupts();

  MVM_ASSIGN_OR_RETURN(d->com1_irq_, irqs.MakeIrqLine(Serial::kCom1Irq));
  MVM_ASSIGN_OR_RETURN(d->console_out_,
                       ConsoleOutput::Create(&loop, options.console_out_fd));
  d->com1_ = std::make_shared<Serial>(
      d->com1_irq_.get(),
      [out = d->console_out_.get()](absl::Span<const uint8_t> data) {
        out->Write(data);
      });
  MVM_RETURN_IF_ERROR(pio.Register(Serial::kCom1Port, Serial::kPortCount,
                                   d->com1_, "COM1"));
  if (options.console_in_fd >= 0) {
    MVM_ASSIGN_OR_RETURN(d->console_,
                         ConsoleInput::Create(&loop, options.console_in_fd,
                                              d->com1_.get()));
  }

  MVM_ASSIGN_OR_RETURN(d->kbd_irq_, irqs.MakeIrqLine(I8042::kKeyboardIrq));
  MVM_ASSIGN_OR_RETURN(d->aux_irq_, irqs.MakeIrqLine(I8042::kAuxIrq));
  MVM_RETURN_IF_ERROR(pio.Register(
      I8042::kBasePort, I8042::kPortCount,
      std::make_shared<I8042>(std::move(options.on_reset), d->kbd_irq_.get(),
                              d->aux_irq_.get()),
      "i8042"));
  MVM_RETURN_IF_ERROR(pio.Register(
      SleepControl::kPort, SleepControl::kPortCount,
      std::make_shared<SleepControl>(std::move(options.on_poweroff)),
      "ACPI sleep control"));
  MVM_ASSIGN_OR_RETURN(d->power_button_irq_,
                       irqs.MakeIrqLine(PowerButton::kGsi));
  d->power_button_ = std::make_unique<PowerButton>(d->power_button_irq_.get());
  return d;
}

}  // namespace microvm
