// SPDX-License-Identifier: Apache-2.0
#include "devices/vfio/sysfs.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace microvm::vfio {
namespace {

namespace fs = std::filesystem;
using ::testing::AllOf;
using ::testing::HasSubstr;

// A fake /sys: devices under bus/pci/devices with driver and iommu_group
// symlinks, groups under kernel/iommu_groups/N/devices.
class FakeSysfs {
 public:
  FakeSysfs() {
    const char* tmp = std::getenv("TEST_TMPDIR");
    root_ = fs::path(tmp ? tmp : "/tmp") /
            ("sysfs-" + std::to_string(counter_++));
    fs::remove_all(root_);
    fs::create_directories(root_ / "bus/pci/drivers");
  }
  ~FakeSysfs() { fs::remove_all(root_); }

  std::string root() const { return root_.string(); }

  void AddDevice(const std::string& address, const std::string& driver,
                 int group, const std::string& class_code = "0x020000") {
    fs::path dev = root_ / "bus/pci/devices" / address;
    fs::create_directories(dev);
    std::ofstream(dev / "class") << class_code << "\n";
    if (!driver.empty()) {
      fs::create_directories(root_ / "bus/pci/drivers" / driver);
      fs::create_directory_symlink(root_ / "bus/pci/drivers" / driver,
                                   dev / "driver");
    }
    if (group >= 0) {
      fs::path g = root_ / "kernel/iommu_groups" / std::to_string(group);
      fs::create_directories(g / "devices");
      fs::create_directory_symlink(g, dev / "iommu_group");
      fs::create_directory_symlink(dev, g / "devices" / address);
    }
  }

 private:
  static inline int counter_ = 0;
  fs::path root_;
};

TEST(PciAddressTest, NormalizesAndRejects) {
  EXPECT_EQ(*NormalizePciAddress("0000:01:00.0"), "0000:01:00.0");
  EXPECT_EQ(*NormalizePciAddress("01:1F.7"), "0000:01:1f.7");
  EXPECT_EQ(*NormalizePciAddress("ABCD:ff:1f.3"), "abcd:ff:1f.3");
  for (const char* bad : {"", "1:00.0", "0000:01:00", "0000:01:20.0",
                          "0000:01:00.8", "0000:0g:00.0", "x0000:01:00.0",
                          "0000:01:00.0.1"}) {
    absl::StatusOr<std::string> r = NormalizePciAddress(bad);
    EXPECT_FALSE(r.ok()) << bad;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr("lspci -D"));
  }
}

TEST(SysfsTest, MissingDeviceSaysCheckLspci) {
  FakeSysfs sys;
  absl::StatusOr<int> r = IommuGroupOf(sys.root(), "0000:09:00.0");
  EXPECT_TRUE(absl::IsNotFound(r.status()));
  EXPECT_THAT(std::string(r.status().message()),
              AllOf(HasSubstr("no PCI device 0000:09:00.0"),
                    HasSubstr("lspci -D")));
  EXPECT_TRUE(absl::IsNotFound(
      CheckBoundToVfioPci(sys.root(), "0000:09:00.0")));
}

TEST(SysfsTest, NoGroupSaysEnableTheIommu) {
  FakeSysfs sys;
  sys.AddDevice("0000:01:00.0", "vfio-pci", -1);
  absl::StatusOr<int> r = IommuGroupOf(sys.root(), "0000:01:00.0");
  EXPECT_TRUE(absl::IsFailedPrecondition(r.status()));
  EXPECT_THAT(std::string(r.status().message()),
              AllOf(HasSubstr("no IOMMU group"), HasSubstr("intel_iommu=on"),
                    HasSubstr("AMD-Vi")));
}

TEST(SysfsTest, FindsGroupAndDriver) {
  FakeSysfs sys;
  sys.AddDevice("0000:01:00.0", "vfio-pci", 14);
  EXPECT_EQ(*IommuGroupOf(sys.root(), "0000:01:00.0"), 14);
  EXPECT_EQ(*BoundDriver(sys.root(), "0000:01:00.0"), "vfio-pci");
  EXPECT_TRUE(CheckBoundToVfioPci(sys.root(), "0000:01:00.0").ok());
}

