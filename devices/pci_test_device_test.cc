// SPDX-License-Identifier: Apache-2.0
#include "devices/pci_test_device.h"

#include <cstring>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "base/bus.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pci/config_space.h"
#include "pci/root_complex.h"
#include "pci/testing.h"

namespace microvm {
namespace {

// Records what the device does with its host vectors.
struct FakeVectorState {
  uint64_t address = 0;
  uint32_t data = 0;
  bool enabled = false;
  int triggers = 0;
  bool released = false;
};

class FakeMsiVector final : public MsiVector {
 public:
  explicit FakeMsiVector(std::shared_ptr<FakeVectorState> state)
      : state_(std::move(state)) {}
  ~FakeMsiVector() override { state_->released = true; }
  absl::Status SetMessage(uint64_t address, uint32_t data) override {
    state_->address = address;
    state_->data = data;
    return absl::OkStatus();
  }
  absl::Status SetEnabled(bool enabled) override {
    state_->enabled = enabled;
    return absl::OkStatus();
  }
  void Trigger() override {
    // Like an irqfd: a trigger while detached is a bug in the device.
    EXPECT_TRUE(state_->enabled) << "triggered a disabled vector";
    ++state_->triggers;
  }
  int trigger_fd() const override { return -1; }

 private:
  std::shared_ptr<FakeVectorState> state_;
};

class FakeInterrupts final : public InterruptController {
 public:
  absl::StatusOr<std::unique_ptr<IrqLine>> MakeIrqLine(uint32_t gsi) override {
    auto line = std::make_unique<pci::testing::FakeIrqLine>(gsi);
    lines[gsi].push_back(line.get());
    return line;
  }
  absl::StatusOr<std::unique_ptr<MsiVector>> AllocateMsi() override {
    vectors.push_back(std::make_shared<FakeVectorState>());
    return std::make_unique<FakeMsiVector>(vectors.back());
  }
  absl::StatusOr<std::unique_ptr<IrqfdBinding>> BindLevelIrqfd(
      uint32_t, int, int) override {
    return absl::UnimplementedError("not used by emulated devices");
  }
  // Triggers of every vector handed out so far.
  int triggers() const {
    int n = 0;
    for (const auto& v : vectors) n += v->triggers;
    return n;
  }
  std::map<uint32_t, std::vector<pci::testing::FakeIrqLine*>> lines;
  std::vector<std::shared_ptr<FakeVectorState>> vectors;
};

// The device on a real PciRoot and real buses, driven the way a guest
// drives it: config cycles through ECAM-equivalent PciRoot calls, BAR
// accesses through the buses.
class PciTestDeviceTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kRegs = 0xc0000000;
  static constexpr uint64_t kMsix = 0xc0001000;
  static constexpr uint64_t kScratch = 0x100000000;
  static constexpr uint64_t kRom = 0xc0002000;
  static constexpr uint16_t kIo = 0xc000;

  void SetUp() override {
    auto root = pci::PciRoot::Create(pio_, mmio_, irqs_);
    ASSERT_TRUE(root.ok()) << root.status();
    root_ = std::move(*root);
    auto device = PciTestDevice::Create(irqs_);
    ASSERT_TRUE(device.ok()) << device.status();
    device_ = *device;
    auto address = root_->AddDevice(device_);
    ASSERT_TRUE(address.ok()) << address.status();
    addr_ = *address;
  }

