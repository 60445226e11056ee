// SPDX-License-Identifier: Apache-2.0
// Fuzzes PCI configuration access end to end: the root complex's CF8/CFC
// ports and ECAM window (pci/root_complex.h), the config space and header
// behind them (pci/config_space.h, pci/pci_header.h), and two emulated test
// devices (devices/pci_test_device.h) whose BARs the guest moves and whose
// registers, MSI-X table and ROM it then reads and writes. The input is a
// sequence of operations; see LLVMFuzzerTestOneInput.
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "base/bus.h"
#include "devices/pci_test_device.h"
#include "fuzz/fake_interrupts.h"
#include "fuzz/fuzz_input.h"
#include "memory/layout.h"
#include "pci/bar_allocator.h"
#include "pci/config_space.h"
#include "pci/root_complex.h"

namespace microvm::pci {
namespace {

constexpr uint32_t kEcamBuses = 2;  // bus 1 exists in ECAM but is empty
constexpr uint16_t kCf8 = PciRoot::kConfigAddressPort;

// What a read returns, checked to fill exactly its size: the bytes after it
// in a bigger buffer stay untouched.
struct Reader {
  template <typename F>
  std::vector<uint8_t> operator()(size_t size, F read) {
    uint8_t buf[16];
    std::memset(buf, 0xa5, sizeof(buf));
    read(absl::MakeSpan(buf, size));
    for (size_t i = size; i < sizeof(buf); ++i) FUZZ_CHECK(buf[i] == 0xa5);
    return std::vector<uint8_t>(buf, buf + size);
  }
};

bool AllOnes(const std::vector<uint8_t>& bytes) {
  for (uint8_t b : bytes) {
    if (b != 0xff) return false;
  }
  return true;
}

// An ECAM offset: bus 0 or 1, any slot and function, any register.
uint64_t EcamOffset(fuzz::FuzzInput& in) {
  const uint8_t bdf = in.U8();
  const uint64_t bus = bdf >> 7;
  const uint64_t device = in.U8() % PciRoot::kSlots;
  const uint64_t function = (bdf & 0x40) ? bdf & 7 : 0;
  return bus << 20 | device << 15 | function << 12 | (in.U16() & 0xfff);
}

class Harness {
 public:
  explicit Harness(fuzz::FuzzInput& in) : in_(in) {}

  void Setup() {
    absl::StatusOr<std::unique_ptr<PciRoot>> root = PciRoot::Create(
        pio_, mmio_, interrupts_, PciRoot::Options{.ecam_buses = kEcamBuses});
    FUZZ_CHECK(root.ok());
    root_ = std::move(*root);
    for (int i = 0; i < 2; ++i) {
      absl::StatusOr<std::shared_ptr<PciTestDevice>> dev =
          PciTestDevice::Create(interrupts_);
      FUZZ_CHECK(dev.ok());
      absl::StatusOr<PciAddress> at = root_->AddDevice(*dev);
      FUZZ_CHECK(at.ok());
      slots_.push_back(at->device);
    }
    // Half the inputs start from firmware-assigned BARs with decode on.
    if (in_.U8() & 1) FUZZ_CHECK(root_->AssignBars(BarWindows()).ok());
  }