TEST(SysfsTest, WrongDriverGivesTheRebindCommands) {
  FakeSysfs sys;
  sys.AddDevice("0000:01:00.0", "e1000e", 3);
  absl::Status s = CheckBoundToVfioPci(sys.root(), "0000:01:00.0");
  EXPECT_TRUE(absl::IsFailedPrecondition(s));
  std::string m(s.message());
  EXPECT_THAT(m, AllOf(HasSubstr("is bound to e1000e, not vfio-pci"),
                       HasSubstr("echo 0000:01:00.0 > "
                                 "/sys/bus/pci/devices/0000:01:00.0/driver/"
                                 "unbind"),
                       HasSubstr("echo vfio-pci > /sys/bus/pci/devices/"
                                 "0000:01:00.0/driver_override"),
                       HasSubstr("echo 0000:01:00.0 > "
                                 "/sys/bus/pci/drivers/vfio-pci/bind"),
                       HasSubstr("modprobe vfio-pci")));
  EXPECT_EQ(m.find('\n'), std::string::npos);
}

TEST(SysfsTest, UnboundDeviceNeedsNoUnbind) {
  FakeSysfs sys;
  sys.AddDevice("0000:01:00.0", "", 3);
  std::string m(CheckBoundToVfioPci(sys.root(), "0000:01:00.0").message());
  EXPECT_THAT(m, HasSubstr("is bound to no driver"));
  EXPECT_THAT(m, ::testing::Not(HasSubstr("unbind")));
}

TEST(SysfsTest, ListsGroupAndNamesWhatBlocksViability) {
  FakeSysfs sys;
  sys.AddDevice("0000:01:00.1", "snd_hda_intel", 7, "0x040300");
  sys.AddDevice("0000:01:00.0", "vfio-pci", 7, "0x030000");
  sys.AddDevice("0000:00:01.0", "pcieport", 7, "0x060400");
  sys.AddDevice("0000:01:00.2", "", 7);
  auto members = ListGroup(sys.root(), 7);
  ASSERT_TRUE(members.ok()) << members.status();
  ASSERT_EQ(members->size(), 4u);
  EXPECT_EQ((*members)[0].address, "0000:00:01.0");
  EXPECT_EQ((*members)[0].class_code, 0x060400u);
  EXPECT_TRUE(MemberAllowsViability((*members)[0]));   // bridge, pcieport
  EXPECT_TRUE(MemberAllowsViability((*members)[1]));   // vfio-pci
  EXPECT_FALSE(MemberAllowsViability((*members)[2]));  // snd_hda_intel
  EXPECT_TRUE(MemberAllowsViability((*members)[3]));   // no driver
  EXPECT_FALSE(MemberAllowsViability({"0000:02:00.0", "pcieport", 0x020000}));
  EXPECT_TRUE(MemberAllowsViability({"0000:02:00.0", "pci-stub", 0x020000}));

  absl::Status s = NonViableGroupError(7, "0000:01:00.0", *members);
  std::string m(s.message());
  EXPECT_THAT(m, AllOf(HasSubstr("IOMMU group 7 of 0000:01:00.0 is not "
                                 "viable"),
                       HasSubstr("0000:01:00.1 (snd_hda_intel)"),
                       HasSubstr("vfio-pci or pci-stub")));
  EXPECT_THAT(m, ::testing::Not(HasSubstr("0000:00:01.0 (pcieport)")));
}

TEST(SysfsTest, MissingGroupDirectoryIsAnError) {
  FakeSysfs sys;
  EXPECT_TRUE(absl::IsNotFound(ListGroup(sys.root(), 99).status()));
}

// The Interrupt Pin register from the device's config file (offset 0x3d),
// which microvm's boot tables route before it opens the device.
TEST(SysfsTest, InterruptPinFromConfig) {
  FakeSysfs sys;
  sys.AddDevice("0000:09:00.0", "vfio-pci", 3);
  const fs::path config =
      fs::path(sys.root()) / "bus/pci/devices/0000:09:00.0/config";
  std::string bytes(64, '\0');
  bytes[0x3d] = 2;  // INTB
  std::ofstream(config, std::ios::binary) << bytes;
  absl::StatusOr<uint8_t> pin = InterruptPinOf(sys.root(), "0000:09:00.0");
  ASSERT_TRUE(pin.ok()) << pin.status();
  EXPECT_EQ(*pin, 2);
  bytes[0x3d] = 9;
  std::ofstream(config, std::ios::binary | std::ios::trunc) << bytes;
  EXPECT_FALSE(InterruptPinOf(sys.root(), "0000:09:00.0").ok());
  std::ofstream(config, std::ios::binary | std::ios::trunc) << "short";
  EXPECT_FALSE(InterruptPinOf(sys.root(), "0000:09:00.0").ok());
  EXPECT_FALSE(InterruptPinOf(sys.root(), "0000:0a:00.0").ok());
}

}  // namespace
}  // namespace microvm::vfio
