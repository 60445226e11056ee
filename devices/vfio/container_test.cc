// SPDX-License-Identifier: Apache-2.0
// The container/group/device flow against a fake kernel: every VFIO ioctl
// goes to FakeVfio through ScopedIoctlOverride; /dev/vfio and /sys are
// fake trees in TEST_TMPDIR.
#include "devices/vfio/container.h"

#include <fcntl.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "base/linux_uapi.h"
#include "base/status.h"
#include "devices/vfio/device.h"
#include "devices/vfio/vfio_ioctl.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace microvm::vfio {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

struct FakeVfio {
  int api_version = VFIO_API_VERSION;
  std::vector<uint32_t> extensions = {VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU};
  bool viable = true;
  std::vector<std::string> calls;
  uint32_t iommu_set = 0;
  uint32_t device_flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
  int map_errno = 0;  // VFIO_IOMMU_MAP_DMA fails with it

  absl::StatusOr<int> Ioctl(int, unsigned long request, const char* name,
                            uintptr_t arg) {
    calls.push_back(name);
    void* p = reinterpret_cast<void*>(arg);
    switch (request) {
      case VFIO_GET_API_VERSION:
        return api_version;
      case VFIO_CHECK_EXTENSION:
        return std::count(extensions.begin(), extensions.end(), arg) > 0;
      case VFIO_GROUP_GET_STATUS:
        static_cast<vfio_group_status*>(p)->flags =
            viable ? VFIO_GROUP_FLAGS_VIABLE : 0;
        return 0;
      case VFIO_IOMMU_MAP_DMA:
        if (map_errno != 0) return ErrnoError(map_errno, name);
        return 0;
      case VFIO_SET_IOMMU:
        iommu_set = static_cast<uint32_t>(arg);
        return 0;
      case VFIO_GROUP_GET_DEVICE_FD:
        return ::open("/dev/null", O_RDWR | O_CLOEXEC);
      case VFIO_DEVICE_GET_INFO: {
        auto* info = static_cast<vfio_device_info*>(p);
        info->flags = device_flags;
        info->num_regions = 2;
        info->num_irqs = 1;
        return 0;
      }
      case VFIO_DEVICE_GET_REGION_INFO: {
        auto* info = static_cast<vfio_region_info*>(p);
        info->flags = VFIO_REGION_INFO_FLAG_READ;
        info->size = 0x100000;
        info->offset = uint64_t{info->index} << 40;
        if (info->index == 1) {  // asks for room for one capability
          const uint32_t needed = sizeof(*info) + sizeof(vfio_info_cap_header);
          if (info->argsz < needed) {
            info->argsz = needed;
            return 0;
          }
          info->flags |= VFIO_REGION_INFO_FLAG_CAPS;
          info->cap_offset = sizeof(*info);
          vfio_info_cap_header cap = {VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, 1, 0};
          std::memcpy(info + 1, &cap, sizeof(cap));
        }
        return 0;
      }
      case VFIO_DEVICE_GET_IRQ_INFO:
        static_cast<vfio_irq_info*>(p)->count = 1;
        return 0;
      default:
        return 0;
    }
  }
};

class ContainerTest : public ::testing::Test {
 protected:
  ContainerTest()
      : override_([this](int fd, unsigned long req, const char* name,
                         uintptr_t arg) {
          return kernel_.Ioctl(fd, req, name, arg);
        }) {
    const char* tmp = std::getenv("TEST_TMPDIR");
    root_ = fs::path(tmp ? tmp : "/tmp") / "container_test";
    fs::remove_all(root_);
    fs::create_directories(root_ / "dev");
    std::ofstream(root_ / "dev/vfio");
    paths_.dev = (root_ / "dev").string();
    paths_.sysfs = (root_ / "sys").string();
  }
  ~ContainerTest() override { fs::remove_all(root_); }

