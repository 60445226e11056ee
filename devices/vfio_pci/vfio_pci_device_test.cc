// SPDX-License-Identifier: Apache-2.0
#include "devices/vfio_pci/vfio_pci_device.h"

#include <cstring>
#include <random>

#include "base/bus.h"
#include "devices/vfio_pci/testing.h"
#include "devices/vfio_pci/virtual_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pci/config_space.h"

namespace microvm::vfio_pci {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Not;
using testing::FakeBackend;

constexpr uint64_t kBar0 = 0xe0000000;
constexpr uint32_t kMsi = 0x50;
constexpr uint32_t kMsix = 0x70;

void Put(std::vector<uint8_t>& c, uint32_t off, uint32_t v, int n) {
  for (int i = 0; i < n; ++i) c[off + i] = v >> (8 * i);
}

// An NVMe-like function: 64-bit BAR0 (16 KiB, MSI-X table at 0x2000 and
// PBA at 0x3000), I/O BAR2, 32-bit prefetchable BAR4, a ROM, INTA, and
// capabilities PM (0x40) -> VPD (0x48, hidden) -> MSI (0x50, 4 vectors,
// 64-bit, per-vector mask) -> MSI-X (0x70, 64 entries).
std::unique_ptr<FakeBackend> MakeBackend() {
  auto b = std::make_unique<FakeBackend>();
  auto& c = b->config;
  Put(c, 0x00, 0x8086, 2);
  Put(c, 0x02, 0x5845, 2);
  Put(c, 0x06, pci::kStatusCapList, 2);
  Put(c, 0x09, 0x010802, 3);
  c[0x0e] = 0x80;  // multi-function on the host
  Put(c, 0x10, 0xfebf0004, 4);  // 64-bit memory, host address
  Put(c, 0x14, 0, 4);
  Put(c, 0x18, 0xc001, 4);      // I/O
  Put(c, 0x20, 0xfe000008, 4);  // 32-bit prefetchable
  c[0x34] = 0x40;
  c[0x3d] = 1;
  c[0x40] = pci::kCapPowerManagement;
  c[0x41] = 0x48;
  c[0x48] = 0x03;  // VPD
  c[0x49] = kMsi;
  c[kMsi] = pci::kCapMsi;
  c[kMsi + 1] = kMsix;
  Put(c, kMsi + 2, 0x184, 2);  // MMC=4 vectors, 64-bit, per-vector mask
  c[kMsix] = pci::kCapMsix;
  c[kMsix + 1] = 0;
  Put(c, kMsix + 2, 63, 2);
  Put(c, kMsix + 4, 0x2000, 4);
  Put(c, kMsix + 8, 0x3000, 4);
  b->AddRegion(VFIO_PCI_BAR0_REGION_INDEX, 0x4000, true);
  b->AddRegion(VFIO_PCI_BAR2_REGION_INDEX, 32, false);
  b->AddRegion(VFIO_PCI_BAR4_REGION_INDEX, 0x1000, true);
  b->AddRegion(VFIO_PCI_ROM_REGION_INDEX, 0x10000, false);
  b->AddRegion(VFIO_PCI_CONFIG_REGION_INDEX, 256, false);
  auto& irqs = b->mutable_info().irqs;
  irqs[VFIO_PCI_INTX_IRQ_INDEX].count = 1;
  irqs[VFIO_PCI_MSI_IRQ_INDEX].count = 4;
  irqs[VFIO_PCI_MSIX_IRQ_INDEX].count = 64;
  irqs[VFIO_PCI_MSIX_IRQ_INDEX].flags = VFIO_IRQ_INFO_NORESIZE;
  return b;
}

class VfioPciDeviceTest : public ::testing::Test {
 protected:
  void Make(IntxMode mode = IntxMode::kIrqfdResample, bool mmap_bars = true) {
    auto backend = MakeBackend();
    fake_ = backend.get();
    Context context{irqs_, mapper_, loop_, mode, 1100, mmap_bars, gate_};
    auto device = MakeVfioPciDevice(std::move(backend), context);
    ASSERT_TRUE(device.ok()) << device.status();
    device_ = std::dynamic_pointer_cast<VfioPciDevice>(*device);
    ASSERT_NE(device_, nullptr);
    auto line = std::make_unique<testing::FakeLine>(17);
    line_ = line->high_;
    device_->Attach(pci::PciAddress{0, 5, 0}, std::move(line));
  }
  uint32_t Read(uint32_t off, int n = 4) {
    uint8_t b[4] = {};
    device_->ConfigRead(off, absl::MakeSpan(b, n));
    uint32_t v = 0;
    for (int i = 0; i < n; ++i) v |= uint32_t{b[i]} << (8 * i);
    return v;
  }
  pci::ConfigWriteResult Write(uint32_t off, uint32_t v, int n = 4) {
    uint8_t b[4];
    for (int i = 0; i < n; ++i) b[i] = v >> (8 * i);
    return device_->ConfigWrite(off, absl::MakeConstSpan(b, n));
  }
  void MapBar0() {
    ASSERT_TRUE(device_->MapBar(pci::BarRegion{0, false, kBar0, 0x4000}, mmio_)
                    .ok());
  }
  void BarWrite32(uint64_t off, uint32_t v) {
    uint8_t b[4];
    std::memcpy(b, &v, 4);
    mmio_.Write(kBar0 + off, b);
  }
  uint32_t BarRead32(uint64_t off) {
    uint8_t b[4];
    mmio_.Read(kBar0 + off, b);
    uint32_t v;
    std::memcpy(&v, b, 4);
    return v;
  }
  // Programs MSI-X entry `v` and unmasks it.
  void ProgramMsix(uint32_t v) {
    BarWrite32(0x2000 + 16 * v + 0, 0xfee00000);
    BarWrite32(0x2000 + 16 * v + 4, 0);
    BarWrite32(0x2000 + 16 * v + 8, 0x40 + v);
    BarWrite32(0x2000 + 16 * v + 12, 0);
  }

