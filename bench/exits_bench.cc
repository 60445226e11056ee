// SPDX-License-Identifier: Apache-2.0
// Exits to user space and ioeventfd notifications, timed by the guest.
//
//   PioExit/bare, MmioExit/bare   the baselines: a bare KVM_RUN loop on the
//                                 benchmark's thread, same process, same guest
//   PioExit/microvm, MmioExit/microvm   microvm's VcpuThread dispatching the
//                                 exit onto the Bus and a BusDevice
//   PioExit/microvm/<setting>   the same with one of microvm's settings for
//                           dedicated CPUs (bench_vm.h TuningVariants)
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
//   ExitRatio/pio, ExitRatio/mmio, ExitRatio/ioeventfd
//                           microvm against the bare loop, both VMs alive at
//                           once, in alternating short batches; the ratio of
//                           the batch medians with a 95% bootstrap interval
//                           (bench/ratio.h): resolves a 1-2% gap that the
//                           separate runs above cannot
#include <algorithm>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/event_fd.h"
#include "base/status.h"
#include "bench/bench_vm.h"
#include "bench/benchmarks.h"
#include "bench/ratio.h"
#include "bench/samples.h"

namespace microvm::bench {
namespace {

constexpr uint64_t kMmioExitSize = 0x1000;

std::string GuestElf(const Options& o) { return o.guest_dir + "/bench.elf"; }

absl::StatusOr<OpSamples> MeasureExits(const Options& o, BenchVm::Loop loop,
                                       bench_op op, uint32_t count,
                                       const BenchVm::Tuning& tuning = {}) {
  MVM_ASSIGN_OR_RETURN(std::unique_ptr<BenchVm> vm,
                       BenchVm::Create(GuestElf(o), loop, tuning));
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

// One side of an interleaved comparison: a VM of the bench guest with a sink
// on the exit port and range, and for the ioeventfd path the ioeventfd on
// the notify port with its reader on the VM's event thread.
struct Side {
  std::unique_ptr<BenchVm> vm;
  std::shared_ptr<CountingDevice> sink;
  EventFd notify;
  EventLoop::Watch watch;
};

absl::StatusOr<std::unique_ptr<Side>> MakeSide(const Options& o, BenchVm::Loop loop,
                                               bool ioeventfd) {
  auto side = std::make_unique<Side>();
  MVM_ASSIGN_OR_RETURN(side->vm, BenchVm::Create(GuestElf(o), loop));
  side->sink = std::make_shared<CountingDevice>();
  MVM_RETURN_IF_ERROR(side->vm->pio().Register(BENCH_PORT_EXIT, 4, side->sink, "sink"));
  MVM_RETURN_IF_ERROR(
      side->vm->mmio().Register(BENCH_MMIO_EXIT, kMmioExitSize, side->sink, "sink"));
  if (ioeventfd) {
    MVM_ASSIGN_OR_RETURN(side->notify, EventFd::Create());
    MVM_RETURN_IF_ERROR(
        side->vm->kvm_vm().AssignIoeventfd(side->notify.fd(), BENCH_PORT_NOTIFY, 4, true));
    EventFd* notify = &side->notify;
    MVM_ASSIGN_OR_RETURN(side->watch, side->vm->events().Add(notify->fd(), [notify](uint32_t) {
      (void)notify->Consume();
    }));
  }
  return side;
}

double BatchMedian(std::vector<double> us) {
  std::sort(us.begin(), us.end());
  return Percentile(us, 50);
}

struct Interleaved {
  RatioEstimate estimate;
  double seconds = 0;        // guest-timed, both sides
  double bare_p50_us = 0;    // medians of the batch medians
  double microvm_p50_us = 0;
};

// `pairs` pairs of `batch` samples of `op`, bare and microvm alternating
// which goes first, so slow drifts hit both sides alike.
absl::StatusOr<Interleaved> MeasureInterleaved(const Options& o, bench_op op, bool ioeventfd,
                                               uint32_t batch, uint32_t pairs) {
  MVM_ASSIGN_OR_RETURN(std::unique_ptr<Side> bare, MakeSide(o, BenchVm::Loop::kBare, ioeventfd));
  MVM_ASSIGN_OR_RETURN(std::unique_ptr<Side> vmm,
                       MakeSide(o, BenchVm::Loop::kMicrovm, ioeventfd));
  std::vector<double> bare_medians, vmm_medians;
  Interleaved out;
  for (uint32_t i = 0; i < pairs; ++i) {
    Side* order[2] = {bare.get(), vmm.get()};
    if (i % 2 == 1) std::swap(order[0], order[1]);
    for (Side* side : order) {
      MVM_ASSIGN_OR_RETURN(OpSamples s, side->vm->Run(op, batch));
      if (s.us.size() != batch) {
        return absl::InternalError(absl::StrCat(batch - s.us.size(), " of ", batch,
                                                " samples lost in pair ", i));
      }
      for (double us : s.us) out.seconds += us / 1e6;
      (side == bare.get() ? bare_medians : vmm_medians).push_back(BatchMedian(s.us));
    }
  }
  // microvm's exits all reached the device; the ioeventfd path none.
  const uint64_t want = ioeventfd ? 0 : uint64_t{batch} * pairs;
  if (vmm->sink->accesses() != want) {
    return absl::InternalError(absl::StrCat("microvm's exit device saw ", vmm->sink->accesses(),
                                            " accesses, expected ", want));
  }
  out.estimate = BootstrapRatio(bare_medians, vmm_medians);
  out.bare_p50_us = BatchMedian(bare_medians);
  out.microvm_p50_us = BatchMedian(vmm_medians);
  return out;
}

void ReportInterleaved(benchmark::State& state, const absl::StatusOr<Interleaved>& r) {
  if (!r.ok()) {
    state.SkipWithError(std::string(r.status().message()).c_str());
    for (auto _ : state) {
    }
    return;
  }
  for (auto _ : state) state.SetIterationTime(r->seconds);
  state.counters["ratio"] = r->estimate.ratio;
  state.counters["ratio_low"] = r->estimate.low;
  state.counters["ratio_high"] = r->estimate.high;
  state.counters["pairs"] = static_cast<double>(r->estimate.pairs);
  state.counters["bare_p50_us"] = r->bare_p50_us;
  state.counters["microvm_p50_us"] = r->microvm_p50_us;
  state.counters["wider_than_effect"] = WiderThanEffect(r->estimate) ? 1 : 0;
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
  // microvm's settings for dedicated CPUs (bench_vm.h TuningVariants), each
  // against the default PIO exit.
  for (const auto& [suffix, tuning] : TuningVariants()) {
    const std::string base = "PioExit/microvm";
    RegisterLatency(absl::StrCat(base, "/", suffix), n,
                    [=](benchmark::State& s) {
                      ReportSamples(s,
                                    MeasureExits(o, Loop::kMicrovm,
                                                 BENCH_OP_PIO_EXIT, n, tuning),
                                    base);
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
  // Batches of 1/20 of --samples (at least 5), 4 to 100 pairs: 2000 samples
  // give 100 pairs of 100 on each side.
  const uint32_t batch = std::max<uint32_t>(5, n / 20);
  const uint32_t pairs = std::clamp<uint32_t>(n / 20, 4, 100);
  for (auto [name, op, ioeventfd] :
       {std::tuple{"ExitRatio/pio", BENCH_OP_PIO_EXIT, false},
        std::tuple{"ExitRatio/mmio", BENCH_OP_MMIO_EXIT, false},
        std::tuple{"ExitRatio/ioeventfd", BENCH_OP_NOTIFY_WRITE, true}}) {
    benchmark::RegisterBenchmark(name,
                                 [=](benchmark::State& s) {
                                   ReportInterleaved(
                                       s, MeasureInterleaved(o, op, ioeventfd, batch, pairs));
                                 })
        ->Iterations(1)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace microvm::bench
