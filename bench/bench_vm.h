// SPDX-License-Identifier: Apache-2.0
// A one-vCPU VM for the latency benchmarks, running bench/guests/bench.c.
// It is assembled from microvm's own pieces (KvmVm, GuestMemory, the ELF
// loader, the long-mode set-up, IrqRouter, Bus, VcpuThread) like vmm/vm.cc
// does, but keeps the vCPU and the KVM VM reachable, so one process can run
// the same guest code either through microvm's exit dispatch or through a
// bare KVM_RUN loop, and benchmarks can add ioeventfds and inject interrupts
// by every KVM path.
#ifndef MICROVM_BENCH_BENCH_VM_H_
#define MICROVM_BENCH_BENCH_VM_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "base/bus.h"
#include "base/epoll_loop.h"
#include "bench/guests/protocol.h"
#include "memory/guest_memory.h"
#include "vmm/irq_router.h"
#include "vmm/kvm/kvm.h"
#include "vmm/memslots.h"
#include "vmm/platform.h"
#include "vmm/vcpu.h"

namespace microvm::bench {

class GuestControl;

// What one op measured, as the guest saw it.
struct OpSamples {
  std::vector<double> us;  // every sample that did not time out, in us
  bench_result result{};
  double tsc_per_us = 0;  // TSC rate used: the host's (see bench_vm.cc)
  uint32_t guest_tsc_per_us = 0;  // the guest's own, PIT-calibrated
};

// The TSC rate, measured here against the monotonic clock over 50 ms, once.
// KVM gives the guest the host's TSC rate (no TSC scaling is asked for), so
// this converts the guest's deltas too; it is steadier than the guest's own
// 10 ms PIT calibration, which a descheduled vCPU can spoil.
double HostTscPerUs();

class BenchVm {
 public:
  enum class Loop {
    kMicrovm,  // VcpuThread: exits dispatched onto pio()/mmio()
    kBare,     // Run() spins KVM_RUN on the caller's thread; measured exits
               // are only counted, pio()/mmio() are not used
  };

  // microvm's tuning for dedicated CPUs (--halt_poll_ns, --disable_exits,
  // --cpu_affinity), for the benchmarks that compare each setting with the
  // default. The vCPU pin applies to Loop::kMicrovm's vCPU thread.
  struct Tuning {
    KvmTuning kvm;
    std::optional<int> vcpu_cpu;
    std::optional<int> events_cpu;
  };

  static absl::StatusOr<std::unique_ptr<BenchVm>> Create(
      const std::string& guest_elf, Loop loop, const Tuning& tuning = {});
  ~BenchVm();

  KvmVm& kvm_vm() { return vm_; }
  IrqRouter& irqs() { return *irqs_; }
  Bus& pio() { return pio_; }
  Bus& mmio() { return mmio_; }
  // A host thread's event loop, for what reacts to eventfds (ioeventfd
  // readers, interrupt injectors), as microvm's device back-ends do.
  EventLoop& events() { return *events_; }
  const GuestMemory& mem() const { return mem_; }

  // Has the guest take `count` samples of `op`, and returns them.
  absl::StatusOr<OpSamples> Run(bench_op op, uint32_t count);

  // Loop::kBare with a guest that needs no host protocol (guests/exits.c):
  // runs it to its power-off (0x34 to port 0x3c0, the tiny guests' runtime),
  // appending what it writes to COM1 to `console` (its line status always
  // ready); every other exit is only counted.
  absl::Status RunBareToPowerOff(std::string* console);

 private:
  BenchVm(Kvm kvm, KvmVm vm, GuestMemory mem, std::unique_ptr<EpollLoop> loop)
      : kvm_(std::move(kvm)),
        vm_(std::move(vm)),
        mem_(std::move(mem)),
        events_(std::move(loop)) {}
  absl::Status Build(uint64_t entry, uint64_t zero_page, Loop loop,
                     const Tuning& tuning);
  absl::Status RunBare();

  Kvm kvm_;
  KvmVm vm_;
  GuestMemory mem_;
  std::unique_ptr<Memslots> memslots_;
  std::unique_ptr<IrqRouter> irqs_;
  Bus pio_{"PIO"};
  Bus mmio_{"MMIO"};
  std::shared_ptr<GuestControl> control_;
  std::unique_ptr<EpollLoop> events_;
  std::thread events_thread_;
  uint64_t bare_exits_ = 0;
  std::unique_ptr<KvmVcpu> vcpu_;  // kBare only
  // Declared last: stopped and joined first.
  std::unique_ptr<VcpuThread> vcpu_thread_;  // kMicrovm only
};

// The guest's acknowledgement counter (BENCH_ACK_GPA), which NOTIFY_ACK
// spins on: advanced by whatever handles BENCH_PORT_NOTIFY.
class AckCounter {
 public:
  explicit AckCounter(const GuestMemory& mem);
  void Advance(uint64_t by);

 private:
  uint32_t* counter_ = nullptr;
};

// A device that only counts accesses (reads see zeros), and advances an
// AckCounter on writes when given one.
class CountingDevice final : public BusDevice {
 public:
  explicit CountingDevice(AckCounter* ack = nullptr) : ack_(ack) {}
  void Read(uint64_t, absl::Span<uint8_t> data) override;
  void Write(uint64_t, absl::Span<const uint8_t>) override;
  uint64_t accesses() const { return accesses_.load(); }

 private:
  void Count();

  AckCounter* ack_;
  std::atomic<uint64_t> accesses_{0};
};

// Each setting of microvm's tuning for dedicated CPUs alone, by the name
// suffix its benchmarks carry: halt_poll_0, halt_poll_200us,
// disable_exits_hlt_pause, pinned (vCPU on the last CPU this process may
// use, the event thread on the first: the same one on a one-CPU machine).
std::vector<std::pair<std::string, BenchVm::Tuning>> TuningVariants();

}  // namespace microvm::bench

#endif  // MICROVM_BENCH_BENCH_VM_H_
