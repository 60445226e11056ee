// SPDX-License-Identifier: Apache-2.0
// The ratio of two interleaved measurements with a confidence interval: a
// candidate (microvm) and a baseline (bare KVM) timed in alternating short
// batches, each batch summarized by its median sample. The estimate is
// mean(candidate batch medians) / mean(baseline batch medians); the interval
// comes from a percentile bootstrap over the batch pairs, so drift that
// hits both sides of a pair alike cancels and a 1-2% gap can be told from
// this host's noise.
#ifndef MICROVM_BENCH_RATIO_H_
#define MICROVM_BENCH_RATIO_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace microvm::bench {

struct RatioEstimate {
  double ratio = 0;  // candidate / baseline
  double low = 0;    // the interval's bounds (95% by default)
  double high = 0;
  size_t pairs = 0;
};

// `baseline[i]` and `candidate[i]` are pair i's batch medians (same size,
// positive). `resamples` bootstrap draws with a fixed seed (repeatable).
RatioEstimate BootstrapRatio(const std::vector<double>& baseline,
                             const std::vector<double>& candidate,
                             double confidence = 0.95, int resamples = 4000,
                             uint64_t seed = 1);

// True when the interval is wider than the effect it reports: its half-width
// exceeds |ratio - 1|, so the data cannot say which side is faster.
bool WiderThanEffect(const RatioEstimate& r);

}  // namespace microvm::bench

#endif  // MICROVM_BENCH_RATIO_H_