  uint32_t Config(uint32_t reg, size_t size = 4) {
    uint32_t value = 0;
    root_->ConfigRead(addr_, reg,
                      absl::MakeSpan(reinterpret_cast<uint8_t*>(&value), size));
    return value;
  }
  void SetConfig(uint32_t reg, uint32_t value, size_t size = 4) {
    root_->ConfigWrite(
        addr_, reg,
        absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(&value), size));
  }
  uint64_t Mmio(uint64_t addr, size_t size = 4) {
    uint64_t value = 0;
    mmio_.Read(addr, absl::MakeSpan(reinterpret_cast<uint8_t*>(&value), size));
    return value;
  }
  void SetMmio(uint64_t addr, uint64_t value, size_t size = 4) {
    EXPECT_TRUE(mmio_.Write(
        addr,
        absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(&value), size)))
        << std::hex << addr;
  }
  uint32_t Pio(uint16_t port) {
    uint32_t value = 0;
    pio_.Read(port, absl::MakeSpan(reinterpret_cast<uint8_t*>(&value), 4));
    return value;
  }
  void SetPio(uint16_t port, uint32_t value) {
    EXPECT_TRUE(pio_.Write(
        port, absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(&value), 4)));
  }
  // Places every BAR and the ROM and turns decode on.
  void MapAll() {
    SetConfig(pci::kBar0, kRegs);
    SetConfig(pci::kBar0 + 4, kIo);
    SetConfig(pci::kBar0 + 8, static_cast<uint32_t>(kScratch));
    SetConfig(pci::kBar0 + 12, static_cast<uint32_t>(kScratch >> 32));
    SetConfig(pci::kBar0 + 16, kMsix);
    SetConfig(pci::kRomAddress, kRom | 1);
    SetConfig(pci::kCommand, pci::kCommandIo | pci::kCommandMemory, 2);
  }
  uint32_t MsiCap() { return *ConfigSpaceCopy().FindCapability(pci::kCapMsi); }
  uint32_t MsixCap() {
    return *ConfigSpaceCopy().FindCapability(pci::kCapMsix);
  }
  // The first 256 bytes as the guest sees them, to walk the capability list.
  pci::ConfigSpace ConfigSpaceCopy() {
    pci::ConfigSpace copy(pci::ConfigSpace::kConventionalSize);
    for (uint32_t reg = 0; reg < 256; reg += 4) copy.Set32(reg, Config(reg));
    return copy;
  }
  pci::testing::FakeIrqLine* Intx() {
    const uint32_t gsi = pci::PciRoot::IntxGsi(addr_.device, 0);
    auto& lines = irqs_.lines[gsi];
    return lines.empty() ? nullptr : lines.back();
  }

  Bus pio_{"pio"};
  Bus mmio_{"mmio"};
  FakeInterrupts irqs_;
  std::unique_ptr<pci::PciRoot> root_;
  std::shared_ptr<PciTestDevice> device_;
  pci::PciAddress addr_;
};

TEST_F(PciTestDeviceTest, HeaderIdentifiesTheDevice) {
  EXPECT_EQ(Config(pci::kVendorId), 0x7e571234u);
  EXPECT_EQ(Config(pci::kRevisionId) >> 8, PciTestDevice::kClassCode);
  EXPECT_EQ(Config(pci::kInterruptPin, 1), 1u);  // INTA
  EXPECT_EQ(Config(pci::kInterruptLine, 1),
            pci::PciRoot::IntxGsi(addr_.device, 0));
  EXPECT_TRUE(Config(pci::kStatus, 2) & pci::kStatusCapList);
  EXPECT_THAT(ConfigSpaceCopy().Capabilities().size(), 2u);
}

TEST_F(PciTestDeviceTest, BarsSizeAsDocumented) {
  const std::vector<uint32_t> expect = {
      0xfffff000,  // BAR0: 4 KiB memory
      0xffffffe1,  // BAR1: 32 bytes I/O
      0xfff0000c,  // BAR2: 1 MiB 64-bit prefetchable
      0xffffffff,  // BAR3: upper half
      0xfffff000,  // BAR4: MSI-X
      0x00000000,  // BAR5: unused
  };
  for (int i = 0; i < 6; ++i) {
    SetConfig(pci::kBar0 + 4 * i, ~0u);
    EXPECT_EQ(Config(pci::kBar0 + 4 * i), expect[i]) << "BAR" << i;
  }
  SetConfig(pci::kRomAddress, ~0u);
  EXPECT_EQ(Config(pci::kRomAddress), 0xfffff801u);
}

