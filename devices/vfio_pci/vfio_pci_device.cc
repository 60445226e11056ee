// SPDX-License-Identifier: Apache-2.0
#include "devices/vfio_pci/vfio_pci_device.h"

#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "base/linux_uapi.h"
#include "base/messages.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "devices/vfio_pci/bar_layout.h"
#include "devices/vfio_pci/host_interrupts.h"
#include "devices/vfio_pci/virtual_config.h"
#include "pci/msix.h"

namespace microvm::vfio_pci {
namespace {

class Device;

// A BAR's handler on the PIO or MMIO bus: every access the memslots do not
// absorb. Holds the device weakly: a vCPU may still be inside after the
// device went away.
class BarTrap final : public BusDevice {
 public:
  BarTrap(std::weak_ptr<Device> device, int index)
      : device_(std::move(device)), index_(index) {}
  void Read(uint64_t offset, absl::Span<uint8_t> data) override;
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override;

 private:
  std::weak_ptr<Device> device_;
  int index_;
};

class Device final : public VfioPciDevice,
                     public std::enable_shared_from_this<Device> {
 public:
  static absl::StatusOr<std::shared_ptr<Device>> Create(
      std::shared_ptr<vfio::DeviceBackend> device, const Context& context);
  ~Device() override;

  void Attach(const pci::PciAddress& address,
              std::unique_ptr<IrqLine> intx) override;
  void ConfigRead(uint32_t offset, absl::Span<uint8_t> data) override;
  void BeforeConfigWrite(uint32_t offset,
                         absl::Span<const uint8_t> data) override;
  pci::ConfigWriteResult ConfigWrite(uint32_t offset,
                                     absl::Span<const uint8_t> data) override;
  absl::Status MapBar(const pci::BarRegion& bar, Bus& bus) override;
  absl::Status UnmapBar(const pci::BarRegion& bar, Bus& bus) override;
  absl::Status Reset() override;

  // A trapped access to BAR `index` (or the ROM); `data` is written for a
  // read.
  void BarRead(int index, uint64_t offset, absl::Span<uint8_t> data);
  void BarWrite(int index, uint64_t offset, absl::Span<const uint8_t> data);

 private:
  struct Piece {
    BarRange range;
    vfio::RegionMapping map;
  };
  struct Bar {
    std::vector<Piece> pieces;
    std::optional<pci::BarRegion> at;  // where PciRoot mapped it
    std::vector<std::unique_ptr<GuestMapping>> slots;
    std::atomic<uint64_t> traps{0};
  };

  Device(std::shared_ptr<vfio::DeviceBackend> device, const Context& context,
         VirtualConfig config, std::unique_ptr<HostInterrupts> interrupts)
      : device_(std::move(device)),
        context_(context),
        name_(device_->info().name),
        config_(std::move(config)),
        msix_(config_.msix()),
        interrupts_(std::move(interrupts)) {
    if (msix_) msix_table_.emplace(msix_->table_size);
  }

  absl::Status SetUp();
  // Each mmappable piece of each memory BAR, mmapped once.
  absl::Status MmapBars();
  void MapSlots(int index) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetMmapsEnabled(bool enabled) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReadTrapped(int index, uint64_t offset, absl::Span<uint8_t> data);
  void WriteTrapped(int index, uint64_t offset,
                    absl::Span<const uint8_t> data);
  // Userspace INTx (QEMU's vfio_intx_interrupt / vfio_eoi).
  void OnIntx();
  void OnMmapTimer();
  void EndIntx() ABSL_LOCKS_EXCLUDED(mu_);
  void ArmMmapTimer() const;
  void AfterInterruptChange() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Report(const absl::Status& status) const;

  bool InTable(int index, uint64_t offset, size_t size) const {
    return msix_ && index == msix_->table_bar &&
           BarRange{msix_->table_offset, msix_table_->table_bytes()}.Contains(
               offset, size);
  }
  bool InPba(int index, uint64_t offset, size_t size) const {
    return msix_ && index == msix_->pba_bar &&
           BarRange{msix_->pba_offset, msix_table_->pba_bytes()}.Contains(
               offset, size);
  }

  const std::shared_ptr<vfio::DeviceBackend> device_;
  const Context context_;
  const std::string name_;
  mutable absl::Mutex mu_;
  VirtualConfig config_ ABSL_GUARDED_BY(mu_);
  const std::optional<pci::MsixConfig> msix_;
  std::optional<pci::MsixTable> msix_table_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<HostInterrupts> interrupts_ ABSL_GUARDED_BY(mu_);
  std::array<Bar, pci::kNumBars + 1> bars_;
  bool mmaps_enabled_ ABSL_GUARDED_BY(mu_) = true;
  // Userspace INTx asserted and not yet acknowledged by a BAR access.
  std::atomic<bool> intx_pending_{false};
  UniqueFd mmap_timer_;
  // Last: dropped first, so no callback starts during teardown.
  EventLoop::Watch intx_watch_;
  EventLoop::Watch timer_watch_;
};

void BarTrap::Read(uint64_t offset, absl::Span<uint8_t> data) {
  std::shared_ptr<Device> device = device_.lock();
  if (device == nullptr) {
    std::fill(data.begin(), data.end(), 0xff);
    return;
  }
  device->BarRead(index_, offset, data);
}

void BarTrap::Write(uint64_t offset, absl::Span<const uint8_t> data) {
  if (std::shared_ptr<Device> device = device_.lock()) {
    device->BarWrite(index_, offset, data);
  }
}

absl::StatusOr<std::shared_ptr<Device>> Device::Create(
    std::shared_ptr<vfio::DeviceBackend> device, const Context& context) {
  const vfio::DeviceInfo& info = device->info();
  if (!info.is_pci() ||
      info.regions.size() <= VFIO_PCI_CONFIG_REGION_INDEX ||
      info.irqs.size() <= VFIO_PCI_MSIX_IRQ_INDEX) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "vfio-pci %s: not a VFIO PCI device (flags 0x%x, %u regions, %u "
        "interrupt indexes); bind it to vfio-pci",
        info.name, info.flags, info.regions.size(), info.irqs.size()));
  }
  // The conventional 256 bytes: the guest sees no extended space (it is
  // emulated as zeros), and each dword read is a config cycle, so the 4 KiB
  // of a PCIe function would cost start-up sixteen times as many.
  const uint64_t config_size = std::min<uint64_t>(
      info.regions[VFIO_PCI_CONFIG_REGION_INDEX].size,
      pci::ConfigSpace::kConventionalSize);
  std::vector<uint8_t> hw(config_size);
  MVM_RETURN_IF_ERROR(Annotate(
      device->ReadRegion(VFIO_PCI_CONFIG_REGION_INDEX, 0, absl::MakeSpan(hw)),
      absl::StrFormat("vfio-pci %s: reading config space", info.name)));
  MVM_ASSIGN_OR_RETURN(VirtualConfig config, VirtualConfig::Create(hw, info));
  MVM_ASSIGN_OR_RETURN(
      std::unique_ptr<HostInterrupts> interrupts,
      HostInterrupts::Create(*device, context.irqs, context.intx_mode));
  std::shared_ptr<Device> out(new Device(std::move(device), context,
                                         std::move(config),
                                         std::move(interrupts)));
  MVM_RETURN_IF_ERROR(out->SetUp());
  return out;
}

