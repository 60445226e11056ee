// SPDX-License-Identifier: Apache-2.0
// Hostile guests (tests/guests/hostile_*.c) against the PCI test device
// (devices/pci_test_device.h) on microvm's root complex: storms of config
// space, BAR, MSI-X, port and memory accesses. The VMM is this test process,
// so "microvm stays up" is the test surviving; beyond that each run must end
// with the guest's clean power-off after its PASS line (not an error, not a
// reset, not a hang) and the device must still be consistent host-side.
#include <memory>
#include <string>
#include <vector>

#include "devices/pci_test_device.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/pci/guest_run.h"
#include "vmm/vm.h"

namespace microvm {
namespace {

using ::testing::HasSubstr;

// The storms make hundreds of thousands of exits, and nested KVM is slow.
constexpr int kRunTimeoutSeconds = 600;

struct HostileRun : testing::GuestRun {
  size_t host_vectors = 0;  // the test device's, after the run
};

// Boots tests/guests/<guest>.elf with one PCI test device in slot 1 and runs
// it to the end.
HostileRun RunHostileGuest(const std::string& guest) {
  HostileRun result;
  static_cast<testing::GuestRun&>(result) = testing::RunPciGuest(
      guest, 1, kRunTimeoutSeconds,
      [&](const std::vector<std::shared_ptr<PciTestDevice>>& devices) {
        if (!devices.empty()) result.host_vectors = devices[0]->host_vectors();
      });
  return result;
}

// The guest printed its marker and then powered off cleanly: Run() returned
// kPowerOff. A storm that made the VMM fail returns an error; one that made
// the guest reset or triple-fault returns kReset or an error.
void ExpectSurvived(const testing::GuestRun& run, const std::string& name) {
  testing::ExpectPass(run, name, kRunTimeoutSeconds);
}

TEST(HostileTest, ConfigSpaceStorm) {
  HostileRun run = RunHostileGuest("hostile_config");
  ExpectSurvived(run, "hostile_config");
  EXPECT_THAT(run.output,
              HasSubstr("hostile_config: stormed ff:1f.7 (absent)\n"));
  EXPECT_THAT(run.output,
              HasSubstr("hostile_config: odd CONFIG_ADDRESS values\n"));
}

TEST(HostileTest, BarReprogramming) {
  HostileRun run = RunHostileGuest("hostile_bars");
  ExpectSurvived(run, "hostile_bars");
  // Printed through COM1 after the I/O BAR was asked to sit on it.
  EXPECT_THAT(run.output, HasSubstr("hostile_bars: I/O BAR over COM1\n"));
  EXPECT_THAT(run.output, HasSubstr("hostile_bars: I/O BAR over the ACPI "
                                    "sleep control port\n"));
  EXPECT_THAT(run.output, HasSubstr("hostile_bars: 3000 random BAR writes\n"));
}

TEST(HostileTest, MsixGarbage) {
  HostileRun run = RunHostileGuest("hostile_msix");
  ExpectSurvived(run, "hostile_msix");
  EXPECT_THAT(run.output,
              HasSubstr("hostile_msix: a proper entry still delivers\n"));
  // MSI and MSI-X ended disabled: every host vector went back.
  EXPECT_EQ(run.host_vectors, 0u);
}

TEST(HostileTest, PortAndMemoryStorm) {
  HostileRun run = RunHostileGuest("hostile_storm");
  ExpectSurvived(run, "hostile_storm");
  EXPECT_THAT(run.output, HasSubstr("hostile_storm: memory storm done\n"));
}

}  // namespace
}  // namespace microvm
