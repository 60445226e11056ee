// SPDX-License-Identifier: Apache-2.0
#include "pci/root_complex.h"

#include <cstdint>
#include <atomic>
#include <cstring>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "pci/testing.h"

namespace microvm::pci {
namespace {

using ::testing::ElementsAre;
using testing::FakeInterruptController;
using ::testing::HasSubstr;

constexpr uint64_t kEcam = layout::kEcamAddr;

// Records accesses to one BAR.
class BarRecorder final : public BusDevice {
 public:
  void Read(uint64_t offset, absl::Span<uint8_t> data) override {
    last_read = offset;
    std::memset(data.data(), 0x42, data.size());
  }
  void Write(uint64_t offset, absl::Span<const uint8_t>) override {
    last_write = offset;
  }
  uint64_t last_read = ~0ull;
  uint64_t last_write = ~0ull;
};

// A device with a header, some BARs, and counters on the PciDevice hooks.
class TestDevice : public PciDevice {
 public:
  explicit TestDevice(IntxPin pin = IntxPin::kIntA)
      : header_(PciIds{0x1234, 0x5678, 0xff0000}, pin) {}

  PciHeader& header() { return header_; }
  void Attach(const PciAddress& address,
              std::unique_ptr<IrqLine> intx) override {
    address_ = address;
    intx_ = std::move(intx);
  }
  void ConfigRead(uint32_t offset, absl::Span<uint8_t> data) override {
    header_.Read(offset, data);
  }
  ConfigWriteResult ConfigWrite(uint32_t offset,
                                absl::Span<const uint8_t> data) override {
    return header_.Write(offset, data);
  }
  std::shared_ptr<BusDevice> BarHandler(int index) override {
    return bars_[index];
  }
  absl::Status MapBar(const BarRegion& bar, Bus& bus) override {
    ++maps_;
    return PciDevice::MapBar(bar, bus);
  }
  absl::Status UnmapBar(const BarRegion& bar, Bus& bus) override {
    ++unmaps_;
    return PciDevice::UnmapBar(bar, bus);
  }

  std::array<std::shared_ptr<BarRecorder>, kNumBars + 1> bars_ = {
      std::make_shared<BarRecorder>(), std::make_shared<BarRecorder>(),
      std::make_shared<BarRecorder>(), std::make_shared<BarRecorder>(),
      std::make_shared<BarRecorder>(), std::make_shared<BarRecorder>(),
      std::make_shared<BarRecorder>()};
  PciAddress address_{0xff, 0xff, 0xff};
  std::unique_ptr<IrqLine> intx_;
  int maps_ = 0;
  int unmaps_ = 0;

 private:
  PciHeader header_;
};

class PciRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto root = PciRoot::Create(pio_, mmio_, irqs_);
    ASSERT_TRUE(root.ok()) << root.status();
    root_ = std::move(*root);
  }

  std::shared_ptr<TestDevice> NewDevice(IntxPin pin = IntxPin::kIntA) {
    auto dev = std::make_shared<TestDevice>(pin);
    EXPECT_TRUE(dev->header().AddBar(0, {BarType::kMemory32, 0x1000}).ok());
    EXPECT_TRUE(dev->header().AddBar(1, {BarType::kIo, 0x20}).ok());
    EXPECT_TRUE(
        dev->header().AddBar(2, {BarType::kMemory64, 1 << 20, true}).ok());
    EXPECT_TRUE(dev->header().AddRom(0x800).ok());
    return dev;
  }