absl::Status Device::SetUp() {
  MVM_RETURN_IF_ERROR(MmapBars());
  int fd = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) return LastErrnoError("timerfd_create for vfio-pci INTx");
  mmap_timer_ = UniqueFd(fd);
  std::weak_ptr<Device> self = weak_from_this();
  absl::MutexLock lock(&mu_);
  MVM_ASSIGN_OR_RETURN(intx_watch_,
                       context_.loop.Add(interrupts_->intx_trigger().fd(),
                                         [self](uint32_t) {
                                           if (auto d = self.lock()) {
                                             d->OnIntx();
                                           }
                                         }));
  MVM_ASSIGN_OR_RETURN(timer_watch_,
                       context_.loop.Add(mmap_timer_.get(), [self](uint32_t) {
                         if (auto d = self.lock()) d->OnMmapTimer();
                       }));
  return absl::OkStatus();
}

absl::Status Device::MmapBars() {
  if (!context_.mmap_bars) return absl::OkStatus();
  const vfio::DeviceInfo& info = device_->info();
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  for (int i = 0; i < pci::kNumBars; ++i) {
    const uint32_t region = VFIO_PCI_BAR0_REGION_INDEX + i;
    if (region >= info.regions.size()) break;
    const vfio::RegionInfo& r = info.regions[region];
    if (r.size == 0 || !r.mmappable()) continue;
    // The MSI-X table and PBA stay trapped even where the host lets us map
    // them (msix_mappable): the VMM emulates them.
    std::vector<BarRange> trapped;
    if (msix_ && msix_->table_bar == i) {
      trapped.push_back({msix_->table_offset, msix_table_->table_bytes()});
    }
    if (msix_ && msix_->pba_bar == i) {
      trapped.push_back({msix_->pba_offset, msix_table_->pba_bytes()});
    }
    const std::vector<vfio::MmapArea> areas = r.MmapAreas();
    for (const BarRange& piece : MmapPieces(r.size, areas, trapped, page)) {
      absl::StatusOr<vfio::RegionMapping> map =
          device_->MapRegion(region, piece.offset, piece.size);
      if (!map.ok()) {
        // Still correct, only slower: the piece traps.
        Report(Annotate(map.status(),
                        absl::StrFormat("vfio-pci %s: BAR %d [0x%x, +0x%x) "
                                        "traps instead",
                                        name_, i, piece.offset, piece.size)));
        continue;
      }
      bars_[i].pieces.push_back(Piece{piece, std::move(*map)});
    }
  }
  return absl::OkStatus();
}

