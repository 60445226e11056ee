// SPDX-License-Identifier: Apache-2.0
#include "bench/samples.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace microvm::bench {

benchmark::internal::Benchmark* RegisterLatency(
    const std::string& name, uint32_t count,
    std::function<void(benchmark::State&)> fn) {
  return benchmark::RegisterBenchmark(name.c_str(), std::move(fn))
      ->Iterations(count)
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond);
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p / 100 * sorted.size()));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

void ReportSamples(benchmark::State& state,
                   const absl::StatusOr<OpSamples>& samples,
                   const std::string& baseline) {
  if (!samples.ok()) {
    state.SkipWithError(samples.status().ToString().c_str());
    return;
  }
  const std::vector<double>& us = samples->us;
  if (us.empty()) {
    state.SkipWithError("every sample timed out");
    return;
  }
  size_t i = 0;
  for (auto _ : state) {
    state.SetIterationTime(us[i++ % us.size()] * 1e-6);
  }
  std::vector<double> sorted = us;
  std::sort(sorted.begin(), sorted.end());
  double p50 = Percentile(sorted, 50);
  auto outliers = std::count_if(sorted.begin(), sorted.end(),
                                [p50](double v) { return v > 10 * p50; });
  const bench_result& r = samples->result;
  state.counters["p50_us"] = p50;
  state.counters["p99_us"] = Percentile(sorted, 99);
  state.counters["max_us"] = sorted.back();
  state.counters["samples"] = static_cast<double>(r.samples);
  state.counters["lost"] = r.lost;
  state.counters["outliers"] = static_cast<double>(outliers);
  state.counters["timer_wakeups"] = r.timer_wakeups;
  state.counters["rescued"] = r.rescued;
  state.counters["tsc_per_us"] = samples->tsc_per_us;
  state.counters["guest_tsc_per_us"] = samples->guest_tsc_per_us;
  state.SetLabel(baseline.empty() ? "" : absl::StrCat("baseline=", baseline));
}

}  // namespace microvm::bench