  uint64_t Pio(uint16_t port, size_t size) {
    uint8_t buf[4] = {};
    pio_.Read(port, absl::MakeSpan(buf, size));
    uint64_t v = 0;
    for (size_t i = 0; i < size; ++i) v |= uint64_t{buf[i]} << (8 * i);
    return v;
  }
  void PioWrite(uint16_t port, size_t size, uint32_t value) {
    uint8_t buf[4];
    for (int i = 0; i < 4; ++i) buf[i] = value >> (8 * i);
    pio_.Write(port, absl::MakeConstSpan(buf, size));
  }
  uint64_t Mmio(uint64_t addr, size_t size) {
    uint8_t buf[8] = {};
    mmio_.Read(addr, absl::MakeSpan(buf, size));
    uint64_t v = 0;
    for (size_t i = 0; i < size; ++i) v |= uint64_t{buf[i]} << (8 * i);
    return v;
  }
  void MmioWrite(uint64_t addr, size_t size, uint64_t value) {
    uint8_t buf[8];
    for (int i = 0; i < 8; ++i) buf[i] = value >> (8 * i);
    mmio_.Write(addr, absl::MakeConstSpan(buf, size));
  }
  static uint64_t Ecam(uint8_t dev, uint32_t reg, uint8_t fn = 0,
                       uint8_t bus = 0) {
    return kEcam + (uint64_t{bus} << 20) + (dev << 15) + (fn << 12) + reg;
  }
  static uint32_t Cf8(uint8_t dev, uint32_t reg, uint8_t fn = 0,
                      uint8_t bus = 0) {
    return 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc);
  }

  Bus pio_{"pio"};
  Bus mmio_{"mmio"};
  FakeInterruptController irqs_;
  std::unique_ptr<PciRoot> root_;
};

TEST_F(PciRootTest, HostBridgeThroughBothMechanisms) {
  PioWrite(0xcf8, 4, Cf8(0, 0));
  EXPECT_EQ(Pio(0xcfc, 4), 0x00081b36u);
  PioWrite(0xcf8, 4, Cf8(0, 0x08));
  EXPECT_EQ(Pio(0xcfc, 4) >> 8, 0x060000u);
  EXPECT_EQ(Mmio(Ecam(0, 0), 4), 0x00081b36u);
  EXPECT_EQ(Mmio(Ecam(0, 0x0a), 2), 0x0600u);
  EXPECT_EQ(Mmio(Ecam(0, 0x3d), 1), 0u);  // no INTx pin
  EXPECT_EQ(root_->ecam_size(), 1u << 20);
  EXPECT_TRUE(root_->intx_routes().empty());
}

TEST_F(PciRootTest, ConfigAddressRegister) {
  PioWrite(0xcf8, 4, 0xffffffff);
  EXPECT_EQ(Pio(0xcf8, 4), 0x80fffffcu);  // reserved bits read 0
  // Byte and word accesses to 0xCF8-0xCFB are not CONFIG_ADDRESS.
  PioWrite(0xcf8, 1, 0);
  PioWrite(0xcf9, 1, 0);
  PioWrite(0xcfa, 2, 0);
  EXPECT_EQ(Pio(0xcf8, 4), 0x80fffffcu);
  EXPECT_EQ(Pio(0xcf8, 1), 0xffu);
  EXPECT_EQ(Pio(0xcfa, 2), 0xffffu);
  // A dword straddling address and data ports does nothing.
  PioWrite(0xcfa, 4, 0);
  EXPECT_EQ(Pio(0xcfa, 4), 0xffffffffu);
}

TEST_F(PciRootTest, ConfigDataEverySizeAndOffset) {
  auto dev = NewDevice();
  ASSERT_TRUE(root_->AddDevice(dev, 2).ok());
  PioWrite(0xcf8, 4, Cf8(2, 0));
  const uint32_t ids = 0x56781234;
  for (uint32_t size : {1u, 2u, 4u}) {
    for (uint32_t off = 0; off + size <= 4; ++off) {
      uint64_t expect = ids >> (8 * off);
      if (size < 4) expect &= (1u << (8 * size)) - 1;
      EXPECT_EQ(Pio(0xcfc + off, size), expect) << size << "@" << off;
    }
  }
  // Writes at every byte offset: Interrupt Line is byte 0 of dword 0x3c.
  PioWrite(0xcf8, 4, Cf8(2, 0x3c));
  PioWrite(0xcfc, 1, 0x0b);
  EXPECT_EQ(Pio(0xcfc, 4), 0x0000010bu);  // pin INTA
  PioWrite(0xcf8, 4, Cf8(2, 0x04));
  PioWrite(0xcfd, 1, 0x04);  // Command byte 1: INTx disable
  EXPECT_EQ(dev->header().command(), kCommandIntxDisable);
  PioWrite(0xcfe, 2, 0xffff);  // Status: W1C, nothing set
  PioWrite(0xcfc, 2, 0);
  EXPECT_EQ(dev->header().command(), 0);
  // Enable bit clear: no config cycle.
  PioWrite(0xcf8, 4, Cf8(2, 0) & 0x7fffffff);
  EXPECT_EQ(Pio(0xcfc, 4), 0xffffffffu);
}