Device::~Device() {
  intx_watch_.Reset();
  timer_watch_.Reset();
  {
    absl::MutexLock lock(&mu_);
    interrupts_->Shutdown();
    for (Bar& bar : bars_) bar.slots.clear();
  }
  std::string traps;
  for (int i = 0; i <= pci::kNumBars; ++i) {
    if (!config_.header().bar(i)) continue;
    absl::StrAppendFormat(&traps, " %s%s=%u", i == pci::kRomBar ? "ROM" : "BAR",
                          i == pci::kRomBar ? "" : std::to_string(i),
                          bars_[i].traps.load());
  }
  Message(absl::StrFormat("vfio-pci %s: trapped BAR accesses:%s", name_, traps));
}

void Device::Report(const absl::Status& status) const {
  if (!status.ok()) Message(status.message());
}

void Device::Attach(const pci::PciAddress& address,
                    std::unique_ptr<IrqLine> intx) {
  absl::MutexLock lock(&mu_);
  if (intx == nullptr) return;
  Report(Annotate(interrupts_->AttachIntx(std::move(intx)),
                  absl::StrFormat("vfio-pci %s at %s: INTx", name_,
                                  address.ToString())));
}

void Device::ConfigRead(uint32_t offset, absl::Span<uint8_t> data) {
  absl::MutexLock lock(&mu_);
  std::array<uint8_t, 4> hw;
  hw.fill(0xff);
  const auto device = absl::MakeSpan(hw).subspan(0, data.size());
  if (config_.NeedsDevice(offset, data.size())) {
    absl::Status status =
        device_->ReadRegion(VFIO_PCI_CONFIG_REGION_INDEX, offset, device);
    if (!status.ok()) std::fill(device.begin(), device.end(), 0xff);
  }
  config_.Read(offset, data, device);
}

