// SPDX-License-Identifier: Apache-2.0
// Hands latency samples to Google Benchmark: one iteration per sample, its
// time set by hand (UseManualTime), so the JSON's real_time is their mean;
// their distribution goes into counters: p50_us, p99_us, max_us, samples,
// lost (timed out), outliers (> 10x the median), timer_wakeups and rescued
// (rescue-timer wake-ups of sti;hlt waits), tsc_per_us and guest_tsc_per_us
// (the rate used; the guest's own), and the label names the
// benchmark this one is compared against ("baseline=NAME").
#ifndef MICROVM_BENCH_SAMPLES_H_
#define MICROVM_BENCH_SAMPLES_H_

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/bench_vm.h"

namespace microvm::bench {

struct Options {
  uint32_t samples = 2000;      // per latency benchmark
  uint32_t startup_runs = 20;   // per start-up benchmark
  std::string guest_dir = "bench/guests";
  std::string microvm = "vmm/microvm";
  std::string microvm_static = "vmm/microvm_static";
  std::string bare_exits = "bench/bare_exits";  // ExitRatio/process/*
  bool irq_spin = true;  // also Irq/*/spin (see irq_bench.cc)
  // A host PCI function (edu, bound to vfio-pci) for Passthrough/*; empty:
  // those are not registered (passthrough_bench.cc).
  std::string vfio;
};

// Registers a benchmark that runs `count` iterations with manual time, in us.
benchmark::internal::Benchmark* RegisterLatency(
    const std::string& name, uint32_t count,
    std::function<void(benchmark::State&)> fn);

// Runs the benchmark loop over `samples` (or skips it with the error).
void ReportSamples(benchmark::State& state,
                   const absl::StatusOr<OpSamples>& samples,
                   const std::string& baseline);

// Nearest-rank percentile (0 < p <= 100) of sorted values.
double Percentile(const std::vector<double>& sorted, double p);

}  // namespace microvm::bench

#endif  // MICROVM_BENCH_SAMPLES_H_
