// SPDX-License-Identifier: Apache-2.0
// The ACPI hardware-reduced sleep registers (ACPI 6.4 section 4.8.3.7,
// "Sleep Control and Status Registers"), as one 8-bit I/O port at 0x3C0.
//
// Writes are the sleep control register: bits 4:2 SLP_TYPx, bit 5 SLP_EN
// (table 4.19). SLP_EN with SLP_TYP == 5 asks for S5, soft-off, and calls
// `on_poweroff`. The value 5 is ours, not the spec's: it must match the _S5
// package in the DSDT the VMM generates. Other values (other sleep states,
// writes without SLP_EN) are ignored.
//
// Reads are the sleep status register: bit 7 WAK_STS (table 4.20), always
// clear since the machine never sleeps. Linux writes WAK_STS to clear it
// before sleeping; that write lands here without SLP_EN and is ignored.
//
// Tiny guests power off by writing kPowerOffValue (0x34) to port 0x3C0.
// Linux finds the port through the FADT: SLEEP_CONTROL_REG and
// SLEEP_STATUS_REG both describe this port (8-bit system I/O), as in Cloud
// Hypervisor.
#ifndef MICROVM_DEVICES_POWER_H_
#define MICROVM_DEVICES_POWER_H_

#include <cstdint>
#include <functional>

#include "absl/types/span.h"
#include "base/bus.h"
#include "base/irq.h"

namespace microvm {

// The ACPI power button as the guest sees it: the DSDT's Generic Event
// Device (ACPI0013) listens on GSI kGsi, edge-triggered, active high, and
// its _EVT notifies the PNP0C0C button (vmm/acpi/tables.cc). Press() makes
// one rising edge on that line: Linux's button driver reports KEY_POWER
// (acpid, systemd-logind then shut the guest down).
class PowerButton {
 public:
  static constexpr uint32_t kGsi = 5;  // free ISA IRQ on microvm's PC
  explicit PowerButton(IrqLine* line) : line_(line) {}
  void Press() {
    line_->Set(true);
    line_->Set(false);
  }

 private:
  IrqLine* const line_;
};

class SleepControl final : public BusDevice {
 public:
  static constexpr uint16_t kPort = 0x3c0;
  static constexpr uint64_t kPortCount = 1;
  static constexpr uint8_t kS5SleepType = 5;
  static constexpr uint8_t kSleepTypeShift = 2;
  static constexpr uint8_t kSleepTypeMask = 0x7 << kSleepTypeShift;
  static constexpr uint8_t kSleepEnable = 1 << 5;
  static constexpr uint8_t kPowerOffValue =
      (kS5SleepType << kSleepTypeShift) | kSleepEnable;  // 0x34

  // `on_poweroff` runs on the vCPU thread that wrote the register; it may be
  // called again if the guest writes again.
  explicit SleepControl(std::function<void()> on_poweroff);

  // BusDevice. Only single-byte accesses do anything; wider reads return
  // zeros.
  void Read(uint64_t offset, absl::Span<uint8_t> data) override;
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override;

 private:
  const std::function<void()> on_poweroff_;
};

}  // namespace microvm

#endif  // MICROVM_DEVICES_POWER_H_
