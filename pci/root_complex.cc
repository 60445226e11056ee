// SPDX-License-Identifier: Apache-2.0
#include "pci/root_complex.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/strings/str_format.h"
#include "base/messages.h"
#include "base/status.h"
#include "pci/config_space.h"

namespace microvm::pci {
namespace {

// CONFIG_ADDRESS (PCI Local Bus 3.0 3.2.2.3.2): enable in bit 31, bus in
// 23:16, device in 15:11, function in 10:8, dword register in 7:2. Bits
// 30:24 are reserved and 1:0 are 0 for type-0 cycles; neither is kept.
constexpr uint32_t kConfigEnable = 1u << 31;
constexpr uint32_t kConfigAddressMask = 0x80fffffc;

class HostBridge final : public PciDevice {
 public:
  HostBridge()
      : header_(PciIds{PciRoot::kHostBridgeVendor, PciRoot::kHostBridgeDevice,
                       0x060000},  // bridge, host bridge
                IntxPin::kNone) {}
  void ConfigRead(uint32_t offset, absl::Span<uint8_t> data) override {
    header_.Read(offset, data);
  }
  ConfigWriteResult ConfigWrite(uint32_t offset,
                                absl::Span<const uint8_t> data) override {
    return header_.Write(offset, data);
  }

 private:
  PciHeader header_;
};

}  // namespace

// Ports 0xCF8-0xCFF. Only a dword access at 0xCF8 is CONFIG_ADDRESS
// (3.2.2.3.2); other accesses to 0xCF8-0xCFB are not config cycles and
// read all-ones. 0xCFC-0xCFF is CONFIG_DATA at any byte offset and size
// that stays inside it.
class PciRoot::ConfigPorts final : public BusDevice {
 public:
  explicit ConfigPorts(PciRoot* root) : root_(root) {}

  void Read(uint64_t offset, absl::Span<uint8_t> data) override {
    std::fill(data.begin(), data.end(), 0xff);
    absl::MutexLock lock(&root_->mu_);
    if (offset == 0 && data.size() == 4) {
      const uint32_t value = root_->config_address_;
      std::memcpy(data.data(), &value, 4);
      return;
    }
    // Only config cycles wait (see HoldConfigAccess): not the rest of
    // 0xCF8-0xCFB (Linux probes 0xCFB bytewise). The address is decoded
    // first: guests serialize CF8/CFC pairs (Linux's pci_config_lock).
    PciAddress address;
    uint32_t reg = 0;
    if (DataAccess(offset, data.size(), &address, &reg) &&
        root_->AwaitAccess()) {
      root_->ReadLocked(address, reg, data);
    }
  }

  void Write(uint64_t offset, absl::Span<const uint8_t> data) override {
    PciAddress address;
    uint32_t reg = 0;
    {
      absl::MutexLock lock(&root_->mu_);
      if (offset == 0 && data.size() == 4) {
        uint32_t value = 0;
        std::memcpy(&value, data.data(), 4);
        root_->config_address_ = value & kConfigAddressMask;
        return;
      }
      if (!DataAccess(offset, data.size(), &address, &reg)) return;
    }
    // The function CONFIG_ADDRESS named when the access came, even if
    // another vCPU rewrites it meanwhile (guests serialize CF8/CFC pairs
    // themselves; Linux's pci_config_lock). ConfigWrite waits while held.
    root_->ConfigWrite(address, reg, data);
  }

 private:
  bool DataAccess(uint64_t offset, size_t size, PciAddress* address,
                  uint32_t* reg) ABSL_EXCLUSIVE_LOCKS_REQUIRED(root_->mu_) {
    if (offset < 4 || offset - 4 + size > 4) return false;
    const uint32_t latch = root_->config_address_;
    if (!(latch & kConfigEnable)) return false;
    address->bus = (latch >> 16) & 0xff;
    address->device = (latch >> 11) & 0x1f;
    address->function = (latch >> 8) & 0x7;
    *reg = (latch & 0xfc) + static_cast<uint32_t>(offset - 4);
    return true;
  }

