// SPDX-License-Identifier: Apache-2.0
// An emulated PCI function for microvm's own tests: every BAR type, an
// expansion ROM, INTx, MSI and MSI-X, each reachable and observable from a
// tiny guest. It is the emulated counterpart of the devices the lab passes
// through with vfio-pci, so the same guest checks can run against both.
//
// IDs: 1234:7e57, class ff0000 ("unclassified device"). Not QEMU's
// pci-testdev (1b36:0005), whose registers mean something else, and not
// edu (1234:11e8), which the lab passes through next to it. No OS driver
// claims it.
//
// Resources:
//   BAR0    4 KiB, 32-bit memory: the registers below.
//   BAR1    32 bytes of I/O: registers 0x00-0x1f again (same semantics), so
//           port-I/O BAR dispatch is tested too.
//   BAR2/3  1 MiB, 64-bit prefetchable memory: scratch RAM (host memory,
//           served access by access; starts zeroed).
//   BAR4    4 KiB, 32-bit memory: the MSI-X table (8 vectors) at 0x000 and
//           its PBA at 0x800.
//   ROM     2 KiB: 55 AA, a PCI Data Structure ("PCIR", PCI Firmware 3.0
//           5.1.2) at 0x20, then a pattern: byte i = (i * 31 + 7) & 0xff
//           for i >= 0x40.
//   INTx    pin A (level; the guest acknowledges with INTX_LOWER).
//   caps    MSI (4 vectors, 64-bit, per-vector mask), then MSI-X.
//
// Registers (BAR0; dwords, naturally aligned 32-bit accesses only; other
// accesses read 0 and are ignored):
//   0x00 ID           R   kMagic (0x4454564d, "MVTD" in memory order)
//   0x04 VERSION      R   1
//   0x08 SCRATCH      RW  any value
//   0x0c INTX_RAISE   W   assert INTx (level); R: 1 while asserted
//   0x10 INTX_LOWER   W   deassert INTx (the interrupt acknowledge)
//   0x14 MSI_FIRE     W   signal MSI vector N (N < enabled vectors)
//   0x18 MSIX_FIRE    W   signal MSI-X vector N (N < 8)
//   0x1c IRQ_COUNT    R   interrupts delivered (INTx assertions that
//                         reached the line, MSI and MSI-X messages sent,
//                         including pending ones sent on unmask); W: clear
//   0x20 IRQ_HELD     R   signals not delivered: masked (pending bit set),
//                         capability off, INTx disabled; W: clear
//   0x24 DOORBELL     RW  last value written; each write counts
//   0x28 DOORBELL_CNT R   writes to DOORBELL
//   0x2c STATUS       R   bit 0 INTx asserted, 1 INTx line high, 2 MSI on,
//                         3 MSI-X on, 4 MSI-X function masked
//
// INTx (PCI Local Bus 3.0 6.2.2, 6.2.3, 6.8.1.3): Status.INTx follows the
// device's assertion; the line is driven only while Command.INTx_DISABLE is
// clear and neither MSI nor MSI-X is enabled. MSI/MSI-X (6.8): host vectors
// are allocated from the InterruptController when a vector first starts
// delivering and released when its capability is disabled; a signal on a
// masked vector sets its pending bit and is sent once on unmask.
//
// Threading: config accesses (under PciRoot's lock) and BAR accesses (any
// vCPU) take the one device mutex; lock order PciRoot, device, then the
// interrupt controller and Bus.
#ifndef MICROVM_DEVICES_PCI_TEST_DEVICE_H_
#define MICROVM_DEVICES_PCI_TEST_DEVICE_H_

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "base/bus.h"
#include "base/irq.h"
#include "pci/msi.h"
#include "pci/msix.h"
#include "pci/pci_device.h"
#include "pci/pci_header.h"

