// SPDX-License-Identifier: Apache-2.0
#include "devices/pci_test_device.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_format.h"
#include "base/status.h"
#include "pci/config_space.h"

namespace microvm {
namespace {

uint32_t Load32(absl::Span<const uint8_t> data) {
  uint32_t value = 0;
  std::memcpy(&value, data.data(), 4);
  return value;
}

void Store32(uint32_t value, absl::Span<uint8_t> data) {
  std::memcpy(data.data(), &value, 4);
}

// The expansion ROM image: header, PCI Data Structure, pattern.
std::array<uint8_t, PciTestDevice::kRomSize> MakeRom() {
  std::array<uint8_t, PciTestDevice::kRomSize> rom = {};
  // ROM header (PCI Firmware 3.0 5.1.1): signature, then at 0x18 the
  // offset of the PCI Data Structure.
  rom[0] = 0x55;
  rom[1] = 0xaa;
  rom[0x18] = PciTestDevice::kRomPcirOffset & 0xff;
  rom[0x19] = PciTestDevice::kRomPcirOffset >> 8;
  // PCI Data Structure (5.1.2).
  uint8_t* pcir = rom.data() + PciTestDevice::kRomPcirOffset;
  std::memcpy(pcir, "PCIR", 4);
  pcir[0x04] = PciTestDevice::kVendorId & 0xff;
  pcir[0x05] = PciTestDevice::kVendorId >> 8;
  pcir[0x06] = PciTestDevice::kDeviceId & 0xff;
  pcir[0x07] = PciTestDevice::kDeviceId >> 8;
  pcir[0x0a] = 0x18;  // structure length
  pcir[0x0c] = 3;     // structure revision
  pcir[0x0d] = PciTestDevice::kClassCode & 0xff;
  pcir[0x0e] = (PciTestDevice::kClassCode >> 8) & 0xff;
  pcir[0x0f] = PciTestDevice::kClassCode >> 16;
  pcir[0x10] = PciTestDevice::kRomSize / 512;  // image length, 512-byte units
  // Code type: none of the defined ones (0 x86, 1 Open Firmware, 2
  // PA-RISC, 3 EFI), so no firmware tries to run the pattern as code.
  pcir[0x14] = 0xff;
  pcir[0x15] = 0x80;  // last image
  for (uint32_t i = PciTestDevice::kRomPatternOffset; i < rom.size(); ++i) {
    rom[i] = static_cast<uint8_t>(i * 31 + 7);
  }
  return rom;
}

}  // namespace

// One BAR (or the ROM) on a bus. Holds the device, so an access in flight
// keeps it alive even if the BAR is unmapped concurrently.
class PciTestDevice::Handler final : public BusDevice {
 public:
  Handler(std::shared_ptr<PciTestDevice> device, int bar)
      : device_(std::move(device)), bar_(bar) {}
  void Read(uint64_t offset, absl::Span<uint8_t> data) override {
    device_->BarRead(bar_, offset, data);
  }
  void Write(uint64_t offset, absl::Span<const uint8_t> data) override {
    device_->BarWrite(bar_, offset, data);
  }