  PciRoot* const root_;
};

// ECAM: offset = bus << 20 | device << 15 | function << 12 | register.
// Accesses must be naturally aligned (PCIe 3.0 7.2.2: a config request
// never crosses a dword, and x86 hosts issue aligned ones); others read
// all-ones and are dropped.
class PciRoot::Ecam final : public BusDevice {
 public:
  explicit Ecam(PciRoot* root) : root_(root) {}

  void Read(uint64_t offset, absl::Span<uint8_t> data) override {
    PciAddress address;
    uint32_t reg = 0;
    if (!Decode(offset, data.size(), &address, &reg)) {
      std::fill(data.begin(), data.end(), 0xff);
      return;
    }
    root_->ConfigRead(address, reg, data);
  }

  void Write(uint64_t offset, absl::Span<const uint8_t> data) override {
    PciAddress address;
    uint32_t reg = 0;
    if (Decode(offset, data.size(), &address, &reg)) {
      root_->ConfigWrite(address, reg, data);
    }
  }

 private:
  static bool Decode(uint64_t offset, size_t size, PciAddress* address,
                     uint32_t* reg) {
    if ((size != 1 && size != 2 && size != 4) || offset % size != 0) {
      return false;
    }
    address->bus = (offset >> kEcamBusShift) & 0xff;
    address->device = (offset >> 15) & 0x1f;
    address->function = (offset >> 12) & 0x7;
    *reg = offset & 0xfff;
    return true;
  }

  PciRoot* const root_;
};

PciRoot::PciRoot(Bus& pio, Bus& mmio, InterruptController& interrupts,
                 const Options& options)
    : pio_(pio), mmio_(mmio), interrupts_(interrupts), options_(options) {}

absl::StatusOr<std::unique_ptr<PciRoot>> PciRoot::Create(
    Bus& pio, Bus& mmio, InterruptController& interrupts,
    const Options& options) {
  if (options.ecam_buses == 0 || options.ecam_buses > 256) {
    return absl::InvalidArgumentError(
        absl::StrFormat("PCI root: %u ECAM buses requested; it must be 1-256",
                        options.ecam_buses));
  }
  std::unique_ptr<PciRoot> root(new PciRoot(pio, mmio, interrupts, options));
  MVM_RETURN_IF_ERROR(
      Annotate(pio.Register(kConfigAddressPort, kConfigPortCount,
                            std::make_shared<ConfigPorts>(root.get()),
                            "PCI config ports"),
               "registering PCI config ports 0xCF8-0xCFF"));
  root->ports_registered_ = true;
  MVM_RETURN_IF_ERROR(
      Annotate(mmio.Register(options.ecam_base, root->ecam_size(),
                             std::make_shared<Ecam>(root.get()), "PCI ECAM"),
               "registering PCI ECAM"));
  root->ecam_registered_ = true;
  absl::MutexLock lock(&root->mu_);
  MVM_RETURN_IF_ERROR(root->PutDevice(0, std::make_shared<HostBridge>()));
  return root;
}

PciRoot::~PciRoot() {
  if (ports_registered_) pio_.Unregister(kConfigAddressPort).IgnoreError();
  if (ecam_registered_) mmio_.Unregister(options_.ecam_base).IgnoreError();
  absl::MutexLock lock(&mu_);
  for (Slot& slot : slots_) {
    for (auto& bar : slot.mapped) {
      if (bar) slot.device->UnmapBar(*bar, BusFor(*bar)).IgnoreError();
      bar.reset();
    }
  }
}

absl::StatusOr<PciAddress> PciRoot::AddDevice(std::shared_ptr<PciDevice> device,
                                              std::optional<uint8_t> slot) {
  if (device == nullptr) {
    return absl::InvalidArgumentError("PCI root: AddDevice without a device");
  }
  absl::MutexLock lock(&mu_);
  if (!slot) {
    for (uint8_t s = 1; s < kSlots; ++s) {
      if (slots_[s].device == nullptr && !slots_[s].reserved) {
        slot = s;
        break;
      }
    }
    if (!slot) {
      return absl::ResourceExhaustedError(
          "PCI root: all 31 slots of bus 0 are taken; remove a device");
    }
  }
  if (*slot == 0 || *slot >= kSlots) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "PCI root: slot %u is not in 1-31 (0 is the host bridge)", *slot));
  }
  if (slots_[*slot].device != nullptr) {
    return absl::AlreadyExistsError(absl::StrFormat(
        "PCI root: slot %u is already taken; pick a free one or let microvm "
        "choose",
        *slot));
  }
  MVM_RETURN_IF_ERROR(PutDevice(*slot, std::move(device)));
  return PciAddress{0, *slot, 0};
}

