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
//   ExitRatio/process/pio, ExitRatio/process/mmio
//                           the same as whole processes: the release binary
//                           (microvm_static, its threads, sandbox and event
//                           loop) against a bare KVM_RUN process (bare_exits),
//                           alternating, both running guests/exits.c, which
//                           prints its own batch medians; a process's value
//                           is the median of its batches, the interval a
//                           bootstrap over the process pairs
//   ExitRatio/process/pio/seccomp_off   the same without microvm's sandbox
//                           (--seccomp=off): what its filters cost an exit
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "base/event_fd.h"
#include "base/status.h"
#include "bench/bench_vm.h"
#include "bench/benchmarks.h"
#include "bench/ratio.h"
#include "bench/samples.h"
#include "bench/spawn.h"
#include "base/unique_fd.h"

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

// Runs `argv` to its exit (at most `timeout_ms`) and returns its stdout;
// an error unless it exits 0.
absl::StatusOr<std::string> RunToExit(const std::vector<std::string>& argv, int timeout_ms) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return LastErrnoError("pipe2");
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  MVM_ASSIGN_OR_RETURN(pid_t pid, Spawn(argv, write_end.get(), true));
  write_end.reset();
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  bool timed_out = false;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd p{read_end.get(), POLLIN, 0};
    const int ready = left.count() <= 0 ? 0 : poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      timed_out = true;
      break;
    }
    char buf[4096];
    const ssize_t n = read(read_end.get(), buf, sizeof(buf));
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  if (timed_out) kill(pid, SIGKILL);
  MVM_ASSIGN_OR_RETURN(int code, WaitExit(pid));
  if (timed_out || code != 0) {
    return absl::InternalError(absl::StrCat(argv[0], timed_out ? " timed out" : " failed",
                                            ", exit status ", code, "; its output: ", out));
  }
  return out;
}

// The median of the "<tag> <ticks>" lines of guests/exits.c's output.
absl::StatusOr<double> MedianOfBatches(const std::string& out, absl::string_view tag) {
  std::vector<double> batches;
  for (absl::string_view line : absl::StrSplit(out, '\n')) {
    std::vector<absl::string_view> f = absl::StrSplit(line, ' ');
    uint32_t ticks = 0;
    if (f.size() == 2 && f[0] == tag && absl::SimpleAtoi(f[1], &ticks)) batches.push_back(ticks);
  }
  if (batches.empty() || out.find("EXITS done") == std::string::npos) {
    return absl::InternalError(absl::StrCat("no ", tag, " batches in the guest's output: ", out));
  }
  return BatchMedian(batches);
}

// `pairs` pairs of whole processes, bare and microvm alternating which goes
// first; each process's PIO and MMIO values (TSC ticks).
absl::StatusOr<std::pair<Interleaved, Interleaved>> MeasureProcesses(
    const Options& o, uint32_t pairs, const std::vector<std::string>& microvm_flags) {
  constexpr int kTimeoutMs = 300000;
  const std::string guest = o.guest_dir + "/exits.elf";
  const std::vector<std::string> bare_argv = {o.bare_exits, guest};
  std::vector<std::string> vmm_argv = {o.microvm_static, "--kernel=" + guest, "--mem=64"};
  vmm_argv.insert(vmm_argv.end(), microvm_flags.begin(), microvm_flags.end());
  std::vector<double> bare[2], vmm[2];  // [0]: PIO, [1]: MMIO
  double seconds = 0;
  for (uint32_t i = 0; i < pairs; ++i) {
    for (int k = 0; k < 2; ++k) {
      const bool is_bare = (k == 0) == (i % 2 == 0);
      const auto t0 = std::chrono::steady_clock::now();
      MVM_ASSIGN_OR_RETURN(std::string out, RunToExit(is_bare ? bare_argv : vmm_argv, kTimeoutMs));
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      for (int op = 0; op < 2; ++op) {
        MVM_ASSIGN_OR_RETURN(double ticks, MedianOfBatches(out, op == 0 ? "PIO" : "MMIO"));
        (is_bare ? bare : vmm)[op].push_back(ticks);
      }
    }
  }
  const double tsc_per_us = HostTscPerUs();
  Interleaved result[2];
  for (int op = 0; op < 2; ++op) {
    result[op].estimate = BootstrapRatio(bare[op], vmm[op]);
    result[op].seconds = seconds / 2;
    result[op].bare_p50_us = BatchMedian(bare[op]) / tsc_per_us;
    result[op].microvm_p50_us = BatchMedian(vmm[op]) / tsc_per_us;
  }
  return std::pair{result[0], result[1]};
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
  // Whole processes: 1/100 of --samples pairs (2 to 20). Each process
  // runs both ops; each benchmark takes its own from its own processes.
  // The seccomp_off ones run microvm without its sandbox: what the
  // filters cost each exit (the vCPU thread's KVM_RUN passes its filter).
  const uint32_t process_pairs = std::clamp<uint32_t>(n / 100, 2, 20);
  for (auto [name, mmio, flags] :
       {std::tuple{"ExitRatio/process/pio", false, std::vector<std::string>{}},
        std::tuple{"ExitRatio/process/mmio", true, std::vector<std::string>{}},
        std::tuple{"ExitRatio/process/pio/seccomp_off", false,
                   std::vector<std::string>{"--seccomp=off"}}}) {
    benchmark::RegisterBenchmark(name,
                                 [=](benchmark::State& s) {
                                   auto r = MeasureProcesses(o, process_pairs, flags);
                                   ReportInterleaved(
                                       s, r.ok() ? absl::StatusOr<Interleaved>(mmio ? r->second
                                                                                    : r->first)
                                                 : r.status());
                                 })
        ->Iterations(1)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace microvm::bench
