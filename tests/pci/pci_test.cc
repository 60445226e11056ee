// Whole-VM PCI tests: each test boots a tiny PCI guest (tests/guests/pci_*.c)
// with PCI test devices (devices/pci_test_device.h) on the VM's root complex
// and checks the guest's verdict ("PASS <name>", no "FAIL") and what the
// devices saw from the host side.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
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

constexpr int kRunTimeoutSeconds = 90;

struct GuestRun {
  absl::StatusOr<VmExit> exit = absl::UnknownError("not run");
  std::string output;  // serial console, LF line ends
  bool timed_out = false;
};

// Boots tests/guests/<guest>.elf with `devices` test devices in slots 1..n
// and runs it to the end. `inspect` sees the devices after the run, while
// the VM (whose interrupt controller their host vectors use) still exists.
GuestRun RunPciGuest(
    const std::string& guest, int devices,
    const std::function<void(const std::vector<std::shared_ptr<PciTestDevice>>&)>&
        inspect = nullptr) {
  GuestRun result;
  auto made = std::make_shared<std::vector<std::shared_ptr<PciTestDevice>>>();
  // The console goes to a temporary file: simpler than a pipe and a
  // reader thread, and the guests print little.
  char path[] = "/tmp/pci_test_console.XXXXXX";
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
    result.exit = testing::RunBounded(
        **vm, std::chrono::seconds(kRunTimeoutSeconds), &result.timed_out);
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

void ExpectPass(const GuestRun& run, const std::string& name) {
  EXPECT_FALSE(run.timed_out) << name << " did not finish within "
                              << kRunTimeoutSeconds << " s\nconsole:\n"
                              << run.output;
  ASSERT_TRUE(run.exit.ok()) << run.exit.status() << "\nconsole:\n"
                             << run.output;
  EXPECT_EQ(*run.exit, VmExit::kPowerOff) << "console:\n" << run.output;
  EXPECT_THAT(run.output, HasSubstr("PASS " + name + "\n")) << run.output;
  EXPECT_THAT(run.output, Not(HasSubstr("FAIL"))) << run.output;
}

TEST(PciTest, EnumeratesThroughCf8AndEcam) {
  GuestRun run = RunPciGuest("pci_enum", 1);
  ExpectPass(run, "pci_enum");
  EXPECT_THAT(run.output,
              HasSubstr("pci_enum: function 00:00.0 1b36:0008 class 060000\n"));
  EXPECT_THAT(run.output,
              HasSubstr("pci_enum: function 00:01.0 1234:7e57 class ff0000\n"));
  EXPECT_THAT(run.output, HasSubstr("pci_enum: functions=2 test_devices=1\n"));
}

TEST(PciTest, SeveralDevicesTakeConsecutiveSlots) {
  GuestRun run = RunPciGuest("pci_enum", 3);
  ExpectPass(run, "pci_enum");
  for (int slot = 1; slot <= 3; ++slot) {
    EXPECT_THAT(run.output,
                HasSubstr(absl::StrCat("pci_enum: function 00:0", slot,
                                       ".0 1234:7e57 class ff0000\n")));
  }
  EXPECT_THAT(run.output, HasSubstr("pci_enum: functions=4 test_devices=3\n"));
}

TEST(PciTest, BarsDecodeWhereTheGuestPutsThem) {
  GuestRun run = RunPciGuest("pci_bars", 1);
  ExpectPass(run, "pci_bars");
  EXPECT_THAT(run.output, HasSubstr("pci_bars: 64-bit BAR above 4 GiB\n"));
  EXPECT_THAT(run.output, HasSubstr("pci_bars: ROM read through its BAR\n"));
}

TEST(PciTest, IntxMsiAndMsixReachTheGuest) {
  size_t host_vectors = 99;
  GuestRun run = RunPciGuest(
      "pci_irq", 1,
      [&](const std::vector<std::shared_ptr<PciTestDevice>>& devices) {
        ASSERT_EQ(devices.size(), 1u);
        host_vectors = devices[0]->host_vectors();
      });
  ExpectPass(run, "pci_irq");
  // Slot 1, pin A: GSI 16 + (1 + 0) % 4.
  EXPECT_THAT(run.output, HasSubstr("pci_irq: INTx on GSI 17: 20 rounds\n"));
  EXPECT_THAT(run.output, HasSubstr("pci_irq: MSI-X Function Mask\n"));
  EXPECT_THAT(run.output, HasSubstr(" lost=0\n"));
  // The guest disabled MSI and MSI-X at the end: every host vector is back.
  EXPECT_EQ(host_vectors, 0u);
}

}  // namespace
}  // namespace microvm
