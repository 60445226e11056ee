// SPDX-License-Identifier: Apache-2.0
#include "bench/ratio.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace microvm::bench {
namespace {

TEST(BootstrapRatioTest, IdenticalSidesGiveOneWithAPointInterval) {
  std::vector<double> same = {10, 11, 12, 10, 9, 10};
  RatioEstimate r = BootstrapRatio(same, same);
  EXPECT_DOUBLE_EQ(r.ratio, 1.0);
  EXPECT_DOUBLE_EQ(r.low, 1.0);
  EXPECT_DOUBLE_EQ(r.high, 1.0);
  EXPECT_EQ(r.pairs, 6u);
}

TEST(BootstrapRatioTest, ResolvesATwoPercentGapUnderSharedDrift) {
  // Pairs drift together over +-30 % (a loaded host); the candidate is 2 %
  // slower with 0.5 % noise of its own: the interval must exclude 1.0.
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> drift(0.7, 1.3), noise(0.995, 1.005);
  std::vector<double> base, cand;
  for (int i = 0; i < 60; ++i) {
    const double d = 40 * drift(rng);
    base.push_back(d * noise(rng));
    cand.push_back(d * 1.02 * noise(rng));
  }
  RatioEstimate r = BootstrapRatio(base, cand);
  EXPECT_NEAR(r.ratio, 1.02, 0.005);
  EXPECT_GT(r.low, 1.0);
  EXPECT_LT(r.high, 1.04);
  EXPECT_LT(r.low, r.ratio);
  EXPECT_GT(r.high, r.ratio);
  EXPECT_FALSE(WiderThanEffect(r));
}

TEST(BootstrapRatioTest, NoisyEqualSidesAreWiderThanTheEffect) {
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> any(20, 60);
  std::vector<double> base, cand;
  for (int i = 0; i < 20; ++i) {
    base.push_back(any(rng));
    cand.push_back(any(rng));
  }
  RatioEstimate r = BootstrapRatio(base, cand);
  EXPECT_LE(r.low, 1.0);
  EXPECT_GE(r.high, 1.0);
  EXPECT_TRUE(WiderThanEffect(r));
}

TEST(BootstrapRatioTest, EmptyIsZero) {
  RatioEstimate r = BootstrapRatio({}, {});
  EXPECT_EQ(r.pairs, 0u);
  EXPECT_EQ(r.ratio, 0);
}

TEST(BootstrapRatioTest, RepeatableForASeed) {
  std::vector<double> b = {1, 2, 3, 4, 5}, c = {1.1, 2.3, 2.9, 4.2, 5.5};
  RatioEstimate x = BootstrapRatio(b, c), y = BootstrapRatio(b, c);
  EXPECT_EQ(x.low, y.low);
  EXPECT_EQ(x.high, y.high);
}

}  // namespace
}  // namespace microvm::bench