absl::StatusOr<uint8_t> PciRoot::ReserveSlot(std::optional<uint8_t> pin) {
  if (pin.has_value() && *pin > 4) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "PCI root: INTx pin %u to reserve; it must be 0 (none) or 1-4", *pin));
  }
  absl::MutexLock lock(&mu_);
  for (uint8_t s = 1; s < kSlots; ++s) {
    if (slots_[s].device != nullptr || slots_[s].reserved) continue;
    slots_[s].reserved = true;
    for (uint8_t p = 0; p < 4; ++p) {
      if (!pin.has_value() || *pin == p + 1) {
        routes_.push_back(IntxRoute{s, p, IntxGsi(s, p)});
      }
    }
    return s;
  }
  return absl::ResourceExhaustedError(
      "PCI root: all 31 slots of bus 0 are taken; remove a device");
}

void PciRoot::HoldConfigAccess() {
  absl::MutexLock lock(&mu_);
  held_ = true;
}

void PciRoot::ReleaseConfigAccess() {
  absl::MutexLock lock(&mu_);
  held_ = false;
}

void PciRoot::AbortConfigAccess() {
  absl::MutexLock lock(&mu_);
  aborted_ = true;
  held_ = false;
}

PciRoot::HoldCounts PciRoot::hold_counts() const {
  absl::MutexLock lock(&mu_);
  return hold_counts_;
}

bool PciRoot::AwaitAccess() {
  if (held_) {
    // Counted as the wait begins: a test can see that a vCPU waits.
    ++hold_counts_.waits;
    const absl::Time start = absl::Now();
    mu_.Await(absl::Condition(
        +[](bool* held) { return !*held; }, &held_));
    hold_counts_.waited += absl::Now() - start;
  }
  return !aborted_;
}

absl::Status PciRoot::PutDevice(uint8_t slot,
                                std::shared_ptr<PciDevice> device) {
  const PciAddress address{0, slot, 0};
  uint8_t pin = 0;
  device->ConfigRead(kInterruptPin, absl::MakeSpan(&pin, 1));
  if (pin > 4) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "PCI %s: Interrupt Pin register is %u; it must be 0 (none) or 1-4 "
        "(INTA-INTD)",
        address.ToString(), pin));
  }
  std::unique_ptr<IrqLine> intx;
  if (pin != 0) {
    const uint32_t gsi = IntxGsi(slot, pin - 1);
    MVM_ASSIGN_OR_RETURN(intx, IntxSource(gsi));
    // The OS may use Interrupt Line as the IRQ when it has no routing
    // table; firmware fills it in (PCI 3.0 6.2.4).
    const uint8_t line = static_cast<uint8_t>(gsi);
    device->ConfigWrite(kInterruptLine, absl::MakeConstSpan(&line, 1));
    // A reserved slot's pins were all routed when it was reserved.
    if (!slots_[slot].reserved) {
      routes_.push_back(IntxRoute{slot, static_cast<uint8_t>(pin - 1), gsi});
    }
  }
  device->address_ = address;
  device->Attach(address, std::move(intx));
  slots_[slot] = Slot{std::move(device)};
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<IrqLine>> PciRoot::IntxSource(uint32_t gsi) {
  std::unique_ptr<SharedIrqLine>& shared = intx_lines_[gsi - kFirstIntxGsi];
  if (shared == nullptr) {
    auto line = interrupts_.MakeIrqLine(gsi);
    if (!line.ok()) {
      return Annotate(line.status(),
                      absl::StrFormat("making PCI INTx line GSI %u", gsi));
    }
    shared = std::make_unique<SharedIrqLine>(std::move(*line));
  }
  return shared->NewSource();
}

