// SPDX-License-Identifier: Apache-2.0
#include "devices/vfio/device.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "absl/strings/str_format.h"
#include "base/linux_uapi.h"
#include "base/status.h"
#include "devices/vfio/group.h"
#include "devices/vfio/irq_set.h"
#include "devices/vfio/vfio_ioctl.h"

namespace microvm::vfio {
namespace {

constexpr uint64_t kPageSize = 4096;

absl::StatusOr<RegionInfo> QueryRegion(int fd, uint32_t index) {
  // Ask with the fixed struct; if capabilities follow, the kernel reports
  // the argsz it needs and we ask again (vfio.h "Capability chains").
  std::vector<uint64_t> words((sizeof(vfio_region_info) + 7) / 8, 0);
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto* info = reinterpret_cast<vfio_region_info*>(words.data());
    const uint32_t argsz = static_cast<uint32_t>(words.size() * 8);
    info->argsz = argsz;
    info->index = index;
    MVM_RETURN_IF_ERROR(
        VFIO_IOCTL(fd, VFIO_DEVICE_GET_REGION_INFO, info).status());
    if (info->argsz <= argsz) {
      return ParseRegionInfo(absl::MakeConstSpan(
          reinterpret_cast<const uint8_t*>(words.data()), argsz));
    }
    const uint32_t needed = info->argsz;
    words.assign((needed + 7) / 8, 0);
  }
  return absl::InternalError(absl::StrFormat(
      "VFIO_DEVICE_GET_REGION_INFO for region %u kept asking for more room",
      index));
}

}  // namespace

Device::Device(std::shared_ptr<Group> group, UniqueFd fd, DeviceInfo info)
    : group_(std::move(group)), fd_(std::move(fd)), info_(std::move(info)) {}

int Device::group_number() const { return group_->number(); }

absl::StatusOr<std::unique_ptr<Device>> Device::Open(
    std::shared_ptr<Group> group, const std::string& name) {
  auto got = VFIO_IOCTL(group->fd(), VFIO_GROUP_GET_DEVICE_FD, name.c_str());
  if (!got.ok()) {
    return Annotate(got.status(),
                    absl::StrFormat("getting %s from IOMMU group %d", name,
                                    group->number()));
  }
  UniqueFd fd(*got);

  vfio_device_info raw = {};
  raw.argsz = sizeof(raw);
  MVM_RETURN_IF_ERROR(
      VFIO_IOCTL(fd.get(), VFIO_DEVICE_GET_INFO, &raw).status());
  DeviceInfo info;
  info.name = name;
  info.flags = raw.flags;
  for (uint32_t i = 0; i < raw.num_regions; ++i) {
    auto region = QueryRegion(fd.get(), i);
    // Some indexes may be absent (e.g. VGA on a non-VGA device: EINVAL);
    // they stay as size-0 regions without flags.
    if (!region.ok() && !absl::IsInvalidArgument(region.status())) {
      return Annotate(region.status(),
                      absl::StrFormat("reading region %u of %s", i, name));
    }
    RegionInfo r = region.ok() ? *std::move(region) : RegionInfo{};
    r.index = i;
    info.regions.push_back(std::move(r));
  }
  for (uint32_t i = 0; i < raw.num_irqs; ++i) {
    vfio_irq_info irq = {};
    irq.argsz = sizeof(irq);
    irq.index = i;
    auto got_irq = VFIO_IOCTL(fd.get(), VFIO_DEVICE_GET_IRQ_INFO, &irq);
    // vfio-pci answers EINVAL for indexes the device lacks (the ERR index
    // of a conventional PCI device): count 0.
    if (!got_irq.ok() && !absl::IsInvalidArgument(got_irq.status())) {
      return Annotate(got_irq.status(),
                      absl::StrFormat("reading interrupt index %u of %s", i,
                                      name));
    }
    info.irqs.push_back({i, got_irq.ok() ? irq.flags : 0,
                         got_irq.ok() ? irq.count : 0});
  }
  return std::unique_ptr<Device>(
      new Device(std::move(group), std::move(fd), std::move(info)));
}

absl::StatusOr<const RegionInfo*> Device::CheckRange(uint32_t region,
                                                     uint64_t offset,
                                                     uint64_t len,
                                                     const char* what) const {
  if (region >= info_.regions.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s of %s: no region %u (the device has %u)", what, info_.name, region,
        info_.regions.size()));
  }
  const RegionInfo& r = info_.regions[region];
  if (offset > r.size || len > r.size - offset) {
    return absl::OutOfRangeError(absl::StrFormat(
        "%s of %s: %#x bytes at offset %#x are outside region %u (size %#x)",
        what, info_.name, len, offset, region, r.size));
  }
  return &r;
}