 private:
  const std::shared_ptr<PciTestDevice> device_;
  const int bar_;
};

absl::StatusOr<std::shared_ptr<PciTestDevice>> PciTestDevice::Create(
    InterruptController& interrupts) {
  pci::PciHeader header(
      pci::PciIds{.vendor_id = kVendorId,
                  .device_id = kDeviceId,
                  .class_code = kClassCode,
                  .revision_id = 1,
                  .subsystem_vendor_id = kVendorId,
                  .subsystem_id = kDeviceId},
      pci::IntxPin::kIntA);
  MVM_RETURN_IF_ERROR(header.AddBar(
      kRegsBar, {pci::BarType::kMemory32, kRegsSize, /*prefetchable=*/false}));
  MVM_RETURN_IF_ERROR(
      header.AddBar(kIoBar, {pci::BarType::kIo, kIoSize, false}));
  MVM_RETURN_IF_ERROR(header.AddBar(
      kScratchBar, {pci::BarType::kMemory64, kScratchSize, true}));
  MVM_RETURN_IF_ERROR(header.AddBar(
      kMsixBar, {pci::BarType::kMemory32, kMsixBarSize, false}));
  MVM_RETURN_IF_ERROR(header.AddRom(kRomSize));
  MVM_ASSIGN_OR_RETURN(
      pci::MsiCapability msi,
      pci::MsiCapability::Add(header.config(),
                              {.vectors = kMsiVectors,
                               .address64 = true,
                               .per_vector_mask = true}));
  MVM_ASSIGN_OR_RETURN(
      pci::MsixCapability msix,
      pci::MsixCapability::Add(header.config(),
                               {.table_size = kMsixVectors,
                                .table_bar = kMsixBar,
                                .table_offset = kMsixTableOffset,
                                .pba_bar = kMsixBar,
                                .pba_offset = kMsixPbaOffset}));
  return std::shared_ptr<PciTestDevice>(new PciTestDevice(
      interrupts, std::move(header), std::move(msi), std::move(msix)));
}

PciTestDevice::PciTestDevice(InterruptController& interrupts,
                             pci::PciHeader header, pci::MsiCapability msi,
                             pci::MsixCapability msix)
    : interrupts_(interrupts),
      header_(std::move(header)),
      msi_(std::move(msi)),
      msix_cap_(std::move(msix)),
      msix_table_(kMsixVectors),
      msi_vectors_(kMsiVectors),
      msix_vectors_(kMsixVectors),
      scratch_ram_(kScratchSize),
      rom_(MakeRom()) {}

void PciTestDevice::Attach(const pci::PciAddress&,
                           std::unique_ptr<IrqLine> intx) {
  absl::MutexLock lock(&mu_);
  intx_ = std::move(intx);
  intx_line_ = false;
  UpdateIntx();
}

void PciTestDevice::ConfigRead(uint32_t offset, absl::Span<uint8_t> data) {
  absl::MutexLock lock(&mu_);
  header_.Read(offset, data);
}

pci::ConfigWriteResult PciTestDevice::ConfigWrite(
    uint32_t offset, absl::Span<const uint8_t> data) {
  absl::MutexLock lock(&mu_);
  pci::ConfigWriteResult result = header_.Write(offset, data);
  if (msi_.Overlaps(offset, data.size())) {
    Apply(msi_.Update(header_.config()), msi_vectors_, "MSI");
  }
  if (msix_cap_.Overlaps(offset, data.size())) {
    Apply(msix_cap_.Update(header_.config(), msix_table_), msix_vectors_,
          "MSI-X");
  }
  // Command.INTx_DISABLE or an MSI/MSI-X enable may gate the line.
  UpdateIntx();
  return result;
}

std::shared_ptr<BusDevice> PciTestDevice::BarHandler(int index) {
  if (index != kRegsBar && index != kIoBar && index != kScratchBar &&
      index != kMsixBar && index != pci::kRomBar) {
    return nullptr;
  }
  return std::make_shared<Handler>(shared_from_this(), index);
}

size_t PciTestDevice::host_vectors() const {
  absl::MutexLock lock(&mu_);
  size_t n = 0;
  for (const auto& v : msi_vectors_) n += v != nullptr;
  for (const auto& v : msix_vectors_) n += v != nullptr;
  return n;
}

void PciTestDevice::BarRead(int bar, uint64_t offset,
                            absl::Span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0);
  absl::MutexLock lock(&mu_);
  switch (bar) {
    case kRegsBar:
    case kIoBar: {
      const uint64_t size = bar == kRegsBar ? kRegsSize : kIoSize;
      if (data.size() == 4 && offset % 4 == 0 && offset < size) {
        Store32(RegRead(offset), data);
      }
      return;
    }
    case kScratchBar:
      if (offset < kScratchSize && data.size() <= kScratchSize - offset) {
        std::memcpy(data.data(), scratch_ram_.data() + offset, data.size());
      }
      return;
    case kMsixBar:
      if (offset >= kMsixPbaOffset) {
        msix_table_.ReadPba(offset - kMsixPbaOffset, data);
      } else {
        msix_table_.ReadTable(offset - kMsixTableOffset, data);
      }
      return;
    case pci::kRomBar:
      if (offset < kRomSize && data.size() <= kRomSize - offset) {
        std::memcpy(data.data(), rom_.data() + offset, data.size());
      }
      return;
  }
}

