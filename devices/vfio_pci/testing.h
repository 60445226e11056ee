// SPDX-License-Identifier: Apache-2.0
// Fakes for vfio-pci unit tests: a DeviceBackend over an in-memory config
// space and BARs that records what the PCI layer asks of VFIO, an
// interrupt controller with MSI vectors, a guest mapper and an event loop
// that run nothing by themselves.
#ifndef MICROVM_DEVICES_VFIO_PCI_TESTING_H_
#define MICROVM_DEVICES_VFIO_PCI_TESTING_H_

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "base/event_fd.h"
#include "base/event_loop.h"
#include "base/guest_mapper.h"
#include "base/irq.h"
#include "base/linux_uapi.h"
#include "devices/vfio/device_backend.h"

namespace microvm::vfio_pci::testing {

// One VFIO_DEVICE_SET_IRQS-like call, as text: "eventfds MSIX 0 [-1]",
// "disable INTX", "unmask INTX 0", "unmaskfd INTX 0".
class FakeBackend final : public vfio::DeviceBackend {
 public:
  FakeBackend() {
    info_.name = "0000:00:05.0";
    info_.flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET;
    info_.regions.resize(VFIO_PCI_NUM_REGIONS);
    for (uint32_t i = 0; i < VFIO_PCI_NUM_REGIONS; ++i) {
      info_.regions[i].index = i;
    }
    info_.irqs.resize(VFIO_PCI_NUM_IRQS);
    for (uint32_t i = 0; i < VFIO_PCI_NUM_IRQS; ++i) info_.irqs[i].index = i;
    config.assign(256, 0);
    memfd_ = ::memfd_create("fake-vfio", MFD_CLOEXEC);
  }
  ~FakeBackend() override { ::close(memfd_); }

  // A BAR region of `size` bytes; mmappable ones live in the memfd.
  void AddRegion(uint32_t index, uint64_t size, bool mmap) {
    vfio::RegionInfo& r = info_.regions[index];
    r.size = size;
    r.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
              (mmap ? VFIO_REGION_INFO_FLAG_MMAP : 0);
    r.offset = uint64_t{index} << 32;
    if (mmap) (void)!::ftruncate(memfd_, 1 << 20);
  }
  vfio::DeviceInfo& mutable_info() { return info_; }

  const vfio::DeviceInfo& info() const override { return info_; }
  absl::Status ReadRegion(uint32_t region, uint64_t offset,
                          absl::Span<uint8_t> out) const override {
    if (region == VFIO_PCI_CONFIG_REGION_INDEX) {
      if (offset + out.size() > config.size()) {
        return absl::OutOfRangeError("config read out of range");
      }
      std::memcpy(out.data(), config.data() + offset, out.size());
      return absl::OkStatus();
    }
    calls.push_back(absl::StrFormat("read %u 0x%x %u", region, offset,
                                    out.size()));
    std::memset(out.data(), 0x5a, out.size());
    return absl::OkStatus();
  }
  absl::Status WriteRegion(uint32_t region, uint64_t offset,
                           absl::Span<const uint8_t> data) const override {
    if (region == VFIO_PCI_CONFIG_REGION_INDEX) {
      config_writes.push_back({static_cast<uint32_t>(offset),
                               std::vector<uint8_t>(data.begin(), data.end())});
      return absl::OkStatus();
    }
    calls.push_back(absl::StrFormat("write %u 0x%x %u", region, offset,
                                    data.size()));
    return absl::OkStatus();
  }
  absl::StatusOr<vfio::RegionMapping> MapRegion(uint32_t region,
                                                uint64_t offset,
                                                uint64_t size) const override {
    maps.push_back(absl::StrFormat("%u 0x%x 0x%x", region, offset, size));
    return vfio::RegionMapping::Create(memfd_, offset, size,
                                       PROT_READ | PROT_WRITE);
  }
  absl::Status SetIrqEventFds(uint32_t irq, uint32_t start,
                              absl::Span<const int32_t> fds) const override {
    std::string list;
    for (int32_t fd : fds) {
      absl::StrAppend(&list, list.empty() ? "" : " ", fd < 0 ? "-1" : "fd");
    }
    calls.push_back(
        absl::StrFormat("eventfds %s %u [%s]", Name(irq), start, list));
    if (irq == VFIO_PCI_INTX_IRQ_INDEX && !fds.empty()) intx_fd = fds[0];
    return absl::OkStatus();
  }
  absl::Status DisableIrq(uint32_t irq) const override {
    calls.push_back(absl::StrFormat("disable %s", Name(irq)));
    return absl::OkStatus();
  }
  absl::Status SetIrqMasked(uint32_t irq, uint32_t vector,
                            bool masked) const override {
    calls.push_back(absl::StrFormat("%s %s %u", masked ? "mask" : "unmask",
                                    Name(irq), vector));
    return absl::OkStatus();
  }
  absl::Status SetIrqUnmaskEventFd(uint32_t irq, uint32_t vector,
                                   int32_t) const override {
    calls.push_back(absl::StrFormat("unmaskfd %s %u", Name(irq), vector));
    return absl::OkStatus();
  }
  absl::Status Reset() const override {
    calls.push_back("reset");
    return absl::OkStatus();
  }