TEST_F(PciTestDeviceTest, RegistersThroughMemoryAndIoBars) {
  MapAll();
  EXPECT_EQ(Mmio(kRegs + PciTestDevice::kRegId), PciTestDevice::kMagic);
  EXPECT_EQ(Pio(kIo + PciTestDevice::kRegId), PciTestDevice::kMagic);
  EXPECT_EQ(Mmio(kRegs + PciTestDevice::kRegVersion), 1u);
  SetMmio(kRegs + PciTestDevice::kRegScratch, 0xdeadbeef);
  EXPECT_EQ(Pio(kIo + PciTestDevice::kRegScratch), 0xdeadbeefu);
  SetPio(kIo + PciTestDevice::kRegScratch, 0x12345678);
  EXPECT_EQ(Mmio(kRegs + PciTestDevice::kRegScratch), 0x12345678u);
  // Unaligned or narrow accesses do nothing.
  EXPECT_EQ(Mmio(kRegs + PciTestDevice::kRegId, 2), 0u);
  SetMmio(kRegs + PciTestDevice::kRegScratch, 0, 2);
  EXPECT_EQ(Mmio(kRegs + PciTestDevice::kRegScratch), 0x12345678u);
  SetMmio(kRegs + PciTestDevice::kRegDoorbell, 7);
  SetMmio(kRegs + PciTestDevice::kRegDoorbell, 9);
  EXPECT_EQ(Mmio(kRegs + PciTestDevice::kRegDoorbell), 9u);
  EXPECT_EQ(Mmio(kRegs + PciTestDevice::kRegDoorbellCount), 2u);
}

TEST_F(PciTestDeviceTest, ScratchRamAndRom) {
  MapAll();
  SetMmio(kScratch + 0x10, 0x0123456789abcdefull, 8);
  EXPECT_EQ(Mmio(kScratch + 0x10, 8), 0x0123456789abcdefull);
  EXPECT_EQ(Mmio(kScratch + 0x13, 1), 0x89u);
  SetMmio(kScratch + PciTestDevice::kScratchSize - 1, 0x5a, 1);
  EXPECT_EQ(Mmio(kScratch + PciTestDevice::kScratchSize - 1, 1), 0x5au);

  EXPECT_EQ(Mmio(kRom, 2), 0xaa55u);
  const uint32_t pcir = static_cast<uint32_t>(Mmio(kRom + 0x18, 2));
  EXPECT_EQ(Mmio(kRom + pcir), 0x52494350u);  // "PCIR"
  EXPECT_EQ(Mmio(kRom + pcir + 4), 0x7e571234u);
  for (uint32_t i = PciTestDevice::kRomPatternOffset;
       i < PciTestDevice::kRomSize; i += 97) {
    EXPECT_EQ(Mmio(kRom + i, 1), static_cast<uint8_t>(i * 31 + 7)) << i;
  }
  SetMmio(kRom + 0x40, 0, 1);  // read-only
  EXPECT_EQ(Mmio(kRom + 0x40, 1), static_cast<uint8_t>(0x40 * 31 + 7));
  // The enable bit gates the ROM.
  SetConfig(pci::kRomAddress, kRom);
  EXPECT_EQ(Mmio(kRom, 2), 0xffffu);
}

TEST_F(PciTestDeviceTest, IntxIsALevelGatedByCommandAndMsi) {
  MapAll();
  pci::testing::FakeIrqLine* line = Intx();
  ASSERT_NE(line, nullptr);
  SetMmio(kRegs + PciTestDevice::kRegIntxRaise, 1);
  EXPECT_TRUE(line->high());
  EXPECT_TRUE(Config(pci::kStatus, 2) & pci::kStatusIntx);
  EXPECT_EQ(Mmio(kRegs + PciTestDevice::kRegIntxRaise), 1u);
  EXPECT_EQ(Mmio(kRegs + PciTestDevice::kRegIrqCount), 1u);

  // INTx disable drops the line but not Status.INTx (6.2.3).
  SetConfig(pci::kCommand,
            pci::kCommandIo | pci::kCommandMemory | pci::kCommandIntxDisable,
            2);
  EXPECT_FALSE(line->high());
  EXPECT_TRUE(Config(pci::kStatus, 2) & pci::kStatusIntx);
  SetConfig(pci::kCommand, pci::kCommandIo | pci::kCommandMemory, 2);
  EXPECT_TRUE(line->high());
  EXPECT_EQ(Mmio(kRegs + PciTestDevice::kRegIrqCount), 2u);

  SetMmio(kRegs + PciTestDevice::kRegIntxLower, 1);
  EXPECT_FALSE(line->high());
  EXPECT_FALSE(Config(pci::kStatus, 2) & pci::kStatusIntx);

  // With MSI on, INTx is not used.
  SetConfig(MsiCap() + 2, pci::MsiCapability::kEnable, 2);
  SetMmio(kRegs + PciTestDevice::kRegIntxRaise, 1);
  EXPECT_FALSE(line->high());
  EXPECT_EQ(Mmio(kRegs + PciTestDevice::kRegIrqHeld), 1u);
  EXPECT_EQ(Mmio(kRegs + PciTestDevice::kRegStatus),
            PciTestDevice::kStatusIntxAsserted | PciTestDevice::kStatusMsi);
}

