// SPDX-License-Identifier: Apache-2.0
// Whole-VM test helper: boots a tiny PCI guest (tests/guests/*.elf) with PCI
// test devices (devices/pci_test_device.h) in slots 1..n, runs it to the end
// under a watchdog and collects its console. Used by tests/pci and the
// hostile-guest tests in tests/vm.
#ifndef MICROVM_TESTS_PCI_GUEST_RUN_H_
#define MICROVM_TESTS_PCI_GUEST_RUN_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "devices/pci_test_device.h"
#include "vmm/vm.h"

namespace microvm::testing {

struct GuestRun {
  absl::StatusOr<VmExit> exit = absl::UnknownError("not run");
  std::string output;  // serial console, LF line ends
  bool timed_out = false;
};

using InspectDevices =
    std::function<void(const std::vector<std::shared_ptr<PciTestDevice>>&)>;

// Boots tests/guests/<guest>.elf with `devices` test devices and runs it for
// at most `timeout_seconds`. `inspect` sees the devices after the run, while
// the VM (whose interrupt controller their host vectors use) still exists.
// The console also goes to the test log.
GuestRun RunPciGuest(const std::string& guest, int devices,
                     int timeout_seconds,
                     const InspectDevices& inspect = nullptr);

// The guest finished in time, powered off (Run() returned kPowerOff: not an
// error, reset or triple fault), printed "PASS <name>" and no "FAIL".
void ExpectPass(const GuestRun& run, const std::string& name,
                int timeout_seconds);

}  // namespace microvm::testing

#endif  // MICROVM_TESTS_PCI_GUEST_RUN_H_