  static const char* Name(uint32_t irq) {
    switch (irq) {
      case VFIO_PCI_INTX_IRQ_INDEX:
        return "INTX";
      case VFIO_PCI_MSI_IRQ_INDEX:
        return "MSI";
      case VFIO_PCI_MSIX_IRQ_INDEX:
        return "MSIX";
      default:
        return "?";
    }
  }

  struct ConfigWrite {
    uint32_t offset;
    std::vector<uint8_t> data;
  };
  std::vector<uint8_t> config;
  mutable std::vector<ConfigWrite> config_writes;
  mutable std::vector<std::string> calls;
  mutable std::vector<std::string> maps;
  mutable int intx_fd = -1;

 private:
  vfio::DeviceInfo info_;
  int memfd_ = -1;
};

class FakeLine final : public IrqLine {
 public:
  explicit FakeLine(uint32_t gsi) : gsi_(gsi) {}
  void Set(bool high) override { *high_ = high; }
  uint32_t gsi() const override { return gsi_; }
  std::shared_ptr<bool> high_ = std::make_shared<bool>(false);

 private:
  uint32_t gsi_;
};

class FakeVector final : public MsiVector {
 public:
  absl::Status SetMessage(uint64_t address, uint32_t data) override {
    address_ = address;
    data_ = data;
    return absl::OkStatus();
  }
  absl::Status SetEnabled(bool enabled) override {
    enabled_ = enabled;
    return absl::OkStatus();
  }
  void Trigger() override { (void)fd_.Signal(); }
  int trigger_fd() const override { return fd_.fd(); }
  EventFd fd_ = *EventFd::Create();
  uint64_t address_ = 0;
  uint32_t data_ = 0;
  bool enabled_ = false;
};

class FakeIrqs final : public InterruptController {
 public:
  absl::StatusOr<std::unique_ptr<IrqLine>> MakeIrqLine(uint32_t gsi) override {
    return std::make_unique<FakeLine>(gsi);
  }
  absl::StatusOr<std::unique_ptr<MsiVector>> AllocateMsi() override {
    ++allocated;
    return std::make_unique<FakeVector>();
  }
  absl::StatusOr<std::unique_ptr<IrqfdBinding>> BindLevelIrqfd(
      uint32_t gsi, int, int) override {
    if (!can_resample) return absl::UnimplementedError("no resample");
    bound_gsi = gsi;
    return std::make_unique<IrqfdBinding>();
  }
  bool can_resample = true;
  int allocated = 0;
  int bound_gsi = -1;
};

class FakeMapper final : public GuestMapper {
 public:
  class Mapping final : public GuestMapping {
   public:
    Mapping(FakeMapper* m, uint64_t gpa) : m_(m), gpa_(gpa) {}
    ~Mapping() override { m_->live.erase(gpa_); }

   private:
    FakeMapper* m_;
    uint64_t gpa_;
  };
  absl::StatusOr<std::unique_ptr<GuestMapping>> Map(uint64_t gpa,
                                                    uint64_t size,
                                                    void*) override {
    live[gpa] = size;
    return std::make_unique<Mapping>(this, gpa);
  }
  std::map<uint64_t, uint64_t> live;  // gpa -> size
};

// Records handlers; the test runs them.
class FakeLoop final : public EventLoop {
 public:
  absl::StatusOr<Watch> Add(int fd, Handler handler, uint32_t) override {
    handlers[next_] = {fd, std::move(handler)};
    return Watch(this, next_++);
  }
  // Runs the handler watching `fd`.
  void Fire(int fd) {
    for (auto& [token, h] : handlers) {
      if (h.first == fd) h.second(EPOLLIN);
    }
  }
  std::map<uint64_t, std::pair<int, Handler>> handlers;

 protected:
  void Remove(uint64_t token) override { handlers.erase(token); }

 private:
  uint64_t next_ = 1;
};

}  // namespace microvm::vfio_pci::testing

#endif  // MICROVM_DEVICES_VFIO_PCI_TESTING_H_