// The DMA gate (Context::dma_gate). Bus Master Enable is the one way a
// guest lets a function master the bus (PCI Local Bus 3.0 6.2.2): no memory
// read or write of it, MSI included (6.8.1.3), happens while it is clear.
// The other config paths start no DMA: the BARs, the ROM BAR and its enable
// (expansion ROM decode) only decide where the function answers the CPU;
// Memory/IO Space Enable let the CPU reach its registers, and what the guest
// writes there can only start DMA once bus mastering is on; MSI/MSI-X
// enables are VFIO_DEVICE_SET_IRQS calls, and the messages are bus-master
// writes; the capability bodies left to the device (power management, PCI
// Express, vendor-specific) hold power states, link and error control, and
// Function Level Reset, which clears Bus Master Enable.
//
// The guest always reads back what it wrote: Command is emulated in the
// image, whatever reaches the function.
bool SetsBusMaster(uint32_t offset, absl::Span<const uint8_t> data) {
  return offset <= pci::kCommand && pci::kCommand < offset + data.size() &&
         (data[pci::kCommand - offset] & pci::kCommandBusMaster) != 0;
}

void Device::BeforeConfigWrite(uint32_t offset,
                               absl::Span<const uint8_t> data) {
  // The writing vCPU waits here, outside every lock: the event loop, other
  // vCPUs and this device's interrupts go on meanwhile.
  if (context_.dma_gate != nullptr && SetsBusMaster(offset, data) &&
      !context_.dma_gate->open()) {
    (void)context_.dma_gate->Wait();
  }
}

pci::ConfigWriteResult Device::ConfigWrite(uint32_t offset,
                                           absl::Span<const uint8_t> data) {
  absl::MutexLock lock(&mu_);
  VirtualConfig::WriteEffects effects =
      config_.Write(offset, data, msix_table_ ? &*msix_table_ : nullptr);
  for (VirtualConfig::DeviceWrite& w : effects.device) {
    // The gate did not open (mapping failed, or the VM is ending): the
    // function never sees bus mastering on.
    if (context_.dma_gate != nullptr && SetsBusMaster(w.offset, w.data) &&
        !context_.dma_gate->open()) {
      w.data[pci::kCommand - w.offset] &=
          static_cast<uint8_t>(~pci::kCommandBusMaster);
    }
    Report(device_->WriteRegion(VFIO_PCI_CONFIG_REGION_INDEX, w.offset,
                                w.data));
  }
  Report(interrupts_->ApplyMsi(effects.msi));
  Report(interrupts_->ApplyMsix(effects.msix));
  AfterInterruptChange();
  return std::move(effects.bars);
}

void Device::AfterInterruptChange() {
  // INTx went off (MSI or MSI-X on): nothing is pending any more, and the
  // mmaps need not stay off.
  if (interrupts_->active() != HostInterrupts::Active::kIntx &&
      intx_pending_.exchange(false)) {
    SetMmapsEnabled(true);
  }
}

absl::Status Device::MapBar(const pci::BarRegion& bar, Bus& bus) {
  if (bar.index < 0 || bar.index > pci::kRomBar) {
    return absl::InvalidArgumentError("vfio-pci: no such BAR");
  }
  absl::MutexLock lock(&mu_);
  // The trap covers the whole BAR; memslots on top take the accesses they
  // cover away from it.
  MVM_RETURN_IF_ERROR(bus.Register(
      bar.address, bar.size, std::make_shared<BarTrap>(weak_from_this(), bar.index),
      bar.index == pci::kRomBar
          ? absl::StrFormat("vfio %s ROM", name_)
          : absl::StrFormat("vfio %s BAR %d", name_, bar.index)));
  Bar& b = bars_[bar.index];
  b.at = bar;
  if (!bar.io && mmaps_enabled_) MapSlots(bar.index);
  return absl::OkStatus();
}

absl::Status Device::UnmapBar(const pci::BarRegion& bar, Bus& bus) {
  if (bar.index < 0 || bar.index > pci::kRomBar) {
    return absl::InvalidArgumentError("vfio-pci: no such BAR");
  }
  absl::MutexLock lock(&mu_);
  Bar& b = bars_[bar.index];
  b.slots.clear();
  b.at.reset();
  return bus.Unregister(bar.address);
}

