// SPDX-License-Identifier: Apache-2.0
#include "bench/ratio.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace microvm::bench {
namespace {

double Quantile(std::vector<double>& v, double q) {
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

}  // namespace

RatioEstimate BootstrapRatio(const std::vector<double>& baseline,
                             const std::vector<double>& candidate, double confidence,
                             int resamples, uint64_t seed) {
  RatioEstimate r;
  r.pairs = std::min(baseline.size(), candidate.size());
  if (r.pairs == 0) return r;
  double base = 0, cand = 0;
  for (size_t i = 0; i < r.pairs; ++i) {
    base += baseline[i];
    cand += candidate[i];
  }
  r.ratio = base > 0 ? cand / base : 0;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, r.pairs - 1);
  std::vector<double> draws;
  draws.reserve(resamples);
  for (int n = 0; n < resamples; ++n) {
    double b = 0, c = 0;
    for (size_t i = 0; i < r.pairs; ++i) {
      const size_t j = pick(rng);
      b += baseline[j];
      c += candidate[j];
    }
    if (b > 0) draws.push_back(c / b);
  }
  if (draws.empty()) return r;
  const double tail = (1 - confidence) / 2;
  r.low = Quantile(draws, tail);
  r.high = Quantile(draws, 1 - tail);
  return r;
}

bool WiderThanEffect(const RatioEstimate& r) {
  return (r.high - r.low) / 2 > std::fabs(r.ratio - 1);
}

}  // namespace microvm::bench
