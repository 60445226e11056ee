// SPDX-License-Identifier: Apache-2.0
// The PCI root complex: bus 0 with up to 32 single-function devices, a host
// bridge at 00:00.0, configuration access mechanism #1 (ports 0xCF8-0xCFF,
// PCI Local Bus 3.0 3.2.2.3.2) and ECAM (PCI Express Base 3.0 7.2.2). It
// owns the effect of config writes: when a BAR moves or its decode is
// switched, it calls the device's UnmapBar/MapBar so the bus registration
// follows. INTx pins are swizzled onto IOAPIC inputs 16-19.
//
// Locking: one mutex serializes every config access (from any vCPU), the
// CF8 address latch, AddDevice, AssignBars and the BAR map/unmap calls made
// on their behalf. Config accesses are rare (probe time, MSI set-up), so
// one lock costs nothing and keeps "address latch + data access" and
// "write + move the BAR" atomic. Lock order: PciRoot, then the device's own
// locks, then Bus. BAR accesses themselves never take this lock.
//
// Lifetime: the buses and the interrupt controller must outlive the root;
// destroy the root only after the vCPUs have stopped (its ports hold a
// plain pointer to it). Its destructor unregisters the ports and unmaps
// every BAR it mapped.
#ifndef MICROVM_PCI_ROOT_COMPLEX_H_
#define MICROVM_PCI_ROOT_COMPLEX_H_

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "base/bus.h"
#include "base/irq.h"
#include "memory/layout.h"
#include "pci/bar_allocator.h"
#include "pci/intx.h"
#include "pci/pci_device.h"
#include "pci/pci_header.h"

namespace microvm::pci {

// Where INTx pin `pin` (0 = INTA .. 3 = INTD) of slot `device` arrives:
// for the VMM's ACPI _PRT / MP table interrupt entries.
struct IntxRoute {
  uint8_t device = 0;
  uint8_t pin = 0;
  uint32_t gsi = 0;
  bool operator==(const IntxRoute&) const = default;
};

class PciRoot {
 public:
  static constexpr uint16_t kConfigAddressPort = 0xcf8;
  static constexpr uint64_t kConfigPortCount = 8;  // 0xCF8-0xCFF
  static constexpr int kSlots = 32;
  static constexpr uint32_t kFirstIntxGsi = 16;
  // Host bridge 00:00.0: Red Hat's generic PCIe host bridge ID (1b36:0008,
  // QEMU's gpex), which no guest driver claims or quirks.
  static constexpr uint16_t kHostBridgeVendor = 0x1b36;
  static constexpr uint16_t kHostBridgeDevice = 0x0008;

  struct Options {
    uint64_t ecam_base = layout::kEcamAddr;
    uint32_t ecam_buses = 1;  // 1-256; only bus 0 is populated
  };

  // Registers the config ports on `pio` and ECAM on `mmio`, and puts the
  // host bridge at 00:00.0.
  static absl::StatusOr<std::unique_ptr<PciRoot>> Create(
      Bus& pio, Bus& mmio, InterruptController& interrupts,
      const Options& options);
  static absl::StatusOr<std::unique_ptr<PciRoot>> Create(
      Bus& pio, Bus& mmio, InterruptController& interrupts) {
    return Create(pio, mmio, interrupts, Options());
  }
  ~PciRoot();
  PciRoot(const PciRoot&) = delete;
  PciRoot& operator=(const PciRoot&) = delete;

  // Puts `device` in `slot` (1-31), or the lowest free slot. Its INTx pin
  // (from its Interrupt Pin register) is wired to IntxGsi() and the
  // Interrupt Line register set to that GSI, as firmware would. The device
  // must come with its decode off (as after reset).
  absl::StatusOr<PciAddress> AddDevice(std::shared_ptr<PciDevice> device,
                                       std::optional<uint8_t> slot = {});

  // Firmware-style BAR assignment: sizes every BAR through config space,
  // places them in `windows` (largest first, each aligned to its size) and
  // turns on I/O / memory decode, which maps them. Nothing is written if
  // something does not fit. The ROM BAR is left for the guest. Optional:
  // a guest OS assigns unassigned BARs itself.
  absl::Status AssignBars(const BarWindows& windows);

  // Keeps the lowest free slot for a device added later (AddDevice with
  // that slot), and routes its INTx pin now (1-4 INTA-INTD; 0 none; nullopt,
  // not known: all four): the boot tables that describe the routing are
  // written before the device exists.
  absl::StatusOr<uint8_t> ReserveSlot(std::optional<uint8_t> pin);