TEST_F(PciRootTest, AbsentFunctionsReadAllOnes) {
  auto dev = NewDevice();
  ASSERT_TRUE(root_->AddDevice(dev, 2).ok());
  for (auto [bus, slot, fn] : {std::tuple{0, 3, 0}, std::tuple{0, 2, 1},
                               std::tuple{1, 2, 0}, std::tuple{0, 31, 7}}) {
    PioWrite(0xcf8, 4, Cf8(slot, 0, fn, bus));
    EXPECT_EQ(Pio(0xcfc, 4), 0xffffffffu);
    PioWrite(0xcfc, 4, 0);
    if (bus == 0) {
      EXPECT_EQ(Mmio(Ecam(slot, 0, fn), 4), 0xffffffffu);
      EXPECT_EQ(Mmio(Ecam(slot, 0x40, fn), 1), 0xffu);
    }
  }
  // Past bus 0's ECAM: nothing on the bus at all.
  uint8_t buf[4];
  EXPECT_FALSE(mmio_.Read(Ecam(0, 0, 0, 1), absl::MakeSpan(buf)));
}

TEST_F(PciRootTest, EcamAlignmentAndExtendedSpace) {
  auto dev = NewDevice();
  ASSERT_TRUE(root_->AddDevice(dev, 5).ok());
  EXPECT_EQ(Mmio(Ecam(5, 0), 4), 0x56781234u);
  EXPECT_EQ(Mmio(Ecam(5, 2), 2), 0x5678u);
  EXPECT_EQ(Mmio(Ecam(5, 3), 1), 0x56u);
  EXPECT_EQ(Mmio(Ecam(5, 1), 2), 0xffffu);      // misaligned
  EXPECT_EQ(Mmio(Ecam(5, 2), 4), 0xffffffffu);  // misaligned
  EXPECT_EQ(Mmio(Ecam(5, 0), 8), ~0ull);        // no 8-byte config cycles
  EXPECT_EQ(Mmio(Ecam(5, 0x100), 4), 0u);       // present, unimplemented
  EXPECT_EQ(Mmio(Ecam(5, 0xffc), 4), 0u);
  MmioWrite(Ecam(5, 0x3c), 1, 0x33);
  EXPECT_EQ(Mmio(Ecam(5, 0x3c), 1), 0x33u);
  MmioWrite(Ecam(5, 0x3b), 2, 0xffff);  // misaligned: ignored
  EXPECT_EQ(Mmio(Ecam(5, 0x3c), 1), 0x33u);
}