  void AddDevice(const std::string& address, int group,
                 const std::string& driver = "vfio-pci") {
    fs::path sys = root_ / "sys";
    fs::path dev = sys / "bus/pci/devices" / address;
    fs::path g = sys / "kernel/iommu_groups" / std::to_string(group);
    fs::create_directories(dev);
    fs::create_directories(g / "devices");
    fs::create_directories(sys / "bus/pci/drivers" / driver);
    if (!fs::exists(dev / "driver")) {
      fs::create_directory_symlink(sys / "bus/pci/drivers" / driver,
                                   dev / "driver");
      fs::create_directory_symlink(g, dev / "iommu_group");
      fs::create_directory_symlink(dev, g / "devices" / address);
    }
    std::ofstream(root_ / "dev" / std::to_string(group));
  }

  int Count(const std::string& name) const {
    return std::count(kernel_.calls.begin(), kernel_.calls.end(), name);
  }

  FakeVfio kernel_;
  ScopedIoctlOverride override_;
  fs::path root_;
  Paths paths_;
};

TEST_F(ContainerTest, MissingContainerNodeSaysModprobe) {
  fs::remove(root_ / "dev/vfio");
  auto c = Container::Open(paths_);
  EXPECT_TRUE(absl::IsNotFound(c.status()));
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("modprobe vfio-pci"));
}

TEST_F(ContainerTest, WrongApiVersionOrNoType1) {
  kernel_.api_version = 1;
  EXPECT_THAT(std::string(Container::Open(paths_).status().message()),
              HasSubstr("API version 1"));
  kernel_.api_version = VFIO_API_VERSION;
  kernel_.extensions = {};
  EXPECT_THAT(std::string(Container::Open(paths_).status().message()),
              HasSubstr("modprobe vfio_iommu_type1"));
}

TEST_F(ContainerTest, PrefersType1v2FallsBackToType1) {
  EXPECT_EQ((*Container::Open(paths_))->iommu_type(),
            uint32_t{VFIO_TYPE1v2_IOMMU});
  kernel_.extensions = {VFIO_TYPE1_IOMMU};
  EXPECT_EQ((*Container::Open(paths_))->iommu_type(),
            uint32_t{VFIO_TYPE1_IOMMU});
}

TEST_F(ContainerTest, OpensDeviceReadsInfoAndTearsDownInOrder) {
  AddDevice("0000:01:00.0", 5);
  auto container = Container::Open(paths_);
  ASSERT_TRUE(container.ok()) << container.status();
  auto device = (*container)->OpenPciDevice("01:00.0");
  ASSERT_TRUE(device.ok()) << device.status();
  EXPECT_EQ(kernel_.iommu_set, uint32_t{VFIO_TYPE1v2_IOMMU});
  const DeviceInfo& info = (*device)->info();
  EXPECT_EQ(info.name, "0000:01:00.0");
  EXPECT_TRUE(info.is_pci() && info.can_reset());
  ASSERT_EQ(info.regions.size(), 2u);
  EXPECT_EQ(info.regions[1].offset, uint64_t{1} << 40);
  EXPECT_TRUE(info.regions[1].msix_mappable);
  ASSERT_EQ(info.irqs.size(), 1u);
  EXPECT_EQ((*device)->group_number(), 5);

  // Out-of-range accesses never reach the kernel.
  uint8_t buf[8];
  EXPECT_TRUE(absl::IsOutOfRange((*device)->ReadRegion(0, 0x100000 - 4, buf)));
  EXPECT_TRUE(absl::IsInvalidArgument((*device)->ReadRegion(7, 0, buf)));
  EXPECT_TRUE(absl::IsPermissionDenied((*device)->WriteRegion(0, 0, buf)));
  EXPECT_FALSE((*device)->MapRegion(0, 0, 0x1000).ok());  // not mmappable
  const int32_t fds[] = {3, 4};
  EXPECT_TRUE(absl::IsOutOfRange((*device)->SetIrqEventFds(0, 0, fds)));

  kernel_.calls.clear();
  device->reset();
  EXPECT_THAT(kernel_.calls, ElementsAre("VFIO_GROUP_UNSET_CONTAINER"));
  EXPECT_EQ((*container)->attached_groups(), 0);
}