TEST_F(PciTestDeviceTest, MsiVectorsMaskAndPending) {
  MapAll();
  const uint32_t cap = MsiCap();
  // 64-bit with per-vector mask: address at +4/+8, data +12, mask +16,
  // pending +20.
  SetConfig(cap + 4, 0xfee00000);
  SetConfig(cap + 8, 0);
  SetConfig(cap + 12, 0x40, 2);
  // Two vectors (MME=1), vector 1 masked.
  SetConfig(cap + 16, 0x2);
  SetConfig(cap + 2, pci::MsiCapability::kEnable | (1 << 4), 2);
  // Only the unmasked vector got a host vector.
  ASSERT_EQ(device_->host_vectors(), 1u);
  ASSERT_EQ(irqs_.vectors.size(), 1u);
  EXPECT_EQ(irqs_.vectors[0]->address, 0xfee00000u);
  EXPECT_EQ(irqs_.vectors[0]->data, 0x40u);
  EXPECT_TRUE(irqs_.vectors[0]->enabled);

  SetMmio(kRegs + PciTestDevice::kRegMsiFire, 0);
  EXPECT_EQ(irqs_.vectors[0]->triggers, 1);
  SetMmio(kRegs + PciTestDevice::kRegMsiFire, 1);  // masked: pending
  EXPECT_EQ(Config(cap + 20), 0x2u);
  EXPECT_EQ(irqs_.triggers(), 1);
  SetMmio(kRegs + PciTestDevice::kRegMsiFire, 2);  // beyond MME: dropped
  EXPECT_EQ(Mmio(kRegs + PciTestDevice::kRegIrqHeld), 2u);

  SetConfig(cap + 16, 0);  // unmask vector 1: its pending message goes out
  ASSERT_EQ(irqs_.vectors.size(), 2u);
  EXPECT_EQ(irqs_.vectors[1]->data, 0x41u);
  EXPECT_EQ(irqs_.vectors[1]->triggers, 1);
  EXPECT_EQ(Config(cap + 20), 0u);
  EXPECT_EQ(Mmio(kRegs + PciTestDevice::kRegIrqCount), 2u);

  // Disabling gives the host vectors back.
  SetConfig(cap + 2, 0, 2);
  EXPECT_EQ(device_->host_vectors(), 0u);
  EXPECT_TRUE(irqs_.vectors[0]->released);
  EXPECT_TRUE(irqs_.vectors[1]->released);
}