void Device::MapSlots(int index) {
  Bar& b = bars_[index];
  if (!b.at || !b.slots.empty()) return;
  for (Piece& piece : b.pieces) {
    absl::StatusOr<std::unique_ptr<GuestMapping>> slot = context_.mapper.Map(
        b.at->address + piece.range.offset, piece.range.size, piece.map.data());
    if (!slot.ok()) {
      // The rest of the BAR traps: correct, only slower.
      Report(Annotate(slot.status(),
                      absl::StrFormat("vfio-pci %s: BAR %d [0x%x, +0x%x) at "
                                      "0x%x traps instead",
                                      name_, index, piece.range.offset,
                                      piece.range.size, b.at->address)));
      continue;
    }
    b.slots.push_back(std::move(*slot));
  }
}

void Device::SetMmapsEnabled(bool enabled) {
  if (enabled == mmaps_enabled_) return;
  mmaps_enabled_ = enabled;
  for (int i = 0; i < pci::kNumBars; ++i) {
    if (enabled) {
      if (bars_[i].at && !bars_[i].at->io) MapSlots(i);
    } else {
      bars_[i].slots.clear();
    }
  }
}

// Userspace INTx: any BAR access counts as the driver servicing the
// interrupt (we cannot tell which one does), so after it the line goes low
// and VFIO unmasks; a device still asserting INTx fires again. After the
// access, as QEMU's vfio_region_read/write do: an acknowledging write has
// reached the device by then, so it does not fire again at once.
void Device::BarRead(int index, uint64_t offset, absl::Span<uint8_t> data) {
  bars_[index].traps.fetch_add(1, std::memory_order_relaxed);
  ReadTrapped(index, offset, data);
  if (intx_pending_.load()) EndIntx();
}

void Device::BarWrite(int index, uint64_t offset,
                      absl::Span<const uint8_t> data) {
  bars_[index].traps.fetch_add(1, std::memory_order_relaxed);
  WriteTrapped(index, offset, data);
  if (intx_pending_.load()) EndIntx();
}

void Device::ReadTrapped(int index, uint64_t offset,
                         absl::Span<uint8_t> data) {
  if (index == pci::kRomBar) {
    if (!device_->ReadRegion(VFIO_PCI_ROM_REGION_INDEX, offset, data).ok()) {
      std::fill(data.begin(), data.end(), 0xff);
    }
    return;
  }
  if (InTable(index, offset, data.size())) {
    absl::MutexLock lock(&mu_);
    msix_table_->ReadTable(offset - msix_->table_offset, data);
    return;
  }
  if (InPba(index, offset, data.size())) {
    absl::MutexLock lock(&mu_);
    const uint64_t at = offset - msix_->pba_offset;
    msix_table_->ReadPba(at, data);
    // A masked vector's interrupt waits in its eventfd, not in the table:
    // show it as pending (6.8.2.10).
    for (size_t byte = 0; byte < data.size(); ++byte) {
      for (uint32_t bit = 0; bit < 8; ++bit) {
        const uint64_t v = (at + byte) * 8 + bit;
        if (v < msix_table_->size() && !msix_table_->Delivers(v) &&
            interrupts_->MsixPending(v)) {
          data[byte] |= 1 << bit;
        }
      }
    }
    return;
  }
  absl::Status status = device_->ReadRegion(
      VFIO_PCI_BAR0_REGION_INDEX + index, offset, data);
  if (!status.ok()) std::fill(data.begin(), data.end(), 0xff);
}

void Device::WriteTrapped(int index, uint64_t offset,
                          absl::Span<const uint8_t> data) {
  if (index == pci::kRomBar) return;  // read-only
  if (InTable(index, offset, data.size())) {
    absl::MutexLock lock(&mu_);
    Report(interrupts_->ApplyMsix(
        msix_table_->WriteTable(offset - msix_->table_offset, data)));
    return;
  }
  if (InPba(index, offset, data.size())) return;  // read-only
  (void)device_->WriteRegion(VFIO_PCI_BAR0_REGION_INDEX + index, offset, data);
}

void Device::OnIntx() {
  absl::MutexLock lock(&mu_);
  (void)interrupts_->intx_trigger().Consume();
  if (interrupts_->intx_mode() != IntxMode::kUserspace ||
      interrupts_->active() != HostInterrupts::Active::kIntx) {
    return;
  }
  // VFIO masked the device's INTx before signalling. Raise the pin and
  // make BAR accesses trap, so the driver's first access (reading or
  // acking its interrupt status) tells us the interrupt was handled.
  if (!intx_pending_.exchange(true)) interrupts_->intx_line()->Set(true);
  SetMmapsEnabled(false);
  ArmMmapTimer();
}