namespace microvm {

class PciTestDevice final : public pci::PciDevice,
                            public std::enable_shared_from_this<PciTestDevice> {
 public:
  static constexpr uint16_t kVendorId = 0x1234;
  static constexpr uint16_t kDeviceId = 0x7e57;
  static constexpr uint32_t kClassCode = 0xff0000;
  static constexpr uint32_t kMagic = 0x4454564d;
  static constexpr uint32_t kVersion = 1;

  // BAR layout.
  static constexpr int kRegsBar = 0;
  static constexpr int kIoBar = 1;
  static constexpr int kScratchBar = 2;  // 64-bit: also takes BAR3
  static constexpr int kMsixBar = 4;
  static constexpr uint64_t kRegsSize = 4096;
  static constexpr uint64_t kIoSize = 32;
  static constexpr uint64_t kScratchSize = 1 << 20;
  static constexpr uint64_t kMsixBarSize = 4096;
  static constexpr uint32_t kMsixTableOffset = 0x000;
  static constexpr uint32_t kMsixPbaOffset = 0x800;
  static constexpr uint64_t kRomSize = 2048;
  static constexpr uint32_t kRomPcirOffset = 0x20;
  static constexpr uint32_t kRomPatternOffset = 0x40;

  static constexpr uint32_t kMsiVectors = 4;
  static constexpr uint32_t kMsixVectors = 8;

  // Register offsets (BAR0, and BAR1 below kIoSize).
  enum Reg : uint32_t {
    kRegId = 0x00,
    kRegVersion = 0x04,
    kRegScratch = 0x08,
    kRegIntxRaise = 0x0c,
    kRegIntxLower = 0x10,
    kRegMsiFire = 0x14,
    kRegMsixFire = 0x18,
    kRegIrqCount = 0x1c,
    kRegIrqHeld = 0x20,
    kRegDoorbell = 0x24,
    kRegDoorbellCount = 0x28,
    kRegStatus = 0x2c,
  };
  // STATUS bits.
  static constexpr uint32_t kStatusIntxAsserted = 1 << 0;
  static constexpr uint32_t kStatusIntxLine = 1 << 1;
  static constexpr uint32_t kStatusMsi = 1 << 2;
  static constexpr uint32_t kStatusMsix = 1 << 3;
  static constexpr uint32_t kStatusMsixFunctionMasked = 1 << 4;

  // `interrupts` (for MSI vectors) must outlive the device.
  static absl::StatusOr<std::shared_ptr<PciTestDevice>> Create(
      InterruptController& interrupts);

  // pci::PciDevice.
  void Attach(const pci::PciAddress& address,
              std::unique_ptr<IrqLine> intx) override;
  void ConfigRead(uint32_t offset, absl::Span<uint8_t> data) override;
  pci::ConfigWriteResult ConfigWrite(uint32_t offset,
                                     absl::Span<const uint8_t> data) override;
  std::shared_ptr<BusDevice> BarHandler(int index) override;

  // Host vectors currently allocated (for tests).
  size_t host_vectors() const;

 private:
  class Handler;
  // The host vectors behind one capability's vectors; null = not allocated.
  using Vectors = std::vector<std::unique_ptr<MsiVector>>;

  PciTestDevice(InterruptController& interrupts, pci::PciHeader header,
                pci::MsiCapability msi, pci::MsixCapability msix);

  // BAR accesses, `bar` = index (or kRomBar).
  void BarRead(int bar, uint64_t offset, absl::Span<uint8_t> data)
      ABSL_LOCKS_EXCLUDED(mu_);
  void BarWrite(int bar, uint64_t offset, absl::Span<const uint8_t> data)
      ABSL_LOCKS_EXCLUDED(mu_);
  uint32_t RegRead(uint64_t offset) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void RegWrite(uint64_t offset, uint32_t value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  void FireMsi(uint32_t vector) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FireMsix(uint32_t vector) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Apply(const pci::MsiActions& actions, Vectors& vectors,
             const char* what) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drives the INTx line from the assertion, Command and the MSI state.
  void UpdateIntx() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Deliver(MsiVector* vector) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Report(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  InterruptController& interrupts_;
  mutable absl::Mutex mu_;
  pci::PciHeader header_ ABSL_GUARDED_BY(mu_);
  pci::MsiCapability msi_ ABSL_GUARDED_BY(mu_);
  pci::MsixCapability msix_cap_ ABSL_GUARDED_BY(mu_);
  pci::MsixTable msix_table_ ABSL_GUARDED_BY(mu_);
  Vectors msi_vectors_ ABSL_GUARDED_BY(mu_);
  Vectors msix_vectors_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<IrqLine> intx_ ABSL_GUARDED_BY(mu_);
  bool intx_asserted_ ABSL_GUARDED_BY(mu_) = false;
  bool intx_line_ ABSL_GUARDED_BY(mu_) = false;

  uint32_t scratch_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t irq_count_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t irq_held_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t doorbell_ ABSL_GUARDED_BY(mu_) = 0;
  uint32_t doorbell_count_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<uint8_t> scratch_ram_ ABSL_GUARDED_BY(mu_);
  std::array<uint8_t, kRomSize> rom_;  // constant after construction
  bool error_logged_ ABSL_GUARDED_BY(mu_) = false;
};

// The factory VmConfig::pci_devices takes.
absl::StatusOr<std::shared_ptr<pci::PciDevice>> MakePciTestDevice(
    InterruptController& interrupts);

}  // namespace microvm

#endif  // MICROVM_DEVICES_PCI_TEST_DEVICE_H_