absl::Status Device::ReadRegion(uint32_t region, uint64_t offset,
                                absl::Span<uint8_t> out) const {
  MVM_ASSIGN_OR_RETURN(const RegionInfo* r,
                       CheckRange(region, offset, out.size(), "read"));
  if (!r->readable()) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "read of %s: region %u is not readable", info_.name, region));
  }
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd_.get(), out.data() + done, out.size() - done,
                        static_cast<off_t>(r->offset + offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return n < 0 ? LastErrnoError(absl::StrFormat(
                         "reading %u bytes at offset %#x of region %u of %s",
                         out.size(), offset, region, info_.name))
                   : absl::DataLossError(absl::StrFormat(
                         "reading region %u of %s: end of data after %u of "
                         "%u bytes",
                         region, info_.name, done, out.size()));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::Status Device::WriteRegion(uint32_t region, uint64_t offset,
                                 absl::Span<const uint8_t> data) const {
  MVM_ASSIGN_OR_RETURN(const RegionInfo* r,
                       CheckRange(region, offset, data.size(), "write"));
  if (!r->writable()) {
    return absl::PermissionDeniedError(absl::StrFormat(
        "write to %s: region %u is not writable", info_.name, region));
  }
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::pwrite(fd_.get(), data.data() + done, data.size() - done,
                         static_cast<off_t>(r->offset + offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      return n < 0 ? LastErrnoError(absl::StrFormat(
                         "writing %u bytes at offset %#x of region %u of %s",
                         data.size(), offset, region, info_.name))
                   : absl::DataLossError(absl::StrFormat(
                         "writing region %u of %s: nothing written after %u "
                         "of %u bytes",
                         region, info_.name, done, data.size()));
    }
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<RegionMapping> Device::MapRegion(uint32_t region,
                                                uint64_t offset,
                                                uint64_t size) const {
  MVM_ASSIGN_OR_RETURN(const RegionInfo* r,
                       CheckRange(region, offset, size, "mmap"));
  if (size == 0 || offset % kPageSize != 0 || size % kPageSize != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "mmap of %s region %u: offset %#x and size %#x must be non-zero "
        "multiples of the page size",
        info_.name, region, offset, size));
  }
  bool inside = false;
  for (const MmapArea& area : r->MmapAreas()) {
    inside |= offset >= area.offset && offset + size <= area.offset + area.size;
  }
  if (!inside) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "mmap of %s region %u: %#x bytes at %#x are not inside an mmappable "
        "area of it",
        info_.name, region, size, offset));
  }
  int prot = (r->readable() ? PROT_READ : 0) | (r->writable() ? PROT_WRITE : 0);
  return RegionMapping::Create(fd_.get(), static_cast<off_t>(r->offset + offset),
                               size, prot);
}

absl::Status Device::CheckIrq(uint32_t irq, uint32_t start, uint32_t count,
                              const char* what) const {
  if (irq >= info_.irqs.size()) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s of %s: no interrupt index %u", what, info_.name, irq));
  }
  const IrqInfo& i = info_.irqs[irq];
  if (start > i.count || count > i.count - start) {
    return absl::OutOfRangeError(absl::StrFormat(
        "%s of %s: vectors %u..%u of interrupt index %u, which has %u", what,
        info_.name, start, start + count, irq, i.count));
  }
  return absl::OkStatus();
}

absl::Status Device::SetIrqEventFds(uint32_t irq, uint32_t start,
                                    absl::Span<const int32_t> fds) const {
  MVM_RETURN_IF_ERROR(CheckIrq(irq, start, fds.size(), "setting eventfds"));
  IrqSet set = IrqSet::EventFds(VFIO_IRQ_SET_ACTION_TRIGGER, irq, start, fds);
  auto r = VFIO_IOCTL(fd_.get(), VFIO_DEVICE_SET_IRQS, set.get());
  if (!r.ok()) {
    return Annotate(r.status(),
                    absl::StrFormat("%s: eventfds for vectors %u..%u of "
                                    "interrupt index %u",
                                    info_.name, start, start + fds.size(), irq));
  }
  return absl::OkStatus();
}

absl::Status Device::DisableIrq(uint32_t irq) const {
  MVM_RETURN_IF_ERROR(CheckIrq(irq, 0, 0, "disabling interrupts"));
  IrqSet set = IrqSet::None(VFIO_IRQ_SET_ACTION_TRIGGER, irq, 0, 0);
  auto r = VFIO_IOCTL(fd_.get(), VFIO_DEVICE_SET_IRQS, set.get());
  return r.ok() ? absl::OkStatus()
                : Annotate(r.status(),
                           absl::StrFormat("%s: disabling interrupt index %u",
                                           info_.name, irq));
}

absl::Status Device::SetIrqMasked(uint32_t irq, uint32_t vector,
                                  bool masked) const {
  MVM_RETURN_IF_ERROR(CheckIrq(irq, vector, 1, "masking"));
  IrqSet set = IrqSet::None(
      masked ? VFIO_IRQ_SET_ACTION_MASK : VFIO_IRQ_SET_ACTION_UNMASK, irq,
      vector, 1);
  auto r = VFIO_IOCTL(fd_.get(), VFIO_DEVICE_SET_IRQS, set.get());
  return r.ok() ? absl::OkStatus()
                : Annotate(r.status(),
                           absl::StrFormat("%s: %s vector %u of interrupt "
                                           "index %u",
                                           info_.name,
                                           masked ? "masking" : "unmasking",
                                           vector, irq));
}

absl::Status Device::SetIrqUnmaskEventFd(uint32_t irq, uint32_t vector,
                                         int32_t fd) const {
  MVM_RETURN_IF_ERROR(CheckIrq(irq, vector, 1, "setting an unmask eventfd"));
  int32_t fds[] = {fd};
  IrqSet set = IrqSet::EventFds(VFIO_IRQ_SET_ACTION_UNMASK, irq, vector, fds);
  auto r = VFIO_IOCTL(fd_.get(), VFIO_DEVICE_SET_IRQS, set.get());
  return r.ok() ? absl::OkStatus()
                : Annotate(r.status(),
                           absl::StrFormat("%s: unmask eventfd for vector %u "
                                           "of interrupt index %u",
                                           info_.name, vector, irq));
}

absl::Status Device::Reset() const {
  if (!info_.can_reset()) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "%s cannot be reset (VFIO reports no reset method: no FLR, PM or bus "
        "reset available)",
        info_.name));
  }
  auto r = VFIO_IOCTL(fd_.get(), VFIO_DEVICE_RESET, 0);
  return r.ok() ? absl::OkStatus()
                : Annotate(r.status(), absl::StrFormat("resetting %s",
                                                       info_.name));
}

}  // namespace microvm::vfio