std::vector<IntxRoute> PciRoot::intx_routes() const {
  absl::MutexLock lock(&mu_);
  return routes_;
}

PciDevice* PciRoot::Find(const PciAddress& address) {
  if (address.bus != 0 || address.function != 0 || address.device >= kSlots) {
    return nullptr;
  }
  return slots_[address.device].device.get();
}

void PciRoot::ConfigRead(const PciAddress& address, uint32_t reg,
                         absl::Span<uint8_t> data) {
  absl::MutexLock lock(&mu_);
  if (!AwaitAccess()) {
    std::fill(data.begin(), data.end(), 0xff);
    return;
  }
  ReadLocked(address, reg, data);
}

void PciRoot::ConfigWrite(const PciAddress& address, uint32_t reg,
                          absl::Span<const uint8_t> data) {
  PciDevice* device = nullptr;
  {
    absl::MutexLock lock(&mu_);
    if (!AwaitAccess()) return;
    device = Find(address);
  }
  // Devices are never removed, so the pointer stays good unlocked.
  if (device != nullptr && ConfigSpace::ValidAccess(reg, data.size())) {
    device->BeforeConfigWrite(reg, data);
  }
  absl::MutexLock lock(&mu_);
  if (aborted_) return;  // the VM ended while the write waited at a gate
  WriteLocked(address, reg, data).IgnoreError();  // logged
}

void PciRoot::ReadLocked(const PciAddress& address, uint32_t reg,
                         absl::Span<uint8_t> data) {
  PciDevice* device = Find(address);
  if (device == nullptr || !ConfigSpace::ValidAccess(reg, data.size())) {
    // No function answers: the host bridge completes with all-ones
    // (master abort, PCI 3.0 6.1).
    std::fill(data.begin(), data.end(), 0xff);
    return;
  }
  device->ConfigRead(reg, data);
}

absl::Status PciRoot::WriteLocked(const PciAddress& address, uint32_t reg,
                                  absl::Span<const uint8_t> data) {
  PciDevice* device = Find(address);
  if (device == nullptr || !ConfigSpace::ValidAccess(reg, data.size())) {
    return absl::OkStatus();
  }
  return ApplyBarChanges(address.device, device->ConfigWrite(reg, data));
}

absl::Status PciRoot::ApplyBarChanges(uint8_t slot_index,
                                      const ConfigWriteResult& result) {
  Slot& slot = slots_[slot_index];
  absl::Status first_error;
  for (const BarChange& change : result.bar_changes) {
    if (change.index < 0 || change.index > kRomBar) continue;
    std::optional<BarRegion>& mapped = slot.mapped[change.index];
    const std::string name = absl::StrFormat(
        "PCI %s %s", PciAddress{0, slot_index, 0}.ToString(),
        change.index == kRomBar ? std::string("ROM")
                                : absl::StrFormat("BAR %d", change.index));
    if (mapped) {
      absl::Status status = slot.device->UnmapBar(*mapped, BusFor(*mapped));
      if (!status.ok()) {
        Message(absl::StrFormat("%s: unmapping [0x%x, +0x%x): %s", name,
                            mapped->address, mapped->size, status.ToString()));
      }
      mapped.reset();
    }
    if (!change.after) continue;
    const BarRegion& bar = *change.after;
    absl::Status status = slot.device->MapBar(bar, BusFor(bar));
    if (status.ok()) {
      mapped = bar;
      slot.failure_logged[change.index] = false;
      continue;
    }
    // Typically the guest put the BAR over something else. The BAR stays
    // unmapped (its accesses go nowhere) until the guest moves it again.
    status = Annotate(
        status,
        absl::StrFormat("%s: mapping %s [0x%x, +0x%x); left unmapped", name,
                        bar.io ? "I/O" : "memory", bar.address, bar.size));
    if (!slot.failure_logged[change.index]) {
      Message(status.message());
      slot.failure_logged[change.index] = true;
    }
    if (first_error.ok()) first_error = status;
  }
  return first_error;
}

