// SPDX-License-Identifier: Apache-2.0
// Interrupt injection seen from inside the guest: the guest timestamps its
// request (a write to an ioeventfd), a host thread woken by the eventfd
// injects, and the guest's handler timestamps its first instruction.
//
//   Irq/irqfd/*       an MSI vector of IrqRouter (GSI route + irqfd): the
//                     host thread signals the irqfd, as microvm's emulated
//                     devices do (VFIO signals the same irqfd from the kernel)
//   Irq/irq_line/*    KVM_IRQ_LINE on an IOAPIC pin (edge: high, then low)
//   Irq/signal_msi/*  KVM_SIGNAL_MSI with the same message (the baseline)
//   Irq/irqfd/hlt/<setting>  the irqfd path with one of microvm's settings
//                     for dedicated CPUs (bench_vm.h TuningVariants), against
//                     Irq/irqfd/hlt
//
// .../hlt: the guest waits with sti;hlt (wait_until(): a LAPIC rescue timer
// is armed around each HLT, its wake-ups are counted as timer_wakeups and
// rescued); .../spin (--irq_spin, on by default): it spins with interrupts
// enabled, so KVM must kick a running vCPU. The runs that once stopped for
// good during them were the nested machine's two-vCPU stall (see
// tests/nested/nested_run.sh); with one vCPU they finish. The request path
// (ioeventfd -> host thread) alone is NotifyAck/ioeventfd in exits_bench.cc.
#include <functional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/event_fd.h"
#include "base/status.h"
#include "bench/bench_vm.h"
#include "bench/benchmarks.h"
#include "bench/samples.h"

namespace microvm::bench {
namespace {

enum class Inject { kIrqfd, kIrqLine, kSignalMsi };

absl::StatusOr<OpSamples> MeasureIrq(const Options& o, Inject how,
                                     bench_op op, uint32_t count,
                                     const BenchVm::Tuning& tuning = {}) {
  MVM_ASSIGN_OR_RETURN(std::unique_ptr<BenchVm> vm,
                       BenchVm::Create(o.guest_dir + "/bench.elf",
                                       BenchVm::Loop::kMicrovm, tuning));
  std::unique_ptr<MsiVector> msi;
  std::unique_ptr<IrqLine> line;
  std::function<void()> inject;
  switch (how) {
    case Inject::kIrqfd: {
      MVM_ASSIGN_OR_RETURN(msi, vm->irqs().AllocateMsi());
      MVM_RETURN_IF_ERROR(
          msi->SetMessage(BENCH_MSI_ADDRESS, BENCH_IRQ_VECTOR));
      MVM_RETURN_IF_ERROR(msi->SetEnabled(true));
      inject = [&] { msi->Trigger(); };
      break;
    }
    case Inject::kIrqLine: {
      MVM_ASSIGN_OR_RETURN(line, vm->irqs().MakeIrqLine(BENCH_IRQ_PIN));
      inject = [&] {
        line->Set(true);
        line->Set(false);
      };
      break;
    }
    case Inject::kSignalMsi:
      inject = [&] {
        (void)vm->kvm_vm().SignalMsi(BENCH_MSI_ADDRESS, BENCH_IRQ_VECTOR);
      };
      break;
  }
  MVM_ASSIGN_OR_RETURN(EventFd request, EventFd::Create());
  MVM_RETURN_IF_ERROR(
      vm->kvm_vm().AssignIoeventfd(request.fd(), BENCH_PORT_NOTIFY, 4, true));
  MVM_ASSIGN_OR_RETURN(
      EventLoop::Watch watch, vm->events().Add(request.fd(), [&](uint32_t) {
        absl::StatusOr<uint64_t> n = request.Consume();
        if (n.ok() && *n > 0) inject();
      }));
  absl::StatusOr<OpSamples> samples = vm->Run(op, count);
  watch.Reset();
  MVM_RETURN_IF_ERROR(vm->kvm_vm().DeassignIoeventfd(
      request.fd(), BENCH_PORT_NOTIFY, 4, true));
  return samples;
}

}  // namespace

void RegisterIrqBenchmarks(const Options& o) {
  const uint32_t n = o.samples;
  const std::pair<const char*, Inject> paths[] = {
      {"signal_msi", Inject::kSignalMsi},  // first: the baseline
      {"irqfd", Inject::kIrqfd},
      {"irq_line", Inject::kIrqLine},
  };
  for (auto [wait, op] : {std::pair{"hlt", BENCH_OP_IRQ_HLT},
                          std::pair{"spin", BENCH_OP_IRQ_SPIN}}) {
    if (op == BENCH_OP_IRQ_SPIN && !o.irq_spin) continue;
    std::string baseline = absl::StrCat("Irq/signal_msi/", wait);
    for (auto [path, how] : paths) {
      std::string name = absl::StrCat("Irq/", path, "/", wait);
      RegisterLatency(name, n, [=](benchmark::State& s) {
        ReportSamples(s, MeasureIrq(o, how, op, n),
                      name == baseline ? "" : baseline);
      });
    }
  }
  // Tuning for dedicated CPUs (README "Dedicated CPUs"): VFIO's path (irqfd)
  // to a vCPU halted between interrupts, each setting against the default.
  const std::string tuned_base = "Irq/irqfd/hlt";
  for (const auto& [suffix, tuning] : TuningVariants()) {
    const std::string name = absl::StrCat(tuned_base, "/", suffix);
    RegisterLatency(name, n, [=](benchmark::State& s) {
      ReportSamples(s, MeasureIrq(o, Inject::kIrqfd, BENCH_OP_IRQ_HLT, n, tuning),
                    tuned_base);
    });
  }
}

}  // namespace microvm::bench