  vfio::DmaGate* gate_ = nullptr;
  testing::FakeIrqs irqs_;
  testing::FakeMapper mapper_;
  testing::FakeLoop loop_;
  Bus mmio_{"mmio"};
  FakeBackend* fake_ = nullptr;
  std::shared_ptr<VfioPciDevice> device_;
  std::shared_ptr<bool> line_;
};

TEST_F(VfioPciDeviceTest, HeaderShowsTheDeviceWithOurBars) {
  Make();
  EXPECT_EQ(Read(0x00), 0x58458086u);
  EXPECT_EQ(Read(0x08) >> 8, 0x010802u);
  EXPECT_EQ(Read(0x0e, 1), 0u);  // single function in the guest
  EXPECT_EQ(Read(0x10), 0x4u);   // type bits kept, host address not shown
  EXPECT_EQ(Read(0x18), 0x1u);
  EXPECT_EQ(Read(0x20), 0x8u);
  EXPECT_EQ(Read(0x3d, 1), 1u);
  // Sizing (PCI 6.2.5.1) with sizes from the VFIO regions.
  Write(0x10, ~0u);
  Write(0x14, ~0u);
  EXPECT_EQ(Read(0x10), 0xffffc004u);
  EXPECT_EQ(Read(0x14), 0xffffffffu);
  Write(0x18, ~0u);
  EXPECT_EQ(Read(0x18), 0xffffffe1u);
  Write(0x30, ~0u);
  EXPECT_EQ(Read(0x30), 0xffff0001u);
  // None of that reached the device.
  EXPECT_THAT(fake_->config_writes, IsEmpty());
}

TEST_F(VfioPciDeviceTest, CapabilityChainSkipsHiddenOnes) {
  Make();
  EXPECT_EQ(Read(0x34, 1), 0x40u);
  EXPECT_EQ(Read(0x41, 1), kMsi);  // VPD at 0x48 is skipped
  EXPECT_EQ(Read(kMsi, 2), (kMsix << 8) | pci::kCapMsi);
  EXPECT_EQ(Read(kMsix, 2), pci::kCapMsix);
  EXPECT_EQ(Read(kMsi + 2, 2), 0x184u);
  EXPECT_EQ(Read(kMsix + 2, 2), 63u);
  EXPECT_EQ(Read(kMsix + 4), 0x2000u);
  EXPECT_EQ(Read(kMsix + 8), 0x3000u);
  EXPECT_EQ(Read(0x100), 0u);  // no extended capabilities
}

TEST_F(VfioPciDeviceTest, CommandAndPassthroughCapsReachTheDevice) {
  Make();
  Write(0x04, 0x0406, 2);
  ASSERT_EQ(fake_->config_writes.size(), 1u);
  EXPECT_EQ(fake_->config_writes[0].offset, 0x04u);
  EXPECT_THAT(fake_->config_writes[0].data, ElementsAre(0x06, 0x04));
  EXPECT_EQ(Read(0x04, 2), 0x0406u);
  Write(0x44, 0x3, 2);  // PM control/status
  ASSERT_EQ(fake_->config_writes.size(), 2u);
  EXPECT_EQ(fake_->config_writes[1].offset, 0x44u);
}

// A gate whose Wait opens it (the mapping finishing) or not (the VM ending).
struct FakeGate final : vfio::DmaGate {
  bool open() const override { return is_open; }
  bool Wait() override {
    ++waits;
    is_open = opens_on_wait;
    return is_open;
  }
  bool is_open = false;
  bool opens_on_wait = true;
  int waits = 0;
};

// The DMA gate: a write that sets Bus Master Enable waits for guest RAM to
// be mapped (BeforeConfigWrite, with no lock held), and reaches the device
// only with the gate open; other Command writes never wait.
TEST_F(VfioPciDeviceTest, BusMasterEnableWaitsForTheDmaGate) {
  FakeGate gate;
  gate_ = &gate;
  Make();
  const uint8_t decode[2] = {0x02, 0x00};  // Memory Space alone
  device_->BeforeConfigWrite(0x04, decode);
  EXPECT_EQ(gate.waits, 0);
  const uint8_t master[4] = {0x06, 0x00, 0x00, 0x00};  // dword at Command
  device_->BeforeConfigWrite(0x04, master);
  EXPECT_EQ(gate.waits, 1);
  device_->ConfigWrite(0x04, master);
  ASSERT_EQ(fake_->config_writes.size(), 1u);
  EXPECT_THAT(fake_->config_writes[0].data, ElementsAre(0x06, 0, 0, 0));
  EXPECT_EQ(Read(0x04, 2), 0x0006u);
  // Open now: no more waiting.
  device_->BeforeConfigWrite(0x04, master);
  EXPECT_EQ(gate.waits, 1);
}

TEST_F(VfioPciDeviceTest, BusMasterEnableNeverReachesTheDeviceBehindAShutGate) {
  FakeGate gate;
  gate.opens_on_wait = false;  // mapping failed, or the VM is ending
  gate_ = &gate;
  Make();
  const uint8_t master[1] = {0x06};  // byte write of Command's low byte
  device_->BeforeConfigWrite(0x04, master);
  EXPECT_EQ(gate.waits, 1);
  device_->ConfigWrite(0x04, master);
  ASSERT_EQ(fake_->config_writes.size(), 1u);
  EXPECT_THAT(fake_->config_writes[0].data, ElementsAre(0x02));
  EXPECT_EQ(Read(0x04, 1), 0x06u);  // the guest reads what it wrote
}

TEST_F(VfioPciDeviceTest, IntxUsesResamplingIrqfd) {
  Make();
  EXPECT_EQ(irqs_.bound_gsi, 17);
  EXPECT_THAT(fake_->calls,
              ElementsAre("eventfds INTX 0 [fd]", "unmaskfd INTX 0"));
}

TEST_F(VfioPciDeviceTest, MsiEnablesVectorsThroughVfioNotConfig) {
  Make();
  fake_->calls.clear();
  Write(kMsi + 4, 0xfee00000);
  Write(kMsi + 8, 0);
  Write(kMsi + 12, 0x4020, 2);
  Write(kMsi + 2, 0x184 | 1 | (2 << 4), 2);  // enable 4 vectors
  EXPECT_THAT(fake_->calls,
              ElementsAre("disable INTX", "eventfds MSI 0 [fd fd fd fd]"));
  EXPECT_EQ(irqs_.allocated, 4);
  EXPECT_EQ(Read(kMsi + 2, 2), 0x1a5u);
  fake_->calls.clear();
  Write(kMsi + 2, 0x184, 2);
  EXPECT_THAT(fake_->calls, ElementsAre("disable MSI", "eventfds INTX 0 [fd]",
                                        "unmaskfd INTX 0"));
  EXPECT_THAT(fake_->config_writes, IsEmpty());
}

TEST_F(VfioPciDeviceTest, MsixTakesHostVectorsOnlyForUnmaskedEntries) {
  Make();
  MapBar0();
  fake_->calls.clear();
  Write(kMsix + 2, 0x8000, 2);  // enable
  EXPECT_THAT(fake_->calls,
              ElementsAre("disable INTX", "eventfds MSIX 0 [-1]"));
  fake_->calls.clear();
  ProgramMsix(3);
  // NORESIZE: off and on again with 4 vectors, only entry 3 wired.
  EXPECT_THAT(fake_->calls, ElementsAre("disable MSIX",
                                        "eventfds MSIX 0 [-1 -1 -1 fd]"));
  EXPECT_EQ(irqs_.allocated, 1);
  fake_->calls.clear();
  ProgramMsix(1);  // inside the allocation: no reset of MSI-X
  EXPECT_THAT(fake_->calls, ElementsAre("eventfds MSIX 1 [fd]"));
  EXPECT_EQ(irqs_.allocated, 2);
  EXPECT_EQ(BarRead32(0x2000 + 16 * 3 + 8), 0x43u);
  // The table never reaches the device.
  for (const std::string& call : fake_->calls) {
    EXPECT_THAT(call, Not(::testing::StartsWith("write 0 0x2")));
  }
  fake_->calls.clear();
  Write(kMsix + 2, 0, 2);
  EXPECT_THAT(fake_->calls, ElementsAre("disable MSIX", "eventfds INTX 0 [fd]",
                                        "unmaskfd INTX 0"));
}

TEST_F(VfioPciDeviceTest, Bar0IsMappedAroundTheMsixPages) {
  Make();
  EXPECT_THAT(fake_->maps, ElementsAre("0 0x0 0x2000", "4 0x0 0x1000"));
  MapBar0();
  EXPECT_THAT(mapper_.live, ElementsAre(std::pair<const uint64_t, uint64_t>(
                                kBar0, 0x2000)));
  fake_->calls.clear();
  EXPECT_EQ(BarRead32(0x2800), 0x5a5a5a5au);  // table page, not the table
  EXPECT_THAT(fake_->calls, ElementsAre("read 0 0x2800 4"));
  ASSERT_TRUE(
      device_->UnmapBar(pci::BarRegion{0, false, kBar0, 0x4000}, mmio_).ok());
  EXPECT_THAT(mapper_.live, IsEmpty());
  EXPECT_EQ(mmio_.size(), 0u);
}

TEST_F(VfioPciDeviceTest, WithoutMmapEveryBarAccessTraps) {
  Make(IntxMode::kIrqfdResample, /*mmap_bars=*/false);
  EXPECT_THAT(fake_->maps, IsEmpty());
  MapBar0();
  EXPECT_THAT(mapper_.live, IsEmpty());
  fake_->calls.clear();
  BarWrite32(0x10, 0x1234);
  BarRead32(0x10);
  EXPECT_THAT(fake_->calls, ElementsAre("write 0 0x10 4", "read 0 0x10 4"));
}

TEST_F(VfioPciDeviceTest, UserspaceIntxTrapsUntilTheGuestTouchesABar) {
  irqs_.can_resample = false;
  Make();
  EXPECT_THAT(fake_->calls, ElementsAre("eventfds INTX 0 [fd]"));
  MapBar0();
  ASSERT_FALSE(mapper_.live.empty());
  fake_->calls.clear();
  loop_.Fire(fake_->intx_fd);
  EXPECT_TRUE(*line_);
  EXPECT_THAT(mapper_.live, IsEmpty());  // BAR accesses trap now
  BarRead32(0x10);                        // the driver reads its status
  EXPECT_FALSE(*line_);
  EXPECT_THAT(fake_->calls, Contains("unmask INTX 0"));
  // The mmap timer (the other watch) brings the memslots back.
  for (auto& [token, h] : loop_.handlers) {
    if (h.first != fake_->intx_fd) h.second(EPOLLIN);
  }
  EXPECT_FALSE(mapper_.live.empty());
}

TEST_F(VfioPciDeviceTest, ResetTurnsInterruptsOffInOrderThenResets) {
  Make();
  MapBar0();
  Write(kMsix + 2, 0x8000, 2);
  ProgramMsix(0);
  fake_->calls.clear();
  ASSERT_TRUE(device_->Reset().ok());
  EXPECT_THAT(fake_->calls, ElementsAre("disable MSIX", "reset",
                                        "eventfds INTX 0 [fd]",
                                        "unmaskfd INTX 0"));
  EXPECT_EQ(Read(kMsix + 2, 2), 63u);  // enable bit cleared
  // Decode and bus mastering off at the function before the reset (and for
  // good where it cannot be reset).
  ASSERT_FALSE(fake_->config_writes.empty());
  const auto& command = fake_->config_writes.back();
  EXPECT_EQ(command.offset, 0x04u);
  ASSERT_EQ(command.data.size(), 2u);
  EXPECT_EQ(command.data[0] & 0x07, 0);  // IO, memory, bus master
}

TEST_F(VfioPciDeviceTest, HostileConfigWritesNeverReachBarsOrMsi) {
  Make();
  std::mt19937 rng(1);
  for (int i = 0; i < 20000; ++i) {
    const int n = 1 << (rng() % 3);
    const uint32_t off = (rng() % 4096) & ~(n - 1);
    Write(off, rng(), n);
    Read(rng() % 4096 & ~3u);
  }
  for (const auto& w : fake_->config_writes) {
    for (uint32_t b = w.offset; b < w.offset + w.data.size(); ++b) {
      EXPECT_FALSE(b >= 0x08 && b < 0x40) << b;  // BARs, ROM, IDs, pin
      EXPECT_FALSE(b >= kMsi && b < kMsi + 24) << b;
      EXPECT_FALSE(b >= kMsix && b < kMsix + 12) << b;
      EXPECT_LT(b, 0x100u);
    }
  }
}

TEST(VirtualConfigTest, RejectsBridgesAndShortConfig) {
  auto b = MakeBackend();
  b->config[0x0e] = 0x01;
  EXPECT_FALSE(VirtualConfig::Create(b->config, b->info()).ok());
  std::vector<uint8_t> short_config(64);
  EXPECT_FALSE(VirtualConfig::Create(short_config, b->info()).ok());
}

TEST(VirtualConfigTest, MsixOutsideItsBarIsHidden) {
  auto b = MakeBackend();
  Put(b->config, kMsix + 4, 0x4000, 4);  // table past BAR0's end
  auto config = VirtualConfig::Create(b->config, b->info());
  ASSERT_TRUE(config.ok());
  EXPECT_FALSE(config->msix().has_value());
  uint8_t next = 0;
  config->Read(kMsi + 1, absl::MakeSpan(&next, 1), {});
  EXPECT_EQ(next, 0);
}

TEST(VirtualConfigTest, CapabilityLoopIsBounded) {
  auto b = MakeBackend();
  b->config[kMsix + 1] = 0x40;  // loops back to PM
  EXPECT_TRUE(VirtualConfig::Create(b->config, b->info()).ok());
}

}  // namespace
}  // namespace microvm::vfio_pci