void PciTestDevice::BarWrite(int bar, uint64_t offset,
                             absl::Span<const uint8_t> data) {
  absl::MutexLock lock(&mu_);
  switch (bar) {
    case kRegsBar:
    case kIoBar: {
      const uint64_t size = bar == kRegsBar ? kRegsSize : kIoSize;
      if (data.size() == 4 && offset % 4 == 0 && offset < size) {
        RegWrite(offset, Load32(data));
      }
      return;
    }
    case kScratchBar:
      if (offset < kScratchSize && data.size() <= kScratchSize - offset) {
        std::memcpy(scratch_ram_.data() + offset, data.data(), data.size());
      }
      return;
    case kMsixBar:
      // The PBA is read-only (6.8.2.10).
      if (offset < kMsixPbaOffset) {
        Apply(msix_table_.WriteTable(offset - kMsixTableOffset, data),
              msix_vectors_, "MSI-X");
      }
      return;
    default:  // the ROM is read-only
      return;
  }
}

uint32_t PciTestDevice::RegRead(uint64_t offset) {
  switch (offset) {
    case kRegId:
      return kMagic;
    case kRegVersion:
      return kVersion;
    case kRegScratch:
      return scratch_;
    case kRegIntxRaise:
      return intx_asserted_ ? 1 : 0;
    case kRegIrqCount:
      return irq_count_;
    case kRegIrqHeld:
      return irq_held_;
    case kRegDoorbell:
      return doorbell_;
    case kRegDoorbellCount:
      return doorbell_count_;
    case kRegStatus:
      return (intx_asserted_ ? kStatusIntxAsserted : 0) |
             (intx_line_ ? kStatusIntxLine : 0) |
             (msi_.enabled() ? kStatusMsi : 0) |
             (msix_table_.enabled() ? kStatusMsix : 0) |
             (msix_table_.function_masked() ? kStatusMsixFunctionMasked : 0);
    default:
      return 0;
  }
}

void PciTestDevice::RegWrite(uint64_t offset, uint32_t value) {
  switch (offset) {
    case kRegScratch:
      scratch_ = value;
      return;
    case kRegIntxRaise:
      if (intx_asserted_) return;  // a level: already asserted
      intx_asserted_ = true;
      UpdateIntx();
      if (!intx_line_) ++irq_held_;
      return;
    case kRegIntxLower:
      intx_asserted_ = false;
      UpdateIntx();
      return;
    case kRegMsiFire:
      FireMsi(value);
      return;
    case kRegMsixFire:
      FireMsix(value);
      return;
    case kRegIrqCount:
      irq_count_ = 0;
      return;
    case kRegIrqHeld:
      irq_held_ = 0;
      return;
    case kRegDoorbell:
      doorbell_ = value;
      ++doorbell_count_;
      return;
    default:
      return;
  }
}

void PciTestDevice::FireMsi(uint32_t vector) {
  // Fire() sets the pending bit of a masked vector and says whether to send.
  if (msi_.Fire(header_.config(), vector) && vector < msi_vectors_.size() &&
      msi_vectors_[vector] != nullptr) {
    Deliver(msi_vectors_[vector].get());
  } else {
    ++irq_held_;
  }
}

