// SPDX-License-Identifier: Apache-2.0
// The PC legacy devices every microvm guest gets: COM1, the i8042 (for the
// reset line), the ACPI sleep control register (power-off) and the ACPI
// power button's interrupt line. The PIT and
// the speaker port 0x61 are KVM's (KVM_CREATE_PIT2).
#ifndef MICROVM_VMM_LEGACY_DEVICES_H_
#define MICROVM_VMM_LEGACY_DEVICES_H_

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "base/event_loop.h"
#include "base/irq.h"
#include "vmm/vm.h"

namespace microvm {

class Serial;
class PowerButton;
class ConsoleInput;
class ConsoleOutput;

class LegacyDevices {
 public:
  struct Options {
    int console_out_fd = -1;
    int console_in_fd = -1;  // < 0: no console input
    std::function<void()> on_poweroff;
    std::function<void()> on_reset;
  };

  // Creates the devices and registers them on `vm`'s PIO bus; console input
  // is watched through `loop`.
  static absl::StatusOr<std::unique_ptr<LegacyDevices>> Create(
      Vm& vm, EventLoop& loop, Options options);
  ~LegacyDevices();

  // One press of the guest's ACPI power button (devices/power.h).
  void PressPowerButton();

 private:
  LegacyDevices() = default;
  std::unique_ptr<IrqLine> com1_irq_;
  // Before com1_: the serial writes to it until the vCPUs are gone.
  std::unique_ptr<ConsoleOutput> console_out_;
  std::unique_ptr<IrqLine> kbd_irq_;
  std::unique_ptr<IrqLine> aux_irq_;
  std::unique_ptr<IrqLine> power_button_irq_;
  std::unique_ptr<PowerButton> power_button_;
  std::shared_ptr<Serial> com1_;
  std::unique_ptr<ConsoleInput> console_;
};

}  // namespace microvm

#endif  // MICROVM_VMM_LEGACY_DEVICES_H_