  // Late devices: after HoldConfigAccess(), every config access from the
  // guest waits (its vCPU blocks) until ReleaseConfigAccess(), so devices
  // added and BARs assigned meanwhile (on another thread, while the guest
  // boots) are complete when the guest first looks. Guests touch config
  // space late in their boot (Linux: early quirks in setup_arch, then the
  // PCI scan), so a guest seldom waits. Only config cycles wait: not the
  // CF8 latch or other accesses to 0xCF8-0xCFB.
  void HoldConfigAccess() ABSL_LOCKS_EXCLUDED(mu_);
  void ReleaseConfigAccess() ABSL_LOCKS_EXCLUDED(mu_);
  // The VM ends: from now on, and for accesses waiting now, config space
  // reads all-ones and ignores writes (no device is touched: one may be
  // half set up). For good: a later ReleaseConfigAccess does not undo it.
  void AbortConfigAccess() ABSL_LOCKS_EXCLUDED(mu_);
  struct HoldCounts {
    int waits = 0;  // config accesses that waited (counted as they begin)
    absl::Duration waited;  // their total wait
  };
  HoldCounts hold_counts() const ABSL_LOCKS_EXCLUDED(mu_);

  // The INTx routing of every device added or slot reserved so far.
  std::vector<IntxRoute> intx_routes() const;
  // Slot-based swizzle: INTx `pin` (0-3) of `device` -> GSI 16 + (d+p)%4.
  static uint32_t IntxGsi(uint8_t device, uint8_t pin) {
    return kFirstIntxGsi + (device + pin) % 4;
  }

  uint64_t ecam_base() const { return options_.ecam_base; }
  uint64_t ecam_size() const {
    return uint64_t{options_.ecam_buses} << kEcamBusShift;
  }

  // One config access to `address`, as the two mechanisms decode it.
  // Absent functions read all-ones and ignore writes; malformed accesses
  // (see ConfigSpace::ValidAccess) likewise.
  void ConfigRead(const PciAddress& address, uint32_t reg,
                  absl::Span<uint8_t> data) ABSL_LOCKS_EXCLUDED(mu_);
  void ConfigWrite(const PciAddress& address, uint32_t reg,
                   absl::Span<const uint8_t> data) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  class ConfigPorts;
  class Ecam;
  static constexpr int kEcamBusShift = 20;

  struct Slot {
    std::shared_ptr<PciDevice> device;
    // What is registered on a bus right now, per BAR (the truth for unmap;
    // may lag the header when a map failed).
    std::array<std::optional<BarRegion>, kNumBars + 1> mapped;
    std::array<bool, kNumBars + 1> failure_logged = {};
    bool reserved = false;  // ReserveSlot(): routed, waiting for its device
  };

  PciRoot(Bus& pio, Bus& mmio, InterruptController& interrupts,
          const Options& options);

  PciDevice* Find(const PciAddress& address) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Waits while config access is held (see HoldConfigAccess); false when
  // the access must not reach a device (AbortConfigAccess).
  bool AwaitAccess() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReadLocked(const PciAddress& address, uint32_t reg,
                  absl::Span<uint8_t> data) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Returns the first failure to map a BAR (also logged), for AssignBars.
  absl::Status WriteLocked(const PciAddress& address, uint32_t reg,
                           absl::Span<const uint8_t> data)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint32_t Read32(uint8_t slot, uint32_t reg)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Write32(uint8_t slot, uint32_t reg, uint32_t value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status ApplyBarChanges(uint8_t slot, const ConfigWriteResult& result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::unique_ptr<IrqLine>> IntxSource(uint32_t gsi)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status PutDevice(uint8_t slot, std::shared_ptr<PciDevice> device)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Bus& BusFor(const BarRegion& bar) { return bar.io ? pio_ : mmio_; }

  Bus& pio_;
  Bus& mmio_;
  InterruptController& interrupts_;
  const Options options_;
  bool ports_registered_ = false;
  bool ecam_registered_ = false;

  mutable absl::Mutex mu_;
  uint32_t config_address_ ABSL_GUARDED_BY(mu_) = 0;  // the CF8 latch
  std::array<Slot, kSlots> slots_ ABSL_GUARDED_BY(mu_);
  // One shared line per IOAPIC input 16-19, made on first use.
  std::array<std::unique_ptr<SharedIrqLine>, 4> intx_lines_
      ABSL_GUARDED_BY(mu_);
  std::vector<IntxRoute> routes_ ABSL_GUARDED_BY(mu_);
  bool held_ ABSL_GUARDED_BY(mu_) = false;
  bool aborted_ ABSL_GUARDED_BY(mu_) = false;
  HoldCounts hold_counts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace microvm::pci

#endif  // MICROVM_PCI_ROOT_COMPLEX_H_
