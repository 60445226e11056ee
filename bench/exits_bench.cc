// SPDX-License-Identifier: Apache-2.0
// Exits to user space and ioeventfd notifications, timed by the guest.
//
//   PioExit/bare, MmioExit/bare   the baselines: a bare KVM_RUN loop on the
//                                 benchmark's thread, same process, same guest
//   PioExit/microvm, MmioExit/microvm   microvm's VcpuThread dispatching the
//                                 exit onto the Bus and a BusDevice
//   NotifyWrite/ioeventfd   a guest write to an ioeventfd (KvmVm::
//                           AssignIoeventfd; a host thread reads the eventfd):
//                           what the write costs the vCPU
//   NotifyWrite/exit        the same write without the ioeventfd: an exit to
//                           user space through microvm's dispatch (baseline)
//   NotifyAck/ioeventfd     the write, then the guest spins until the host
//                           thread woken by the eventfd has acknowledged it in
//                           guest memory: notification round trip
//   NotifyAck/exit          the same, acknowledged by the exit's BusDevice on
//                           the vCPU thread (baseline)
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/event_fd.h"
#include "base/status.h"
#include "bench/bench_vm.h"
#include "bench/benchmarks.h"
#include "bench/samples.h"

namespace microvm::bench {
namespace {

constexpr uint64_t kMmioExitSize = 0x1000;

std::string GuestElf(const Options& o) { return o.guest_dir + "/bench.elf"; }

absl::StatusOr<OpSamples> MeasureExits(const Options& o, BenchVm::Loop loop,
                                       bench_op op, uint32_t count) {
  MVM_ASSIGN_OR_RETURN(std::unique_ptr<BenchVm> vm,
                       BenchVm::Create(GuestElf(o), loop));
  auto sink = std::make_shared<CountingDevice>();
  MVM_RETURN_IF_ERROR(vm->pio().Register(BENCH_PORT_EXIT, 4, sink, "sink"));
  MVM_RETURN_IF_ERROR(
      vm->mmio().Register(BENCH_MMIO_EXIT, kMmioExitSize, sink, "sink"));
  MVM_ASSIGN_OR_RETURN(OpSamples samples, vm->Run(op, count));
  if (loop == BenchVm::Loop::kMicrovm && sink->accesses() != count) {
    return absl::InternalError(absl::StrCat(
        "the device saw ", sink->accesses(), " exits, not ", count));
  }
  return samples;
}

// NOTIFY_WRITE or NOTIFY_ACK through an ioeventfd read by the VM's event
// thread, or (without) through an exit to the port's device.
absl::StatusOr<OpSamples> MeasureNotify(const Options& o, bench_op op,
                                        bool ioeventfd, uint32_t count) {
  MVM_ASSIGN_OR_RETURN(std::unique_ptr<BenchVm> vm,
                       BenchVm::Create(GuestElf(o), BenchVm::Loop::kMicrovm));
  AckCounter ack(vm->mem());
  auto device = std::make_shared<CountingDevice>(&ack);
  MVM_RETURN_IF_ERROR(
      vm->pio().Register(BENCH_PORT_NOTIFY, 4, device, "notify"));
  MVM_ASSIGN_OR_RETURN(EventFd notify, EventFd::Create());
  EventLoop::Watch watch;
  if (ioeventfd) {
    MVM_RETURN_IF_ERROR(
        vm->kvm_vm().AssignIoeventfd(notify.fd(), BENCH_PORT_NOTIFY, 4, true));
    MVM_ASSIGN_OR_RETURN(watch, vm->events().Add(notify.fd(), [&](uint32_t) {
      absl::StatusOr<uint64_t> n = notify.Consume();
      if (n.ok()) ack.Advance(*n);
    }));
  }
  MVM_ASSIGN_OR_RETURN(OpSamples samples, vm->Run(op, count));
  if (ioeventfd) {
    watch.Reset();
    MVM_RETURN_IF_ERROR(vm->kvm_vm().DeassignIoeventfd(
        notify.fd(), BENCH_PORT_NOTIFY, 4, true));
  }
  uint64_t exits = ioeventfd ? 0 : count;
  if (device->accesses() != exits) {
    return absl::InternalError(absl::StrCat("the notify port's device saw ",
                                            device->accesses(),
                                            " exits, expected ", exits));
  }
  return samples;
}

}  // namespace

void RegisterExitBenchmarks(const Options& o) {
  const uint32_t n = o.samples;
  using Loop = BenchVm::Loop;
  for (auto [name, op] : {std::pair{"PioExit", BENCH_OP_PIO_EXIT},
                          std::pair{"MmioExit", BENCH_OP_MMIO_EXIT}}) {
    std::string bare = absl::StrCat(name, "/bare");
    RegisterLatency(bare, n, [=](benchmark::State& s) {
      ReportSamples(s, MeasureExits(o, Loop::kBare, op, n), "");
    });
    RegisterLatency(absl::StrCat(name, "/microvm"), n,
                    [=](benchmark::State& s) {
                      ReportSamples(s, MeasureExits(o, Loop::kMicrovm, op, n),
                                    bare);
                    });
  }
  for (auto [name, op] : {std::pair{"NotifyWrite", BENCH_OP_NOTIFY_WRITE},
                          std::pair{"NotifyAck", BENCH_OP_NOTIFY_ACK}}) {
    std::string exit = absl::StrCat(name, "/exit");
    RegisterLatency(exit, n, [=](benchmark::State& s) {
      ReportSamples(s, MeasureNotify(o, op, false, n), "");
    });
    RegisterLatency(absl::StrCat(name, "/ioeventfd"), n,
                    [=](benchmark::State& s) {
                      ReportSamples(s, MeasureNotify(o, op, true, n), exit);
                    });
  }
}

}  // namespace microvm::bench
