// SPDX-License-Identifier: Apache-2.0
// A whole virtual machine: KVM VM and vCPUs, guest memory, the PIO and MMIO
// buses, legacy devices and the event loop, built in set-up order by Create().
#ifndef MICROVM_VMM_VM_H_
#define MICROVM_VMM_VM_H_

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/bus.h"
#include "base/irq.h"
#include "vmm/sandbox/seccomp.h"
#include "vmm/stats.h"

namespace microvm {

namespace pci {
class PciDevice;
}  // namespace pci

// Makes one PCI device for the VM's root complex, given the VM's interrupt
// controller (INTx lines, MSI vectors).
using PciDeviceFactory =
    std::function<absl::StatusOr<std::shared_ptr<pci::PciDevice>>(
        InterruptController&)>;

struct VmConfig {
  // When microvm started: --stats times count from here.
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
  std::string kernel_path;  // bzImage, ELF64 vmlinux or an ELF64 test guest
  std::string initrd_path;  // optional
  std::string cmdline;
  uint64_t mem_bytes = 256ull << 20;
  int cpus = 1;
  bool hugepages = false;
  // Guest serial (COM1) output and input; console_in_fd < 0 means none.
  int console_out_fd = STDOUT_FILENO;
  int console_in_fd = STDIN_FILENO;
  // PCI devices on bus 0, in slot order from 00:01.0 (00:00.0 is the host
  // bridge).
  std::vector<PciDeviceFactory> pci_devices;
  // Host PCI devices to pass through (VFIO), as sysfs names them
  // ("0000:01:00.0"); they follow `pci_devices` on bus 0.
  std::vector<std::string> vfio_devices;
  // INTx of passed-through devices through the VMM instead of KVM's
  // irqfd + resample (the fallback path, selectable for testing).
  bool vfio_intx_userspace = false;
  // False: BARs of passed-through devices are not mapped into the guest;
  // every access traps (for comparison and debugging).
  bool vfio_mmap = true;
  // Guest RAM is mapped for the passed-through devices' DMA on a thread of
  // its own while the guest boots (--dma_map=overlap), a device's Bus Master
  // Enable held until that is done; false maps it all before the first
  // guest instruction (--dma_map=eager).
  bool dma_map_overlap = true;
  // Tuning for dedicated host CPUs (--cpu_affinity, --halt_poll_ns,
  // --disable_exits). Each is refused with one clear line where the host
  // cannot do it.
  // vCPU index -> the host CPU its thread runs on; unpinned if absent.
  std::map<int, int> vcpu_affinity;
  // The host CPU of the thread that runs Run() (the event loop).
  std::optional<int> loop_affinity;
  // KVM_CAP_HALT_POLL: this VM's maximum halt polling, nanoseconds.
  std::optional<uint64_t> halt_poll_ns;
  // KVM_CAP_X86_DISABLE_EXITS: KVM_X86_DISABLE_EXITS_* bits.
  uint32_t disable_exits = 0;
  // A guest reset (reboot) boots the guest again in the same process
  // (--on_reboot=restart) instead of ending Run() with kReset.
  bool restart_on_reset = false;
  // The KVM device node (tests point it elsewhere).
  std::string kvm_device = "/dev/kvm";
  // Stop cleanly on SIGINT/SIGTERM and print the --stats table on SIGUSR1
  // (the caller must have blocked all three).
  bool handle_signals = false;
  // Graceful shutdown (SIGINT/SIGTERM with handle_signals, and the host's
  // request for a passed-through device): > 0 presses the guest's ACPI power
  // button and gives it this many seconds to power off before the VM is
  // stopped; a second request stops it at once. 0: stop at once.
  int shutdown_timeout_s = 0;
  // Set: the boot timer (devices/boot_timer.h) sits at
  // layout::kBootTimerAddr, and the guest's markers and the vCPUs' start are
  // reported on stderr in milliseconds since this time (microvm: main()).
  std::optional<std::chrono::steady_clock::time_point> boot_timer_start;
  // With boot_timer_start: how long the process ran before it (microvm:
  // TimeBeforeMain()), the set-up line's first phase, "process start to main".
  std::optional<absl::Duration> boot_timer_before_start;
  // The sandbox (vmm/sandbox/seccomp.h): every vCPU thread, and the DMA
  // thread, installs its seccomp filter before it does the guest's work.
  sandbox::SeccompMode seccomp = sandbox::DefaultSeccompMode();
  // Run()'s own thread too, before the first vCPU starts (microvm's main:
  // the thread is the process's and ends with it). A program that goes on
  // after Run() (a test) leaves it false: the filter would outlive the VM.
  bool seccomp_run_thread = false;
};

// How a guest ended a run that did not fail.
enum class VmExit {
  kPowerOff,  // ACPI S5 written to the sleep control register
  kReset,     // i8042 reset (or another reset request), not restarted
  kStopped,   // Stop() or a signal
  // The host asked for a passed-through device back (VFIO device request:
  // it is being unbound from vfio-pci); the VM ended so it can have it
  // (after the guest powered off, or after the shutdown timeout).
  kDeviceRequested,
  // SIGINT/SIGTERM pressed the power button and the guest was not off
  // within the shutdown timeout: stopped.
  kShutdownTimeout,
};

class Vm {
 public:
  static absl::StatusOr<std::unique_ptr<Vm>> Create(const VmConfig& config);
  virtual ~Vm() = default;

  // Device buses; devices may be added before Run().
  virtual Bus& pio_bus() = 0;
  virtual Bus& mmio_bus() = 0;
  // IOAPIC lines (MakeIrqLine) and MSI vectors for devices (KVM GSI
  // routing + irqfd).
  virtual InterruptController& interrupts() = 0;

  // Runs the guest until it powers off or resets (returns how; with
  // restart_on_reset a reset boots it again instead), or fails
  // (triple fault, KVM internal error, ...: returns an error saying so, with
  // the exit reason, RIP and instruction bytes where KVM gives them).
  virtual absl::StatusOr<VmExit> Run() = 0;
  // Makes Run() return kStopped. Thread-safe.
  virtual void Stop() = 0;
  // What the VM did so far (vmm/stats.h): from Run()'s own thread (its
  // event loop, e.g. on SIGUSR1) while it runs, or from any thread before
  // or after Run().
  virtual VmStats Stats() = 0;
};

}  // namespace microvm

#endif  // MICROVM_VMM_VM_H_