TEST_F(ContainerTest, DevicesOfOneGroupShareIt) {
  AddDevice("0000:01:00.0", 5);
  AddDevice("0000:01:00.1", 5);
  AddDevice("0000:02:00.0", 6);
  auto container = *Container::Open(paths_);
  auto a = container->OpenPciDevice("0000:01:00.0");
  auto b = container->OpenPciDevice("0000:01:00.1");
  auto c = container->OpenPciDevice("0000:02:00.0");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(Count("VFIO_GROUP_SET_CONTAINER"), 2);
  EXPECT_EQ(Count("VFIO_SET_IOMMU"), 1);  // with the first group only
  EXPECT_EQ(container->attached_groups(), 2);
  a->reset();
  EXPECT_EQ(Count("VFIO_GROUP_UNSET_CONTAINER"), 0);  // b still uses group 5
  b->reset();
  EXPECT_EQ(Count("VFIO_GROUP_UNSET_CONTAINER"), 1);
}

TEST_F(ContainerTest, DmaMappingUnmapsOnce) {
  AddDevice("0000:01:00.0", 5);
  auto container = *Container::Open(paths_);
  auto device = container->OpenPciDevice("0000:01:00.0");
  ASSERT_TRUE(device.ok());
  static uint8_t page[4096];
  auto mapping = container->MapDma(0x100000, page, sizeof(page));
  ASSERT_TRUE(mapping.ok()) << mapping.status();
  DmaMapping moved = *std::move(mapping);
  EXPECT_EQ(moved.iova(), 0x100000u);
  EXPECT_EQ(Count("VFIO_IOMMU_UNMAP_DMA"), 0);
  moved = DmaMapping();
  EXPECT_EQ(Count("VFIO_IOMMU_UNMAP_DMA"), 1);
}

// The kernel's two ways to refuse a mapping, each with its remedy.
TEST_F(ContainerTest, RefusedDmaMappingSaysWhatToDo) {
  AddDevice("0000:01:00.0", 5);
  auto container = *Container::Open(paths_);
  auto device = container->OpenPciDevice("0000:01:00.0");
  ASSERT_TRUE(device.ok());
  static uint8_t page[4096];
  kernel_.map_errno = ENOMEM;  // RLIMIT_MEMLOCK
  auto memlock = container->MapDma(0x100000, page, sizeof(page));
  EXPECT_TRUE(absl::IsResourceExhausted(memlock.status()));
  EXPECT_THAT(std::string(memlock.status().message()), HasSubstr("ulimit -l"));
  kernel_.map_errno = ENOSPC;  // vfio_iommu_type1 dma_entry_limit
  auto entries = container->MapDma(0x100000, page, sizeof(page));
  EXPECT_TRUE(absl::IsResourceExhausted(entries.status()));
  EXPECT_THAT(std::string(entries.status().message()),
              HasSubstr("dma_entry_limit"));
  EXPECT_THAT(std::string(entries.status().message()),
              Not(HasSubstr("ulimit")));
  EXPECT_EQ(ErrnoOf(Annotate(entries.status(), "context")), ENOSPC);
}

TEST_F(ContainerTest, NonViableGroupNamesTheCulprit) {
  AddDevice("0000:01:00.0", 5);
  AddDevice("0000:01:00.1", 5, "snd_hda_intel");
  kernel_.viable = false;
  auto container = *Container::Open(paths_);
  auto device = container->OpenPciDevice("0000:01:00.0");
  EXPECT_TRUE(absl::IsFailedPrecondition(device.status()));
  EXPECT_THAT(std::string(device.status().message()),
              HasSubstr("0000:01:00.1 (snd_hda_intel)"));
  EXPECT_EQ(Count("VFIO_GROUP_SET_CONTAINER"), 0);
}

TEST_F(ContainerTest, UnboundDeviceNeverOpensTheGroup) {
  AddDevice("0000:01:00.0", 5, "nvme");
  auto container = *Container::Open(paths_);
  auto device = container->OpenPciDevice("0000:01:00.0");
  EXPECT_THAT(std::string(device.status().message()),
              HasSubstr("is bound to nvme, not vfio-pci"));
  EXPECT_EQ(Count("VFIO_GROUP_GET_STATUS"), 0);
}

