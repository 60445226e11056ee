// SPDX-License-Identifier: Apache-2.0
#include "tests/pci/guest_run.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pci/pci_device.h"
#include "tests/vm/run_bounded.h"

namespace microvm::testing {

using ::testing::HasSubstr;
using ::testing::Not;

GuestRun RunPciGuest(const std::string& guest, int devices,
                     int timeout_seconds, const InspectDevices& inspect) {
  GuestRun result;
  auto made = std::make_shared<std::vector<std::shared_ptr<PciTestDevice>>>();
  // The console goes to a temporary file: simpler than a pipe and a
  // reader thread, and the guests print little.
  char path[] = "/tmp/pci_guest_console.XXXXXX";
  const int out_fd = mkstemp(path);
  EXPECT_GE(out_fd, 0);
  unlink(path);

  VmConfig config;
  config.kernel_path = "tests/guests/" + guest + ".elf";
  config.mem_bytes = 64ull << 20;
  config.cpus = 1;
  config.console_out_fd = out_fd;
  config.console_in_fd = -1;
  for (int i = 0; i < devices; ++i) {
    config.pci_devices.push_back(
        [made](InterruptController& irqs)
            -> absl::StatusOr<std::shared_ptr<pci::PciDevice>> {
          absl::StatusOr<std::shared_ptr<PciTestDevice>> device =
              PciTestDevice::Create(irqs);
          if (!device.ok()) return device.status();
          made->push_back(*device);
          return std::shared_ptr<pci::PciDevice>(*device);
        });
  }
  absl::StatusOr<std::unique_ptr<Vm>> vm = Vm::Create(config);
  if (!vm.ok()) {
    result.exit = vm.status();
  } else {
    result.exit = RunBounded(**vm, std::chrono::seconds(timeout_seconds),
                             &result.timed_out);
    if (inspect) inspect(*made);
    made->clear();
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
  // Into the test log, for the informational lines (wait statistics,
  // IOAPIC polarity) of runs that pass.
  std::printf("---- %s console ----\n%s----\n", guest.c_str(),
              result.output.c_str());
  return result;
}

void ExpectPass(const GuestRun& run, const std::string& name,
                int timeout_seconds) {
  EXPECT_FALSE(run.timed_out) << name << " did not finish within "
                              << timeout_seconds << " s\nconsole:\n"
                              << run.output;
  ASSERT_TRUE(run.exit.ok()) << run.exit.status() << "\nconsole:\n"
                             << run.output;
  EXPECT_EQ(*run.exit, VmExit::kPowerOff) << "console:\n" << run.output;
  EXPECT_THAT(run.output, HasSubstr("PASS " + name + "\n")) << run.output;
  EXPECT_THAT(run.output, Not(HasSubstr("FAIL"))) << run.output;
}

}  // namespace microvm::testing