TEST_F(PciRootTest, AddDeviceSlotsAndIntx) {
  auto a = NewDevice(IntxPin::kIntA);
  auto b = NewDevice(IntxPin::kIntB);
  auto c = NewDevice(IntxPin::kIntD);
  auto none = NewDevice(IntxPin::kNone);
  auto first = root_->AddDevice(a);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, (PciAddress{0, 1, 0}));
  EXPECT_EQ(a->address_, (PciAddress{0, 1, 0}));
  ASSERT_TRUE(root_->AddDevice(b, 4).ok());
  ASSERT_TRUE(root_->AddDevice(c, 2).ok());
  ASSERT_TRUE(root_->AddDevice(none).ok());
  EXPECT_EQ(none->address_.device, 3);
  EXPECT_EQ(none->intx_, nullptr);

  EXPECT_EQ(root_->AddDevice(NewDevice(), 4).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(root_->AddDevice(NewDevice(), 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(root_->AddDevice(NewDevice(), 32).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(root_->AddDevice(nullptr).ok());

  // INTA of slot 1 -> 17, INTB of slot 4 -> 16 + 5 % 4 = 17, INTD of
  // slot 2 -> 16 + 5 % 4 = 17: all three share GSI 17.
  EXPECT_THAT(root_->intx_routes(),
              ElementsAre(IntxRoute{1, 0, 17}, IntxRoute{4, 1, 17},
                          IntxRoute{2, 3, 17}));
  EXPECT_EQ(PciRoot::IntxGsi(0, 0), 16u);
  EXPECT_EQ(PciRoot::IntxGsi(31, 3), 18u);
  EXPECT_EQ(Mmio(Ecam(4, 0x3c), 2), 0x0211u);  // line 17, pin INTB

  ASSERT_EQ(irqs_.lines[17].size(), 1u);  // one shared input
  auto* line = irqs_.lines[17][0];
  a->intx_->Set(true);
  c->intx_->Set(true);
  a->intx_->Set(false);
  EXPECT_TRUE(line->high());
  c->intx_->Set(false);
  EXPECT_FALSE(line->high());
  EXPECT_EQ(a->intx_->gsi(), 17u);

  // Slots run out at 31.
  for (int i = 0; i < 27; ++i) ASSERT_TRUE(root_->AddDevice(NewDevice()).ok());
  EXPECT_EQ(root_->AddDevice(NewDevice()).status().code(),
            absl::StatusCode::kResourceExhausted);
}

// A slot reserved for a device added later: its four pins are routed at
// once (the boot tables are written before the device exists), the free-slot
// search passes it by, and the device then goes into it with its routes not
// repeated.
TEST_F(PciRootTest, ReservedSlotIsRoutedBeforeItsDevice) {
  ASSERT_TRUE(root_->AddDevice(NewDevice(IntxPin::kIntA)).ok());  // slot 1
  absl::StatusOr<uint8_t> reserved = root_->ReserveSlot(std::nullopt);
  ASSERT_TRUE(reserved.ok()) << reserved.status();
  EXPECT_EQ(*reserved, 2);
  EXPECT_THAT(root_->intx_routes(),
              ElementsAre(IntxRoute{1, 0, 17}, IntxRoute{2, 0, 18},
                          IntxRoute{2, 1, 19}, IntxRoute{2, 2, 16},
                          IntxRoute{2, 3, 17}));
  // Nothing answers in the slot yet.
  EXPECT_EQ(Mmio(Ecam(2, 0), 4), 0xffffffffu);
  auto other = root_->AddDevice(NewDevice());
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(other->device, 3);

  auto late = NewDevice(IntxPin::kIntB);
  ASSERT_TRUE(root_->AddDevice(late, *reserved).ok());
  EXPECT_EQ(late->address_, (PciAddress{0, 2, 0}));
  EXPECT_EQ(late->intx_->gsi(), 19u);
  EXPECT_EQ(Mmio(Ecam(2, 0x3c), 2), 0x0213u);  // line 19, pin INTB
  EXPECT_EQ(root_->intx_routes().size(), 6u);  // 5 above + slot 3's INTA

  // With the pin known (sysfs), only that pin is routed; none for 0.
  absl::StatusOr<uint8_t> intc = root_->ReserveSlot(3);
  ASSERT_TRUE(intc.ok());
  EXPECT_EQ(*intc, 4);
  EXPECT_EQ(root_->intx_routes().back(), (IntxRoute{4, 2, 18}));
  ASSERT_TRUE(root_->ReserveSlot(0).ok());
  EXPECT_EQ(root_->intx_routes().size(), 7u);
  EXPECT_FALSE(root_->ReserveSlot(5).ok());
}

// While config access is held, a guest's access waits (its vCPU thread
// blocks) and sees the device added meanwhile once it is released; the CF8
// latch does not wait.
TEST_F(PciRootTest, HeldConfigAccessWaitsForLateDevices) {
  absl::StatusOr<uint8_t> slot = root_->ReserveSlot(1);
  ASSERT_TRUE(slot.ok());
  root_->HoldConfigAccess();
  PioWrite(0xcf8, 4, Cf8(*slot, 0));
  EXPECT_EQ(Pio(0xcf8, 4), Cf8(*slot, 0));
  EXPECT_EQ(Pio(0xcfb, 1), 0xffu);  // not a config cycle: no wait
  EXPECT_EQ(root_->hold_counts().waits, 0);
  std::atomic<bool> done{false};
  uint64_t vendor_device = 0;
  std::thread vcpu([&] {
    vendor_device = Mmio(Ecam(*slot, 0), 4);
    done = true;
  });
  // It waits: counted as the wait begins, and it cannot finish while held.
  while (root_->hold_counts().waits == 0) std::this_thread::yield();
  EXPECT_FALSE(done);
  ASSERT_TRUE(root_->AddDevice(NewDevice(), *slot).ok());
  root_->ReleaseConfigAccess();
  vcpu.join();
  EXPECT_EQ(vendor_device, 0x56781234u);
  EXPECT_EQ(root_->hold_counts().waits, 1);
  // Released: nothing waits any more.
  EXPECT_EQ(Pio(0xcfc, 4), 0x56781234u);
  EXPECT_EQ(root_->hold_counts().waits, 1);
}

// The VM ends while an access waits: it returns without touching any
// device (reads all-ones, writes dropped), and so does every later one, even
// after a release.
TEST_F(PciRootTest, AbortedConfigAccessTouchesNoDevice) {
  auto dev = NewDevice();
  ASSERT_TRUE(root_->AddDevice(dev, 1).ok());
  root_->HoldConfigAccess();
  uint64_t read = 0;
  std::thread vcpu([&] { read = Mmio(Ecam(1, 0), 4); });
  while (root_->hold_counts().waits == 0) std::this_thread::yield();
  root_->AbortConfigAccess();
  vcpu.join();
  EXPECT_EQ(read, 0xffffffffu);
  root_->ReleaseConfigAccess();
  EXPECT_EQ(Mmio(Ecam(1, 0), 4), 0xffffffffu);
  PioWrite(0xcf8, 4, Cf8(1, 0));
  EXPECT_EQ(Pio(0xcfc, 4), 0xffffffffu);
  MmioWrite(Ecam(1, 0x04), 2, 0x0002);  // memory decode on: dropped
  uint8_t command[2] = {0xaa, 0xaa};
  dev->ConfigRead(0x04, absl::MakeSpan(command, 2));
  EXPECT_EQ(command[0] & 0x2, 0);
  EXPECT_EQ(dev->maps_, 0);
}

TEST_F(PciRootTest, BadInterruptPinIsRejected) {
  auto dev = NewDevice(IntxPin::kNone);
  dev->header().config().Set8(kInterruptPin, 7);
  EXPECT_EQ(root_->AddDevice(dev).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PciRootTest, BarsMapAndMoveWithConfigWrites) {
  auto dev = NewDevice();
  ASSERT_TRUE(root_->AddDevice(dev, 3).ok());
  const size_t base_ranges = mmio_.size();
  MmioWrite(Ecam(3, 0x10), 4, 0xc0000000);
  PioWrite(0xcf8, 4, Cf8(3, 0x14));
  PioWrite(0xcfc, 4, 0xc000);
  MmioWrite(Ecam(3, 0x18), 4, 0x0);
  MmioWrite(Ecam(3, 0x1c), 4, 0x2);  // BAR 2 at 8 GiB
  EXPECT_EQ(dev->maps_, 0);
  EXPECT_EQ(Mmio(0xc0000000, 4), 0xffffffffu);

  MmioWrite(Ecam(3, 0x04), 2, kCommandMemory);
  EXPECT_EQ(dev->maps_, 2);
  EXPECT_EQ(mmio_.size(), base_ranges + 2);
  EXPECT_EQ(Mmio(0xc0000010, 4), 0x42424242u);
  EXPECT_EQ(dev->bars_[0]->last_read, 0x10u);
  MmioWrite(0x200000008, 4, 1);
  EXPECT_EQ(dev->bars_[2]->last_write, 8u);

  MmioWrite(Ecam(3, 0x04), 2, kCommandMemory | kCommandIo);
  EXPECT_EQ(Pio(0xc004, 1), 0x42u);
  EXPECT_EQ(dev->bars_[1]->last_read, 4u);

  // Move BAR 0: the old range goes, the new one appears.
  MmioWrite(Ecam(3, 0x10), 4, 0xc0100000);
  EXPECT_EQ(dev->unmaps_, 1);
  EXPECT_EQ(Mmio(0xc0000010, 4), 0xffffffffu);
  EXPECT_EQ(Mmio(0xc0100020, 4), 0x42424242u);
  EXPECT_EQ(dev->bars_[0]->last_read, 0x20u);

  // ROM needs its enable bit.
  MmioWrite(Ecam(3, 0x30), 4, 0xc0200000);
  EXPECT_EQ(Mmio(0xc0200000, 4), 0xffffffffu);
  MmioWrite(Ecam(3, 0x30), 4, 0xc0200001);
  EXPECT_EQ(Mmio(0xc0200000, 4), 0x42424242u);

  // Memory decode off: every memory BAR goes; I/O stays.
  MmioWrite(Ecam(3, 0x04), 2, kCommandIo);
  EXPECT_EQ(mmio_.size(), base_ranges);
  EXPECT_EQ(Pio(0xc004, 1), 0x42u);
  MmioWrite(Ecam(3, 0x04), 2, 0);
  EXPECT_EQ(Pio(0xc004, 1), 0xffu);
  EXPECT_EQ(dev->maps_, dev->unmaps_);
}

TEST_F(PciRootTest, OverlappingBarStaysUnmappedUntilMoved) {
  auto a = NewDevice();
  auto b = NewDevice();
  ASSERT_TRUE(root_->AddDevice(a, 1).ok());
  ASSERT_TRUE(root_->AddDevice(b, 2).ok());
  MmioWrite(Ecam(1, 0x10), 4, 0xc0000000);
  MmioWrite(Ecam(1, 0x04), 2, kCommandMemory);
  MmioWrite(Ecam(2, 0x10), 4, 0xc0000000);  // same address as a's BAR 0
  MmioWrite(Ecam(2, 0x04), 2, kCommandMemory);
  EXPECT_EQ(b->maps_, 1);
  Mmio(0xc0000000, 4);
  EXPECT_EQ(a->bars_[0]->last_read, 0u);
  EXPECT_EQ(b->bars_[0]->last_read, ~0ull);
  // Over ECAM itself: refused the same way.
  MmioWrite(Ecam(2, 0x10), 4, 0xe0000000);
  EXPECT_EQ(b->unmaps_, 0);  // nothing was mapped
  EXPECT_EQ(Mmio(Ecam(2, 0), 4), 0x56781234u);
  // Moved somewhere free, it maps.
  MmioWrite(Ecam(2, 0x10), 4, 0xc0001000);
  EXPECT_EQ(Mmio(0xc0001000, 4), 0x42424242u);
  EXPECT_EQ(b->bars_[0]->last_read, 0u);
}

TEST_F(PciRootTest, AssignBarsLikeFirmware) {
  auto a = NewDevice();
  auto b = NewDevice();
  ASSERT_TRUE(b->header().AddBar(4, {BarType::kMemory64, 256 << 20}).ok());
  ASSERT_TRUE(root_->AddDevice(a, 1).ok());
  ASSERT_TRUE(root_->AddDevice(b, 2).ok());
  BarWindows w;
  w.mmio64_base = uint64_t{16} << 30;
  w.mmio64_size = uint64_t{16} << 30;
  ASSERT_TRUE(root_->AssignBars(w).ok());

  EXPECT_EQ(b->header().DecodedBar(4)->address, uint64_t{16} << 30);
  // 1 MiB BARs first (a then b), then the 4 KiB ones.
  EXPECT_EQ(a->header().DecodedBar(2)->address, 0xc0000000u);
  EXPECT_EQ(b->header().DecodedBar(2)->address, 0xc0100000u);
  EXPECT_EQ(a->header().DecodedBar(0)->address, 0xc0200000u);
  EXPECT_EQ(b->header().DecodedBar(0)->address, 0xc0201000u);
  EXPECT_EQ(a->header().DecodedBar(1)->address, 0xc000u);
  EXPECT_EQ(b->header().DecodedBar(1)->address, 0xc020u);
  EXPECT_EQ(a->header().DecodedBar(kRomBar), std::nullopt);
  EXPECT_EQ(a->header().command(), kCommandIo | kCommandMemory);
  EXPECT_EQ(Mmio(0xc0201000, 4), 0x42424242u);
  EXPECT_EQ(Pio(0xc020, 4), 0x42424242u);
  EXPECT_EQ(Mmio((uint64_t{16} << 30) + 8, 4), 0x42424242u);
}

TEST_F(PciRootTest, AssignBarsFailsCleanly) {
  auto a = NewDevice();
  ASSERT_TRUE(a->header().AddBar(4, {BarType::kMemory64, 1ull << 30}).ok());
  ASSERT_TRUE(root_->AddDevice(a, 1).ok());
  auto status = root_->AssignBars(BarWindows{});
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(status.message(), HasSubstr("00:01.0 BAR 4"));
  for (int i = 0; i <= kRomBar; ++i) {
    EXPECT_EQ(a->header().DecodedBar(i), std::nullopt);
  }
  EXPECT_EQ(a->header().config().Get32(kBar0), 0u);
}

// A passthrough-style device that maps BAR 0 itself and refuses BAR 2.
class OverridingDevice : public TestDevice {
 public:
  absl::Status MapBar(const BarRegion& bar, Bus& bus) override {
    if (bar.index == 2) return absl::InternalError("no memslot for you");
    if (bar.index == 0) {
      mapped.push_back(bar);
      return absl::OkStatus();
    }
    return PciDevice::MapBar(bar, bus);
  }
  absl::Status UnmapBar(const BarRegion& bar, Bus& bus) override {
    if (bar.index == 0) {
      unmapped.push_back(bar);
      return absl::OkStatus();
    }
    return PciDevice::UnmapBar(bar, bus);
  }
  std::vector<BarRegion> mapped, unmapped;
};

TEST_F(PciRootTest, DevicesCanOverrideBarMapping) {
  auto dev = std::make_shared<OverridingDevice>();
  ASSERT_TRUE(dev->header().AddBar(0, {BarType::kMemory32, 0x1000}).ok());
  ASSERT_TRUE(dev->header().AddBar(2, {BarType::kMemory32, 0x1000}).ok());
  ASSERT_TRUE(root_->AddDevice(dev, 1).ok());
  const size_t ranges = mmio_.size();
  MmioWrite(Ecam(1, 0x10), 4, 0xc0000000);
  MmioWrite(Ecam(1, 0x18), 4, 0xc0001000);
  MmioWrite(Ecam(1, 0x04), 2, kCommandMemory);
  EXPECT_EQ(mmio_.size(), ranges);  // neither went on the bus
  ASSERT_EQ(dev->mapped.size(), 1u);
  EXPECT_EQ(dev->mapped[0].address, 0xc0000000u);
  // BAR 2 failed to map, so turning decode off unmaps only BAR 0.
  MmioWrite(Ecam(1, 0x04), 2, 0);
  ASSERT_EQ(dev->unmapped.size(), 1u);
  EXPECT_EQ(dev->unmapped[0], dev->mapped[0]);
}

TEST(PciRootLifetimeTest, DestructorUnregistersEverything) {
  Bus pio("pio"), mmio("mmio");
  FakeInterruptController irqs;
  auto dev = std::make_shared<TestDevice>();
  ASSERT_TRUE(dev->header().AddBar(0, {BarType::kMemory32, 0x1000}).ok());
  {
    PciRoot::Options options;
    options.ecam_buses = 4;
    auto root = PciRoot::Create(pio, mmio, irqs, options);
    ASSERT_TRUE(root.ok());
    EXPECT_EQ((*root)->ecam_size(), 4u << 20);
    ASSERT_TRUE((*root)->AddDevice(dev).ok());
    (*root)->ConfigWrite(
        {0, 1, 0}, kBar0,
        absl::MakeConstSpan(std::vector<uint8_t>{0, 0, 0, 0xd0}));
    (*root)->ConfigWrite({0, 1, 0}, kCommand,
                         absl::MakeConstSpan(std::vector<uint8_t>{2, 0}));
    EXPECT_EQ(mmio.size(), 2u);
    EXPECT_EQ(pio.size(), 1u);
    // A second root cannot take the same ports.
    EXPECT_FALSE(PciRoot::Create(pio, mmio, irqs).ok());
  }
  EXPECT_EQ(mmio.size(), 0u);
  EXPECT_EQ(pio.size(), 0u);
  EXPECT_FALSE(PciRoot::Create(pio, mmio, irqs, {layout::kEcamAddr, 0}).ok());
  EXPECT_FALSE(PciRoot::Create(pio, mmio, irqs, {layout::kEcamAddr, 257}).ok());
}

// A hostile guest: every offset, size and a few value patterns, through
// both mechanisms. Nothing may crash, and afterwards the buses hold exactly
// the BARs the header says decode (no stale ranges).
TEST_F(PciRootTest, HostileGuestWritesEverything) {
  auto dev = NewDevice();
  ASSERT_TRUE(root_->AddDevice(dev, 1).ok());
  const size_t base_pio = pio_.size(), base_mmio = mmio_.size();
  std::mt19937_64 rng(1);
  const uint64_t patterns[] = {0, ~0ull, 0x5a5a5a5a5a5a5a5a, 0xc0000007c000,
                               0x80000000};
  for (uint8_t slot : {0, 1, 7}) {
    for (uint32_t reg = 0; reg < 4096 + 8; ++reg) {
      for (size_t size : {1, 2, 3, 4, 8}) {
        for (uint64_t value : {patterns[reg % 5], uint64_t{rng()}}) {
          MmioWrite(Ecam(slot, 0) + reg, size, value);
          Mmio(Ecam(slot, 0) + reg, size);
        }
      }
    }
  }
  for (uint32_t n = 0; n < 20000; ++n) {
    PioWrite(0xcf8, 4, static_cast<uint32_t>(rng()) | 0x80000000);
    const uint16_t port = 0xcf8 + rng() % 8;
    const size_t size = 1u << (rng() % 3);
    PioWrite(port, size, static_cast<uint32_t>(rng()));
    Pio(port, size);
    PioWrite(0xcf8, 4, Cf8(1, rng() % 256));
    PioWrite(0xcfc + rng() % 4, 1u << (rng() % 3),
             static_cast<uint32_t>(rng()));
  }
  size_t want_pio = base_pio, want_mmio = base_mmio;
  for (int i = 0; i <= kRomBar; ++i) {
    if (auto bar = dev->header().DecodedBar(i)) {
      (bar->io ? want_pio : want_mmio) += 1;
    }
  }
  // A decoding BAR may have been refused (overlap); never the other way.
  EXPECT_LE(pio_.size(), want_pio);
  EXPECT_LE(mmio_.size(), want_mmio);
  EXPECT_EQ(
      dev->maps_ - dev->unmaps_,
      static_cast<int>(pio_.size() - base_pio + mmio_.size() - base_mmio));
  // Turning decode off leaves nothing behind.
  MmioWrite(Ecam(1, 4), 2, 0);
  EXPECT_EQ(pio_.size(), base_pio);
  EXPECT_EQ(mmio_.size(), base_mmio);
  EXPECT_EQ(Mmio(Ecam(0, 0), 4), 0x00081b36u);
}

}  // namespace
}  // namespace microvm::pci