void PciTestDevice::FireMsix(uint32_t vector) {
  if (msix_table_.Fire(vector) && vector < msix_vectors_.size() &&
      msix_vectors_[vector] != nullptr) {
    Deliver(msix_vectors_[vector].get());
  } else {
    ++irq_held_;
  }
}

void PciTestDevice::Apply(const pci::MsiActions& actions, Vectors& vectors,
                          const char* what) {
  using Type = pci::MsiAction::Type;
  for (const pci::MsiAction& action : actions) {
    const uint32_t v = action.vector;
    switch (action.type) {
      case Type::kEnable:  // host vectors come with each vector's kUnmask
      case Type::kFunctionMask:
      case Type::kFunctionUnmask:
        break;
      case Type::kDisable:
        // Every vector that delivered got a kMask already; give the host
        // vectors (GSIs) back until the guest enables the capability again.
        for (auto& vector : vectors) vector.reset();
        break;
      case Type::kUnmask: {
        if (v >= vectors.size()) break;
        if (vectors[v] == nullptr) {
          absl::StatusOr<std::unique_ptr<MsiVector>> vector =
              interrupts_.AllocateMsi();
          if (!vector.ok()) {
            Report(Annotate(vector.status(),
                            absl::StrFormat("allocating a host vector for %s "
                                            "vector %u",
                                            what, v)));
            break;
          }
          vectors[v] = std::move(*vector);
        }
        absl::Status status = vectors[v]->SetMessage(action.message.address,
                                                     action.message.data);
        if (status.ok()) status = vectors[v]->SetEnabled(true);
        if (!status.ok()) {
          Report(Annotate(status, absl::StrFormat("unmasking %s vector %u",
                                                  what, v)));
          break;
        }
        // Held back while masked (its pending bit is already clear): send
        // it once now (6.8.1.8, 6.8.2.9).
        if (action.pending) Deliver(vectors[v].get());
        break;
      }
      case Type::kMask:
        if (v < vectors.size() && vectors[v] != nullptr) {
          Report(Annotate(vectors[v]->SetEnabled(false),
                          absl::StrFormat("masking %s vector %u", what, v)));
        }
        break;
      case Type::kRoute:
        if (v < vectors.size() && vectors[v] != nullptr) {
          Report(Annotate(vectors[v]->SetMessage(action.message.address,
                                                 action.message.data),
                          absl::StrFormat("rerouting %s vector %u", what, v)));
        }
        break;
    }
  }
}

void PciTestDevice::UpdateIntx() {
  header_.SetIntxStatus(intx_asserted_);
  // INTx_DISABLE gates the pin, not the device's own state (6.2.2, 6.2.3);
  // with MSI or MSI-X on, the function must not use INTx (6.8.1.3, 6.8.2.3).
  const bool line = intx_ != nullptr && intx_asserted_ &&
                    !(header_.command() & pci::kCommandIntxDisable) &&
                    !msi_.enabled() && !msix_table_.enabled();
  if (line == intx_line_) return;
  intx_line_ = line;
  intx_->Set(line);
  if (line) ++irq_count_;
}

void PciTestDevice::Deliver(MsiVector* vector) {
  vector->Trigger();
  ++irq_count_;
}

void PciTestDevice::Report(const absl::Status& status) {
  // A guest action the host could not carry out has no way back to the
  // guest; say so once, on stderr, as PciRoot does for BARs.
  if (status.ok() || error_logged_) return;
  error_logged_ = true;
  std::fprintf(stderr, "microvm: PCI test device: %s\n",
               std::string(status.message()).c_str());
}

absl::StatusOr<std::shared_ptr<pci::PciDevice>> MakePciTestDevice(
    InterruptController& interrupts) {
  MVM_ASSIGN_OR_RETURN(std::shared_ptr<PciTestDevice> device,
                       PciTestDevice::Create(interrupts));
  return device;
}

}  // namespace microvm