uint32_t PciRoot::Read32(uint8_t slot, uint32_t reg) {
  uint32_t value = 0;
  ReadLocked(PciAddress{0, slot, 0}, reg,
             absl::MakeSpan(reinterpret_cast<uint8_t*>(&value), 4));
  return value;
}

absl::Status PciRoot::Write32(uint8_t slot, uint32_t reg, uint32_t value) {
  return WriteLocked(
      PciAddress{0, slot, 0}, reg,
      absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(&value), 4));
}

absl::Status PciRoot::AssignBars(const BarWindows& windows) {
  absl::MutexLock lock(&mu_);
  // Size every BAR the way firmware does (6.2.5.1): decode off, write
  // all-ones, read back, restore.
  std::vector<BarRequest> requests;
  std::array<uint32_t, kSlots> commands = {};
  for (uint8_t s = 1; s < kSlots; ++s) {
    if (slots_[s].device == nullptr) continue;
    commands[s] = Read32(s, kCommand) & 0xffff;
    const uint32_t off = commands[s] & ~uint32_t{kCommandIo | kCommandMemory};
    MVM_RETURN_IF_ERROR(Write32(s, kCommand, off));
    for (int i = 0; i < kNumBars; ++i) {
      const uint32_t reg = kBar0 + 4 * i;
      const uint32_t saved = Read32(s, reg);
      MVM_RETURN_IF_ERROR(Write32(s, reg, ~0u));
      const uint32_t sized = Read32(s, reg);
      MVM_RETURN_IF_ERROR(Write32(s, reg, saved));
      if (sized == 0) continue;
      BarRequest bar{PciAddress{0, s, 0}, i};
      if (sized & 1) {
        bar.type = BarType::kIo;
        bar.size = (~(sized & ~3u) + 1) & 0xffff;
      } else if (((sized >> 1) & 3) == 2 && i + 1 < kNumBars) {
        const uint32_t saved_hi = Read32(s, reg + 4);
        MVM_RETURN_IF_ERROR(Write32(s, reg + 4, ~0u));
        const uint64_t sized_hi = Read32(s, reg + 4);
        MVM_RETURN_IF_ERROR(Write32(s, reg + 4, saved_hi));
        bar.type = BarType::kMemory64;
        bar.size = ~((sized_hi << 32) | (sized & ~0xfu)) + 1;
        ++i;
      } else {
        bar.type = BarType::kMemory32;
        bar.size = uint32_t{~(sized & ~0xfu) + 1};
      }
      if (bar.size != 0) requests.push_back(bar);
    }
  }

  MVM_ASSIGN_OR_RETURN(std::vector<uint64_t> addresses,
                       PlaceBars(requests, windows));

  std::array<uint32_t, kSlots> enable = {};
  for (size_t n = 0; n < requests.size(); ++n) {
    const BarRequest& bar = requests[n];
    const uint8_t s = bar.device.device;
    const uint32_t reg = kBar0 + 4 * bar.index;
    MVM_RETURN_IF_ERROR(Write32(s, reg, static_cast<uint32_t>(addresses[n])));
    if (bar.type == BarType::kMemory64) {
      MVM_RETURN_IF_ERROR(
          Write32(s, reg + 4, static_cast<uint32_t>(addresses[n] >> 32)));
    }
    enable[s] |= bar.type == BarType::kIo ? kCommandIo : kCommandMemory;
  }
  // Decode on: this maps the BARs through the usual write path.
  for (uint8_t s = 1; s < kSlots; ++s) {
    if (slots_[s].device == nullptr) continue;
    MVM_RETURN_IF_ERROR(Write32(s, kCommand, commands[s] | enable[s]));
  }
  return absl::OkStatus();
}

}  // namespace microvm::pci