void Device::EndIntx() {
  absl::MutexLock lock(&mu_);
  if (!intx_pending_.exchange(false)) return;
  if (IrqLine* line = interrupts_->intx_line()) line->Set(false);
  // If the device still asserts INTx, VFIO signals again at once.
  Report(interrupts_->UnmaskIntx());
}

void Device::ArmMmapTimer() const {
  // Timeout 0: the mmaps stay off for good (QEMU x-intx-mmap-timeout-ms=0).
  if (context_.intx_mmap_timeout_ms <= 0) return;
  itimerspec spec = {};
  spec.it_value.tv_sec = context_.intx_mmap_timeout_ms / 1000;
  spec.it_value.tv_nsec =
      static_cast<long>(context_.intx_mmap_timeout_ms % 1000) * 1000000;
  (void)::timerfd_settime(mmap_timer_.get(), 0, &spec, nullptr);
}

void Device::OnMmapTimer() {
  uint64_t expirations;
  (void)!::read(mmap_timer_.get(), &expirations, sizeof(expirations));
  absl::MutexLock lock(&mu_);
  if (intx_pending_.load()) {
    ArmMmapTimer();  // still waiting for the guest
    return;
  }
  SetMmapsEnabled(true);
}

absl::Status Device::Reset() {
  absl::MutexLock lock(&mu_);
  // The emulated capabilities go back to disabled; the host side is turned
  // off in order (MSI-X, MSI, INTx) rather than by applying the actions,
  // which would turn INTx back on in between.
  (void)config_.DisableInterrupts(msix_table_ ? &*msix_table_ : nullptr);
  interrupts_->Shutdown();
  intx_pending_ = false;
  SetMmapsEnabled(true);
  // No more DMA or decode before the reset, and after it where the function
  // cannot be reset (as QEMU's vfio_pci_pre_reset): the device
  // stays open across a reboot in place, so closing its fd, which makes
  // vfio-pci clear bus mastering, no longer does it.
  uint8_t command[2] = {};
  if (device_->ReadRegion(VFIO_PCI_CONFIG_REGION_INDEX, pci::kCommand,
                          absl::MakeSpan(command))
          .ok()) {
    uint16_t value = static_cast<uint16_t>(command[0] | (command[1] << 8));
    // What a function reset leaves. (Not INTx Disable: vfio-pci takes it as
    // the user masking INTx, which would outlive this VM's use of it.)
    value &= static_cast<uint16_t>(
        ~(pci::kCommandIo | pci::kCommandMemory | pci::kCommandBusMaster));
    command[0] = static_cast<uint8_t>(value);
    command[1] = static_cast<uint8_t>(value >> 8);
    (void)device_->WriteRegion(VFIO_PCI_CONFIG_REGION_INDEX, pci::kCommand,
                               absl::MakeConstSpan(command));
  }
  absl::Status status =
      device_->info().can_reset()
          ? device_->Reset()
          : absl::FailedPreconditionError(absl::StrFormat(
                "vfio-pci %s: the device has no reset method (VFIO reports "
                "no VFIO_DEVICE_FLAGS_RESET); its interrupts are off",
                name_));
  absl::Status intx = interrupts_->Restart();
  return status.ok() ? intx : status;
}

}  // namespace

absl::StatusOr<std::shared_ptr<pci::PciDevice>> MakeVfioPciDevice(
    std::shared_ptr<vfio::DeviceBackend> device, const Context& context) {
  if (device == nullptr) {
    return absl::InvalidArgumentError("vfio-pci: no device");
  }
  MVM_ASSIGN_OR_RETURN(std::shared_ptr<Device> out,
                       Device::Create(std::move(device), context));
  return std::shared_ptr<pci::PciDevice>(std::move(out));
}

}  // namespace microvm::vfio_pci
