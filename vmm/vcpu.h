// SPDX-License-Identifier: Apache-2.0
// One thread per vCPU: KVM_RUN in a loop, PIO and MMIO exits dispatched to the
// buses, everything else either ignored (kicks) or ending the VM with a
// message that says what the guest did.
#ifndef MICROVM_VMM_VCPU_H_
#define MICROVM_VMM_VCPU_H_

#include <pthread.h>

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <optional>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "base/bus.h"
#include "memory/guest_memory.h"
#include "vmm/kvm/kvm.h"
#include "vmm/stats.h"
#include "vmm/vm.h"

namespace microvm {

// Runs the calling thread on host CPU `cpu` only (--cpu_affinity); `who`
// names the thread in the error.
absl::Status PinThisThread(int cpu, const std::string& who);

class VcpuThread {
 public:
  // Called at most once per thread, from that thread, when the guest ends
  // the VM (power-off/reset request through an exit) or the vCPU fails.
  using OnEnd = std::function<void(absl::StatusOr<VmExit>)>;

  VcpuThread(std::unique_ptr<KvmVcpu> vcpu, const Bus& pio, const Bus& mmio,
             const GuestMemory& mem, OnEnd on_end);
  ~VcpuThread();  // Stops and joins.

  KvmVcpu& vcpu() { return *vcpu_; }
  // The host CPU the thread pins itself to before its first KVM_RUN (a
  // failure ends the VM); call before Start().
  void set_affinity(int cpu) { affinity_ = cpu; }
  // Runs on the thread after pinning and before its first KVM_RUN (the
  // sandbox's vCPU filter, vmm/sandbox); a failure ends the VM. Call before
  // Start().
  void set_on_start(std::function<absl::Status()> on_start) {
    on_start_ = std::move(on_start);
  }
  // --boot_timer: sums the time from each return of KVM_RUN to the next
  // call (the exits microvm handled, as the guest waited for them); costs two
  // clock reads per exit. Call before Start().
  void set_time_exits(bool on) { time_exits_ = on; }
  void Start();
  // Makes the thread leave KVM_RUN and return. Thread-safe, idempotent.
  void Stop();
  void Join();

  // Installs the no-op handler for the kick signal; call once per process.
  static absl::Status InstallKickHandler();

  // For --stats, while the vCPU runs or after, from any thread: exits so far
  // by KVM exit reason (KVM_EXIT_INTR: KVM_RUN interrupted by a signal, a
  // kick), the thread's CPU time, and when it first entered KVM_RUN.
  std::vector<VmStats::Count> exit_counts() const;
  absl::Duration cpu_time() const;
  // The sum set_time_exits(true) keeps; unset without it.
  std::optional<absl::Duration> handling_time() const;
  std::optional<std::chrono::steady_clock::time_point> first_run() const;
  // Waits up to `timeout` for the thread to be about to enter the guest for
  // the first time; false if it did not (or ended before).
  bool WaitFirstRun(absl::Duration timeout) const {
    return entering_.WaitForNotificationWithTimeout(timeout);
  }
  // KVM's counters of the vCPU (VmStats::Vcpu::kvm); empty if KVM has none.
  std::vector<VmStats::Count> kvm_counts() const;

 private:
  void Loop();
  // Returns true to keep running.
  bool HandleExit();
  // Counts KVM_RUN's result `r` and handles the exit; true to keep running.
  bool AfterRun(long r);
  absl::Status ExitError(const std::string& what);

  std::unique_ptr<KvmVcpu> vcpu_;
  // The vCPU's own dispatch onto the buses: no lock per exit (base/bus.h).
  Bus::Dispatcher pio_;
  Bus::Dispatcher mmio_;
  const GuestMemory& mem_;
  OnEnd on_end_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> started_{false};
  std::thread thread_;
  // Written by the vCPU thread only (plain loads and stores, no locked
  // instruction on the exit path), read by --stats. Reasons at or above
  // kExitReasons share the last slot.
  static constexpr size_t kExitReasons = 64;
  std::array<std::atomic<uint64_t>, kExitReasons> exits_{};
  std::atomic<int64_t> first_run_ns_{0};    // steady_clock; 0: not yet
  absl::Notification entering_;             // first_run_ns_ is set
  std::atomic<int64_t> final_cpu_ns_{-1};   // set as the thread ends
  clockid_t cpu_clock_{};                   // the thread's, once published
  std::atomic<bool> has_cpu_clock_{false};
  bool time_exits_ = false;
  std::atomic<int64_t> handling_ns_{0};     // with time_exits_
  std::optional<int> affinity_;
  std::function<absl::Status()> on_start_;
};

}  // namespace microvm

#endif  // MICROVM_VMM_VCPU_H_