// The sysfs-only check a VMM runs before its guest starts: the same
// one-line errors as OpenPciDevice, and no VFIO node touched.
TEST_F(ContainerTest, CheckPciDeviceReadsOnlySysfs) {
  AddDevice("0000:01:00.0", 5);
  AddDevice("0000:02:00.0", 6, "nvme");
  absl::StatusOr<int> group = CheckPciDevice(paths_, "01:00.0");
  ASSERT_TRUE(group.ok()) << group.status();
  EXPECT_EQ(*group, 5);
  absl::Status bound = CheckPciDevice(paths_, "0000:02:00.0").status();
  EXPECT_TRUE(absl::IsFailedPrecondition(bound));
  EXPECT_THAT(std::string(bound.message()),
              HasSubstr("is bound to nvme, not vfio-pci"));
  absl::Status missing = CheckPciDevice(paths_, "0000:03:00.0").status();
  EXPECT_TRUE(absl::IsNotFound(missing));
  EXPECT_THAT(std::string(missing.message()), HasSubstr("lspci -D"));
  EXPECT_TRUE(
      absl::IsInvalidArgument(CheckPciDevice(paths_, "bogus").status()));
  EXPECT_EQ(Count("VFIO_GROUP_GET_STATUS"), 0);
  EXPECT_EQ(Count("VFIO_GET_API_VERSION"), 0);
}

// A sandboxed VMM opens its files before the guest runs: once a device is
// prepared, opening it needs no file (its sysfs entries and group node may
// be gone by then) and attaches the node opened earlier.
TEST_F(ContainerTest, PreparedDeviceOpensNoFile) {
  AddDevice("0000:01:00.0", 5);
  AddDevice("0000:01:00.1", 5);
  auto container = Container::Open(paths_);
  ASSERT_TRUE(container.ok()) << container.status();
  ASSERT_TRUE((*container)->PreparePciDevice("0000:01:00.0").ok());
  ASSERT_TRUE((*container)->PreparePciDevice("01:00.1").ok());
  EXPECT_EQ(Count("VFIO_GROUP_GET_STATUS"), 1);  // one node per group
  fs::remove_all(root_ / "sys");
  fs::remove(root_ / "dev/5");
  auto first = (*container)->OpenPciDevice("0000:01:00.0");
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = (*container)->OpenPciDevice("0000:01:00.1");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(Count("VFIO_GROUP_SET_CONTAINER"), 1);
}

TEST_F(ContainerTest, PreparingANonViableGroupFailsBeforeAnyAttach) {
  AddDevice("0000:01:00.0", 5);
  AddDevice("0000:01:00.1", 5, "nvme");
  kernel_.viable = false;
  auto container = Container::Open(paths_);
  ASSERT_TRUE(container.ok()) << container.status();
  absl::Status prepared = (*container)->PreparePciDevice("0000:01:00.0");
  EXPECT_TRUE(absl::IsFailedPrecondition(prepared)) << prepared;
  EXPECT_THAT(std::string(prepared.message()), HasSubstr("not viable"));
  EXPECT_EQ(Count("VFIO_GROUP_SET_CONTAINER"), 0);
}

TEST_F(ContainerTest, MissingGroupNodeIsExplained) {
  AddDevice("0000:01:00.0", 5);
  fs::remove(root_ / "dev/5");
  auto container = *Container::Open(paths_);
  auto device = container->OpenPciDevice("0000:01:00.0");
  EXPECT_TRUE(absl::IsNotFound(device.status()));
  EXPECT_THAT(std::string(device.status().message()), HasSubstr("dev/5"));
}

TEST_F(ContainerTest, ResetOnlyWhenTheDeviceCan) {
  AddDevice("0000:01:00.0", 5);
  kernel_.device_flags = VFIO_DEVICE_FLAGS_PCI;
  auto container = *Container::Open(paths_);
  auto device = container->OpenPciDevice("0000:01:00.0");
  ASSERT_TRUE(device.ok());
  absl::Status s = (*device)->Reset();
  EXPECT_TRUE(absl::IsFailedPrecondition(s));
  EXPECT_THAT(std::string(s.message()), HasSubstr("cannot be reset"));
  EXPECT_EQ(Count("VFIO_DEVICE_RESET"), 0);
}

TEST_F(ContainerTest, IommuInfoNeedsAGroup) {
  auto container = *Container::Open(paths_);
  EXPECT_TRUE(absl::IsFailedPrecondition(container->GetIommuInfo().status()));
}

}  // namespace
}  // namespace microvm::vfio
