// Hostile guests (tests/guests/hostile_*.c) against the PCI test device
// (devices/pci_test_device.h) on microvm's root complex: storms of config
// space, BAR, MSI-X, port and memory accesses. The VMM is this test process,
// so "microvm stays up" is the test surviving; beyond that each run must end
// with the guest's clean power-off after its PASS line (not an error, not a
// reset, not a hang) and the device must still be consistent host-side.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_replace.h"
#include "devices/pci_test_device.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pci/pci_device.h"
#include "tests/vm/run_bounded.h"
#include "vmm/vm.h"

namespace microvm {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// The storms make hundreds of thousands of exits, and nested KVM is slow.
constexpr int kRunTimeoutSeconds = 600;

struct GuestRun {
  absl::StatusOr<VmExit> exit = absl::UnknownError("not run");
  std::string output;  // serial console, LF line ends
  bool timed_out = false;
  size_t host_vectors = 0;  // the test device's, after the run
};

// Boots tests/guests/<guest>.elf with one PCI test device in slot 1 and runs
// it to the end.
GuestRun RunHostileGuest(const std::string& guest) {
  GuestRun result;
  auto device = std::make_shared<std::shared_ptr<PciTestDevice>>();
  char path[] = "/tmp/hostile_test_console.XXXXXX";
  const int out_fd = mkstemp(path);
  EXPECT_GE(out_fd, 0);
  unlink(path);

  VmConfig config;
  config.kernel_path = "tests/guests/" + guest + ".elf";
  config.mem_bytes = 64ull << 20;
  config.cpus = 1;
  config.console_out_fd = out_fd;
  config.console_in_fd = -1;
  config.pci_devices.push_back(
      [device](InterruptController& irqs)
          -> absl::StatusOr<std::shared_ptr<pci::PciDevice>> {
        absl::StatusOr<std::shared_ptr<PciTestDevice>> made =
            PciTestDevice::Create(irqs);
        if (!made.ok()) return made.status();
        *device = *made;
        return std::shared_ptr<pci::PciDevice>(*made);
      });
  absl::StatusOr<std::unique_ptr<Vm>> vm = Vm::Create(config);
  if (!vm.ok()) {
    result.exit = vm.status();
  } else {
    result.exit = testing::RunBounded(
        **vm, std::chrono::seconds(kRunTimeoutSeconds), &result.timed_out);
    // While the VM (whose interrupt controller the vectors use) exists.
    if (*device) result.host_vectors = (*device)->host_vectors();
    device->reset();
    vm->reset();
  }
  if (out_fd >= 0) {
    std::string text;
    char buf[4096];
    ssize_t n;
    lseek(out_fd, 0, SEEK_SET);
    while ((n = read(out_fd, buf, sizeof(buf))) > 0) text.append(buf, n);
    close(out_fd);
    result.output = absl::StrReplaceAll(text, {{"\r", ""}});
  }
  std::printf("---- %s console ----\n%s----\n", guest.c_str(),
              result.output.c_str());
  return result;
}

// The guest printed its marker and then powered off cleanly: Run() returned
// kPowerOff. A storm that made the VMM fail returns an error; one that made
// the guest reset or triple-fault returns kReset or an error.
void ExpectSurvived(const GuestRun& run, const std::string& name) {
  EXPECT_FALSE(run.timed_out) << name << " did not finish within "
                              << kRunTimeoutSeconds << " s\nconsole:\n"
                              << run.output;
  ASSERT_TRUE(run.exit.ok()) << run.exit.status() << "\nconsole:\n"
                             << run.output;
  EXPECT_EQ(*run.exit, VmExit::kPowerOff) << "console:\n" << run.output;
  EXPECT_THAT(run.output, HasSubstr("PASS " + name + "\n"));
  EXPECT_THAT(run.output, Not(HasSubstr("FAIL")));
}

TEST(HostileTest, ConfigSpaceStorm) {
  GuestRun run = RunHostileGuest("hostile_config");
  ExpectSurvived(run, "hostile_config");
  EXPECT_THAT(run.output,
              HasSubstr("hostile_config: stormed ff:1f.7 (absent)\n"));
  EXPECT_THAT(run.output,
              HasSubstr("hostile_config: odd CONFIG_ADDRESS values\n"));
}

TEST(HostileTest, BarReprogramming) {
  GuestRun run = RunHostileGuest("hostile_bars");
  ExpectSurvived(run, "hostile_bars");
  // Printed through COM1 after the I/O BAR was asked to sit on it.
  EXPECT_THAT(run.output, HasSubstr("hostile_bars: I/O BAR over COM1\n"));
  EXPECT_THAT(run.output, HasSubstr("hostile_bars: I/O BAR over the ACPI "
                                    "sleep control port\n"));
  EXPECT_THAT(run.output, HasSubstr("hostile_bars: 3000 random BAR writes\n"));
}

TEST(HostileTest, MsixGarbage) {
  GuestRun run = RunHostileGuest("hostile_msix");
  ExpectSurvived(run, "hostile_msix");
  EXPECT_THAT(run.output,
              HasSubstr("hostile_msix: a proper entry still delivers\n"));
  // MSI and MSI-X ended disabled: every host vector went back.
  EXPECT_EQ(run.host_vectors, 0u);
}

TEST(HostileTest, PortAndMemoryStorm) {
  GuestRun run = RunHostileGuest("hostile_storm");
  ExpectSurvived(run, "hostile_storm");
  EXPECT_THAT(run.output, HasSubstr("hostile_storm: memory storm done\n"));
}

}  // namespace
}  // namespace microvm