  void Step() {
    switch (in_.U8() % 10) {
      case 0: {  // the CF8 address latch; mostly enabled, bus 0-1
        uint32_t value = in_.U32();
        if (value & 1) value = (value & 0x01fffffc) | 0x80000000;
        uint8_t bytes[4];
        std::memcpy(bytes, &value, 4);
        pio_.Write(kCf8, bytes);
        break;
      }
      case 1: {  // CF8-CFF read, any size
        const uint64_t port = kCf8 + in_.U8() % 8;
        const size_t size = in_.AccessSize();
        std::vector<uint8_t> got =
            read_(size, [&](absl::Span<uint8_t> d) { pio_.Read(port, d); });
        if (port > kCf8 && port < kCf8 + 4) FUZZ_CHECK(AllOnes(got));
        break;
      }
      case 2: {  // CF8-CFF write
        const uint64_t port = kCf8 + in_.U8() % 8;
        Write(pio_, port, in_.AccessSize());
        break;
      }
      case 3:
        EcamRead();
        break;
      case 4:
        Write(mmio_, root_->ecam_base() + EcamOffset(in_), in_.AccessSize());
        break;
      case 5: {  // MMIO: BARs the firmware or the guest put in the window
        const uint64_t addr = layout::kMmio32Start + in_.U32() % (16 << 20);
        const size_t size = in_.AccessSize();
        read_(size, [&](absl::Span<uint8_t> d) { mmio_.Read(addr, d); });
        break;
      }
      case 6:
        Write(mmio_, layout::kMmio32Start + in_.U32() % (16 << 20),
              in_.AccessSize());
        break;
      case 7: {  // port I/O BARs
        const uint64_t port = 0xc000 + in_.U16() % 0x4000;
        if (in_.U8() & 1) {
          Write(pio_, port, in_.AccessSize());
        } else {
          read_(in_.AccessSize(),
                [&](absl::Span<uint8_t> d) { pio_.Read(port, d); });
        }
        break;
      }
      case 8: {  // ConfigRead with any register and size, even malformed
        const PciAddress address = Address();
        const uint32_t reg = in_.U16() & 0x1fff;
        const size_t size = in_.U8() % 9;
        std::vector<uint8_t> got = read_(size, [&](absl::Span<uint8_t> d) {
          root_->ConfigRead(address, reg, d);
        });
        if (!ConfigSpace::ValidAccess(reg, size)) FUZZ_CHECK(AllOnes(got));
        break;
      }
      default: {  // ConfigWrite likewise
        const PciAddress address = Address();
        const uint32_t reg = in_.U16() & 0x1fff;
        std::vector<uint8_t> data(in_.U8() % 9);
        for (uint8_t& b : data) b = in_.U8();
        root_->ConfigWrite(address, reg, data);
        break;
      }
    }
  }

 private:
  PciAddress Address() {
    const uint8_t b = in_.U8();
    return PciAddress{.bus = static_cast<uint8_t>(b >> 7),
                      .device = static_cast<uint8_t>(in_.U8() % 32),
                      .function = static_cast<uint8_t>((b & 0x40) ? b & 7 : 0)};
  }

  bool Present(uint64_t ecam_offset) const {
    if (ecam_offset >> 20 != 0 || (ecam_offset >> 12 & 7) != 0) return false;
    const uint8_t slot = ecam_offset >> 15 & 0x1f;
    return slot == 0 || slot == slots_[0] || slot == slots_[1];
  }

  // An ECAM read of 1, 2 or 4 bytes agrees with the dword it is part of
  // (config reads have no side effects); absent functions and 8-byte
  // accesses read all-ones.
  void EcamRead() {
    const uint64_t offset = EcamOffset(in_);
    const size_t size = in_.AccessSize();
    const uint64_t addr = root_->ecam_base() + offset;
    std::vector<uint8_t> got =
        read_(size, [&](absl::Span<uint8_t> d) { mmio_.Read(addr, d); });
    if (size == 8 || offset % size != 0 || !Present(offset)) {
      FUZZ_CHECK(AllOnes(got));
      return;
    }
    std::vector<uint8_t> dword = read_(4, [&](absl::Span<uint8_t> d) {
      mmio_.Read(addr & ~uint64_t{3}, d);
    });
    FUZZ_CHECK(std::memcmp(got.data(), dword.data() + offset % 4, size) == 0);
    if ((offset & 0xfff) == 0) {  // Vendor ID of a present function
      FUZZ_CHECK(!(got[0] == 0xff && got[size > 1 ? 1 : 0] == 0xff));
    }
  }

  void Write(Bus& bus, uint64_t addr, size_t size) {
    const uint64_t value = in_.U64();
    uint8_t bytes[8];
    std::memcpy(bytes, &value, 8);
    bus.Write(addr, absl::MakeConstSpan(bytes, size));
  }

  fuzz::FuzzInput& in_;
  Reader read_;
  // Declared before the root, which unregisters from them when destroyed.
  Bus pio_{"pio"};
  Bus mmio_{"mmio"};
  fuzz::FakeInterrupts interrupts_;
  std::unique_ptr<PciRoot> root_;
  std::vector<uint8_t> slots_;
};

}  // namespace
}  // namespace microvm::pci

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  microvm::fuzz::FuzzInput in(data, size);
  microvm::pci::Harness harness(in);
  harness.Setup();
  for (int ops = 0; !in.empty() && ops < 1024; ++ops) harness.Step();
  return 0;
}
