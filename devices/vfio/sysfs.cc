// SPDX-License-Identifier: Apache-2.0
#include "devices/vfio/sysfs.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "base/remedies.h"

namespace microvm::vfio {
namespace {

namespace fs = std::filesystem;

bool IsHex(absl::string_view s, size_t len) {
  return s.size() == len &&
         std::all_of(s.begin(), s.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

std::string DeviceDir(const std::string& sysfs_root,
                      const std::string& address) {
  return absl::StrCat(sysfs_root, "/bus/pci/devices/", address);
}

// Last element of a symlink's target, "" when the link does not exist.
std::string LinkBasename(const std::string& path) {
  std::error_code ec;
  fs::path target = fs::read_symlink(path, ec);
  if (ec) return "";
  return target.filename().string();
}

bool Exists(const std::string& path) {
  std::error_code ec;
  return fs::exists(path, ec);
}

std::string BindCommands(const std::string& address,
                         const std::string& driver) {
  std::string unbind =
      driver.empty()
          ? ""
          : absl::StrFormat("echo %s > /sys/bus/pci/devices/%s/driver/unbind; ",
                            address, address);
  return absl::StrFormat(
      "modprobe vfio-pci; %secho vfio-pci > "
      "/sys/bus/pci/devices/%s/driver_override; echo %s > "
      "/sys/bus/pci/drivers/vfio-pci/bind",
      unbind, address, address);
}

std::string DescribeMember(const GroupMember& m) {
  return absl::StrFormat("%s (%s)", m.address,
                         m.driver.empty() ? "no driver" : m.driver);
}

}  // namespace

absl::StatusOr<std::string> NormalizePciAddress(absl::string_view address) {
  std::string lower = absl::AsciiStrToLower(address);
  std::vector<absl::string_view> parts = absl::StrSplit(lower, ':');
  if (parts.size() == 2) parts.insert(parts.begin(), "0000");
  if (parts.size() == 3) {
    std::vector<absl::string_view> dev_fn = absl::StrSplit(parts[2], '.');
    uint32_t device = 0;
    if (IsHex(parts[0], 4) && IsHex(parts[1], 2) && dev_fn.size() == 2 &&
        IsHex(dev_fn[0], 2) && IsHex(dev_fn[1], 1) &&
        absl::SimpleHexAtoi(dev_fn[0], &device) && device < 32 &&
        dev_fn[1][0] <= '7') {
      return absl::StrCat(parts[0], ":", parts[1], ":", dev_fn[0], ".",
                          dev_fn[1]);
    }
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "'%s' is not a PCI address; expected domain:bus:device.function such "
      "as 0000:01:00.0 (see lspci -D)",
      address));
}

absl::StatusOr<std::string> BoundDriver(const std::string& sysfs_root,
                                        const std::string& address) {
  std::string dir = DeviceDir(sysfs_root, address);
  if (!Exists(dir)) {
    return absl::NotFoundError(absl::StrFormat(
        "no PCI device %s (no %s); check the address with lspci -D", address,
        dir));
  }
  return LinkBasename(dir + "/driver");
}

absl::StatusOr<uint8_t> InterruptPinOf(const std::string& sysfs_root,
                                       const std::string& address) {
  const std::string path = DeviceDir(sysfs_root, address) + "/config";
  std::ifstream config(path, std::ios::binary);
  char pin = 0;
  if (!config.seekg(0x3d) || !config.get(pin)) {
    return absl::NotFoundError(
        absl::StrFormat("cannot read the Interrupt Pin register in %s", path));
  }
  const uint8_t value = static_cast<uint8_t>(pin);
  if (value > 4) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: Interrupt Pin register is %u, not 0-4", path, value));
  }
  return value;
}

absl::StatusOr<int> IommuGroupOf(const std::string& sysfs_root,
                                 const std::string& address) {
  std::string dir = DeviceDir(sysfs_root, address);
  if (!Exists(dir)) {
    return absl::NotFoundError(absl::StrFormat(
        "no PCI device %s (no %s); check the address with lspci -D", address,
        dir));
  }
  std::string group = LinkBasename(dir + "/iommu_group");
  int number = 0;
  if (group.empty()) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "PCI device %s has no IOMMU group, so the IOMMU is off: %s", address,
        remedy::kIommuOff));
  }
  if (!absl::SimpleAtoi(group, &number) || number < 0) {
    return absl::InternalError(absl::StrFormat(
        "%s/iommu_group points to '%s', not a group number", dir, group));
  }
  return number;
}

absl::Status CheckBoundToVfioPci(const std::string& sysfs_root,
                                 const std::string& address) {
  absl::StatusOr<std::string> driver = BoundDriver(sysfs_root, address);
  if (!driver.ok()) return driver.status();
  if (*driver == "vfio-pci") return absl::OkStatus();
  std::string now = driver->empty() ? "is bound to no driver"
                                    : absl::StrCat("is bound to ", *driver);
  return absl::FailedPreconditionError(absl::StrFormat(
      "PCI device %s %s, not vfio-pci; as root run: %s", address, now,
      BindCommands(address, *driver)));
}

absl::StatusOr<std::vector<GroupMember>> ListGroup(
    const std::string& sysfs_root, int group) {
  std::string dir =
      absl::StrFormat("%s/kernel/iommu_groups/%d/devices", sysfs_root, group);
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) {
    return absl::NotFoundError(absl::StrFormat(
        "cannot list IOMMU group %d (%s): %s", group, dir, ec.message()));
  }
  std::vector<GroupMember> members;
  for (const fs::directory_entry& entry : it) {
    GroupMember m;
    m.address = entry.path().filename().string();
    m.driver = LinkBasename(entry.path().string() + "/driver");
    m.class_code = 0;
    std::ifstream class_file(entry.path() / "class");
    std::string text;
    if (class_file >> text) {
      m.class_code = static_cast<uint32_t>(std::strtoul(text.c_str(), nullptr, 16));
    }
    members.push_back(std::move(m));
  }
  std::sort(members.begin(), members.end(),
            [](const GroupMember& a, const GroupMember& b) {
              return a.address < b.address;
            });
  return members;
}

bool MemberAllowsViability(const GroupMember& m) {
  if (m.driver.empty() || m.driver == "pci-stub") return true;
  // vfio-pci and its vendor variants (e.g. mlx5_vfio_pci).
  if (absl::StrContains(m.driver, "vfio")) return true;
  // PCI-to-PCI bridge (class 06 04) under the port driver: it does no DMA.
  bool bridge = (m.class_code >> 8) == 0x0604;
  return bridge && m.driver == "pcieport";
}

absl::Status NonViableGroupError(int group, const std::string& address,
                                 absl::Span<const GroupMember> members) {
  std::vector<std::string> blocking, all;
  for (const GroupMember& m : members) {
    all.push_back(DescribeMember(m));
    if (!MemberAllowsViability(m)) blocking.push_back(DescribeMember(m));
  }
  std::string which =
      blocking.empty()
          ? absl::StrCat("members: ", absl::StrJoin(all, ", "))
          : absl::StrCat("held by other drivers: ",
                         absl::StrJoin(blocking, ", "));
  return absl::FailedPreconditionError(absl::StrFormat(
      "IOMMU group %d of %s is not viable (%s); every device in the group "
      "must be bound to vfio-pci or pci-stub, or be unbound (or a bridge): %s",
      group, address, which,
      absl::StrFormat(remedy::kNonViableGroup, address)));
}

}  // namespace microvm::vfio
