// SPDX-License-Identifier: Apache-2.0
// What a VM did, for --stats (a table on stderr at exit and on SIGUSR1) and
// --stats_json (one JSON object, written at exit): exits by reason and by
// device range, interrupts microvm injected itself, trapped BAR accesses of
// passed-through devices, guest RAM mapped for DMA, time to the first guest
// instruction, wall and vCPU time. Pure data and formatting; the VM fills it
// (Vm::Stats).
#ifndef MICROVM_VMM_STATS_H_
#define MICROVM_VMM_STATS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace microvm {

struct VmStats {
  // Since microvm started (VmConfig::start).
  absl::Duration wall;
  // Boots of the guest in this process: more than 1 after resets with
  // --on_reboot=restart. Everything below is of the current (last) boot.
  int boots = 1;
  // After a restart: when this boot began, since microvm started.
  std::optional<absl::Duration> boot_start;
  // From microvm's start to vCPU 0's first KVM_RUN; unset before it.
  std::optional<absl::Duration> first_instruction;

  struct Count {
    std::string name;
    uint64_t value = 0;
  };
  struct Vcpu {
    int id = 0;
    absl::Duration cpu;  // user + system time of its thread
    std::vector<Count> exits;  // by KVM exit reason ("KVM_EXIT_IO"), non-zero
    // KVM's own counters for the vCPU (KVM_GET_STATS_FD), a chosen few:
    // "exits" (all, in-kernel ones too), "halt_exits", "halt_wakeup",
    // "halt_attempted_poll", "halt_successful_poll", "irq_injections";
    // empty where KVM has no statistics fd.
    std::vector<Count> kvm;
    // --boot_timer: the time from each return of KVM_RUN to the next call
    // summed, i.e. the exits microvm handled while the guest waited.
    std::optional<absl::Duration> handling;
  };
  std::vector<Vcpu> vcpus;
  // CPU time of microvm's other threads (the VMM thread's event loop, DMA
  // mapping, ...) since the vCPUs started; unset before.
  std::optional<absl::Duration> other_threads_cpu;

  // Guest accesses that exited to microvm, per device range (bus label).
  struct Range {
    std::string bus;  // "PIO" or "MMIO"
    std::string device;
    uint64_t reads = 0;
    uint64_t writes = 0;
  };
  std::vector<Range> ranges;  // the ranges no device claimed: device ""

  // Interrupts microvm raised itself (the rest go kernel to KVM: irqfd).
  uint64_t line_raises = 0;   // KVM_IRQ_LINE to high (IOAPIC/PIC pins)
  uint64_t msi_triggers = 0;  // MSI/MSI-X messages of emulated devices

  // Passed-through devices: accesses that trapped (BAR parts not mapped
  // into the guest: the MSI-X table and PBA, I/O BARs, the ROM).
  struct Passthrough {
    std::string device;  // "0000:01:00.0"
    uint64_t trapped_reads = 0;
    uint64_t trapped_writes = 0;
  };
  std::vector<Passthrough> passthrough;
  // Guest RAM mapped for DMA (VFIO), when a device is passed through.
  struct Dma {
    uint64_t bytes = 0;  // mapped so far
    absl::Duration elapsed;  // the MAP_DMA calls so far
    uint64_t total = 0;  // all of guest RAM
    // --dma_map=overlap: mapped on a thread of its own while the guest
    // boots, with Bus Master Enable held until it is done.
    bool overlapped = false;
    // When the mapping ended, after microvm started; unset while mapping.
    std::optional<absl::Duration> finished;
    // This boot's writes of Bus Master Enable that waited for the mapping,
    // and how long they waited in all.
    int gate_waits = 0;
    absl::Duration gate_waited;
    // --dma_map=overlap: the devices are set up while the guest runs; when
    // that was done (after microvm started; unset before), and the guest's
    // PCI config accesses that waited for it, and how long in all.
    std::optional<absl::Duration> devices_ready;
    int config_waits = 0;
    absl::Duration config_waited;
  };
  std::optional<Dma> dma;

  // Exits summed over the vCPUs, by reason, largest first.
  std::vector<Count> TotalExits() const;
};

// The table, one line per item, every line starting with "microvm: stats: ";
// `when` says when it was taken ("at exit", "on SIGUSR1").
std::string FormatStatsTable(const VmStats& stats, const std::string& when);
// --boot_timer, at a guest marker `at` after microvm started: microvm's own
// share of that time (one line, no prefix): the time to the first
// instruction, the exits it handled (VmStats::Vcpu::handling) and its other
// threads' CPU, against `at`; the exits by reason. Needs the handling times.
// After a restart both times count from this boot's start (boot_start).
// The other threads run beside the guest: their CPU is counted as if the
// guest had waited for it, an upper bound.
std::string FormatBootShare(const VmStats& stats, absl::Duration at);
// One JSON object (and a newline). Times in seconds; names as in the table.
std::string FormatStatsJson(const VmStats& stats);

}  // namespace microvm

#endif  // MICROVM_VMM_STATS_H_