TEST_F(PciTestDeviceTest, MsixTablePbaAndFunctionMask) {
  MapAll();
  const uint32_t cap = MsixCap();
  EXPECT_EQ(Config(cap + 2, 2), PciTestDevice::kMsixVectors - 1);
  EXPECT_EQ(Config(cap + 4), PciTestDevice::kMsixTableOffset | 4);
  EXPECT_EQ(Config(cap + 8), PciTestDevice::kMsixPbaOffset | 4);
  SetConfig(cap + 2, pci::MsixCapability::kEnable, 2);
  EXPECT_EQ(device_->host_vectors(), 0u);  // every entry masked at reset

  const uint64_t entry = kMsix + 3 * 16;
  SetMmio(entry + 0, 0xfee00000);
  SetMmio(entry + 4, 0);
  SetMmio(entry + 8, 0x53);
  SetMmio(kRegs + PciTestDevice::kRegMsixFire, 3);  // masked: PBA bit
  EXPECT_EQ(Mmio(kMsix + PciTestDevice::kMsixPbaOffset, 8), 1u << 3);
  EXPECT_EQ(irqs_.vectors.size(), 0u);
  SetMmio(entry + 12, 0);  // unmask: delivered once, PBA clear
  ASSERT_EQ(irqs_.vectors.size(), 1u);
  EXPECT_EQ(irqs_.vectors[0]->data, 0x53u);
  EXPECT_EQ(irqs_.vectors[0]->triggers, 1);
  EXPECT_EQ(Mmio(kMsix + PciTestDevice::kMsixPbaOffset, 8), 0u);
  SetPio(kIo + PciTestDevice::kRegMsixFire, 3);
  EXPECT_EQ(irqs_.vectors[0]->triggers, 2);

  // Function mask holds every vector back; clearing it sends the pending.
  SetConfig(cap + 2,
            pci::MsixCapability::kEnable | pci::MsixCapability::kFunctionMask,
            2);
  EXPECT_FALSE(irqs_.vectors[0]->enabled);
  SetMmio(kRegs + PciTestDevice::kRegMsixFire, 3);
  SetMmio(kRegs + PciTestDevice::kRegMsixFire, 3);
  EXPECT_EQ(irqs_.vectors[0]->triggers, 2);
  EXPECT_EQ(Mmio(kRegs + PciTestDevice::kRegStatus),
            PciTestDevice::kStatusMsix |
                PciTestDevice::kStatusMsixFunctionMasked);
  SetConfig(cap + 2, pci::MsixCapability::kEnable, 2);
  EXPECT_TRUE(irqs_.vectors[0]->enabled);
  EXPECT_EQ(irqs_.vectors[0]->triggers, 3);  // once, not twice

  // A new message for a live vector reroutes it.
  SetMmio(entry + 8, 0x54);
  EXPECT_EQ(irqs_.vectors[0]->data, 0x54u);
  EXPECT_EQ(Mmio(entry + 8), 0x54u);

  SetConfig(cap + 2, 0, 2);
  EXPECT_EQ(device_->host_vectors(), 0u);
  SetMmio(kRegs + PciTestDevice::kRegMsixFire, 3);  // off: dropped
  EXPECT_EQ(Mmio(kRegs + PciTestDevice::kRegIrqCount), 3u);
}

TEST_F(PciTestDeviceTest, MovingABarMovesItsRegisters) {
  MapAll();
  SetConfig(pci::kBar0, kRegs + 0x10000);
  EXPECT_EQ(Mmio(kRegs), 0xffffffffu);
  EXPECT_EQ(Mmio(kRegs + 0x10000), PciTestDevice::kMagic);
  SetConfig(pci::kCommand, pci::kCommandIo, 2);
  EXPECT_EQ(Mmio(kRegs + 0x10000), 0xffffffffu);
  EXPECT_EQ(Pio(kIo), PciTestDevice::kMagic);
}

TEST_F(PciTestDeviceTest, ConcurrentAccessesAreSerialized) {
  MapAll();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        SetMmio(kRegs + PciTestDevice::kRegDoorbell, i);
        SetPio(kIo + PciTestDevice::kRegIntxRaise, 1);
        SetPio(kIo + PciTestDevice::kRegIntxLower, 1);
      }
    });
  }
  for (int i = 0; i < 100; ++i) {
    SetConfig(pci::kCommand,
              pci::kCommandIo | pci::kCommandMemory |
                  (i % 2 ? pci::kCommandIntxDisable : 0),
              2);
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(Mmio(kRegs + PciTestDevice::kRegDoorbellCount), 4000u);
}

TEST(MakePciTestDeviceTest, MakesADeviceForTheVmFactoryList) {
  FakeInterrupts irqs;
  auto device = MakePciTestDevice(irqs);
  ASSERT_TRUE(device.ok()) << device.status();
  uint32_t id = 0;
  (*device)->ConfigRead(0, absl::MakeSpan(reinterpret_cast<uint8_t*>(&id), 4));
  EXPECT_EQ(id, 0x7e571234u);
}

}  // namespace
}  // namespace microvm
