// SPDX-License-Identifier: Apache-2.0
// Whole-VM PCI tests: each test boots a tiny PCI guest (tests/guests/pci_*.c)
// with PCI test devices (devices/pci_test_device.h) on the VM's root complex
// and checks the guest's verdict ("PASS <name>", no "FAIL") and what the
// devices saw from the host side.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "devices/pci_test_device.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pci/pci_device.h"
#include "tests/pci/guest_run.h"
#include "vmm/vm.h"

namespace microvm {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::GuestRun;

constexpr int kRunTimeoutSeconds = 90;

GuestRun RunPciGuest(const std::string& guest, int devices,
                     const testing::InspectDevices& inspect = nullptr) {
  return testing::RunPciGuest(guest, devices, kRunTimeoutSeconds, inspect);
}

void ExpectPass(const GuestRun& run, const std::string& name) {
  testing::ExpectPass(run, name, kRunTimeoutSeconds);
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

// The INTx part counts interrupts exactly (tests/guests/pci_irq.c: "INTx
// interrupts (no storm, none lost)": one per assertion, the handler lowers the
// line at the device before the EOI). The host software KVM seen on 2026-12-04
// (kvm_pvm) delivers one more than that (got 0x15, want 0x14), and so does a
// bare KVM program with no microvm code doing the same sequence: the kernel's
// IOAPIC, not microvm's INTx path (the nested machine's KVM delivers exactly
// 20). kvm_probe checks that behaviour, so on such a host the runner takes the
// nested machine instead of relaxing this count (README.md, "Tests that need
// KVM").
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
