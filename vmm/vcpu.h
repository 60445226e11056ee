// SPDX-License-Identifier: Apache-2.0
// One thread per vCPU: KVM_RUN in a loop, PIO and MMIO exits dispatched to the
// buses, everything else either ignored (kicks) or ending the VM with a
// message that says what the guest did.
#ifndef MICROVM_VMM_VCPU_H_
#define MICROVM_VMM_VCPU_H_

#include <pthread.h>

#include <atomic>
#include <functional>
#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "base/bus.h"
#include "memory/guest_memory.h"
#include "vmm/kvm/kvm.h"
#include "vmm/vm.h"

namespace microvm {

class VcpuThread {
 public:
  // Called at most once per thread, from that thread, when the guest ends
  // the VM (power-off/reset request through an exit) or the vCPU fails.
  using OnEnd = std::function<void(absl::StatusOr<VmExit>)>;

  VcpuThread(std::unique_ptr<KvmVcpu> vcpu, const Bus& pio, const Bus& mmio,
             const GuestMemory& mem, OnEnd on_end);
  ~VcpuThread();  // Stops and joins.

  KvmVcpu& vcpu() { return *vcpu_; }
  void Start();
  // Makes the thread leave KVM_RUN and return. Thread-safe, idempotent.
  void Stop();
  void Join();

  // Installs the no-op handler for the kick signal; call once per process.
  static absl::Status InstallKickHandler();

 private:
  void Loop();
  // Returns true to keep running.
  bool HandleExit();
  absl::Status ExitError(const std::string& what);

  std::unique_ptr<KvmVcpu> vcpu_;
  const Bus& pio_;
  const Bus& mmio_;
  const GuestMemory& mem_;
  OnEnd on_end_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> started_{false};
  std::thread thread_;
};

}  // namespace microvm

#endif  // MICROVM_VMM_VCPU_H_
