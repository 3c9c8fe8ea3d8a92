// The compare statistics: ratio of medians, block-bootstrap interval, and the verdict rule. Samples
// are synthetic and seeded, so every expectation below is exact and reproducible.
#include <gtest/gtest.h>

#include <cmath>

#include "harness/error.hpp"
#include "harness/report/compare_stats.hpp"
#include "report_test_cards.hpp"

namespace dsbench::report {
namespace {

using testing::lognormal_samples;

TimingVerdict verdict(const std::vector<double>& a, const std::vector<double>& b, double threshold = 0.05,
                      StatsOptions o = {}) {
  return classify(estimate_ratio(a, b, o, 42), threshold, o);
}

std::vector<double> scaled(std::vector<double> v, double f) {
  for (double& x : v) x *= f;
  return v;
}

TEST(CompareStats, PercentileInterpolatesLikeNumpy) {
  EXPECT_DOUBLE_EQ(percentile({4, 1, 3, 2}, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(percentile({1, 2, 3, 4, 5}, 0.1), 1.4);
  EXPECT_DOUBLE_EQ(percentile({7}, 0.9), 7);
  EXPECT_TRUE(std::isnan(percentile({}, 0.5)));
}

TEST(CompareStats, TwoSamplesOfOneDistributionAreSame) {
  const auto v = verdict(lognormal_samples(200, 1.0, 0.05, 1), lognormal_samples(200, 1.0, 0.05, 2));
  EXPECT_EQ(v.verdict, "same") << v.why;
  EXPECT_NEAR(v.estimate.ratio, 1.0, 0.02);
  EXPECT_LT(v.estimate.lo, 1.0);
  EXPECT_GT(v.estimate.hi, 1.0);
}

TEST(CompareStats, TwentyPercentShiftIsSlowerAndTheIntervalExcludesTheThreshold) {
  const auto v = verdict(lognormal_samples(200, 1.0, 0.05, 1), scaled(lognormal_samples(200, 1.0, 0.05, 2), 1.2));
  EXPECT_EQ(v.verdict, "slower") << v.why;
  EXPECT_NEAR(v.estimate.ratio, 1.2, 0.03);
  EXPECT_GT(v.estimate.lo, 1.05);
  EXPECT_NEAR(v.estimate.p10_ratio, 1.2, 0.05);
}

TEST(CompareStats, TwentyPercentSpeedupIsFaster) {
  const auto v = verdict(lognormal_samples(100, 2.0, 0.05, 3), scaled(lognormal_samples(100, 2.0, 0.05, 4), 0.8));
  EXPECT_EQ(v.verdict, "faster") << v.why;
  EXPECT_LT(v.estimate.hi, 1 / 1.05);
}

TEST(CompareStats, ShiftBelowTheThresholdIsNeverSlower) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const auto v = verdict(lognormal_samples(300, 1.0, 0.03, seed), scaled(lognormal_samples(300, 1.0, 0.03, seed + 100), 1.03));
    EXPECT_NE(v.verdict, "slower") << "seed " << seed;
  }
}

TEST(CompareStats, PerOpThresholdDecides) {
  const auto a = lognormal_samples(300, 1.0, 0.02, 5), b = scaled(lognormal_samples(300, 1.0, 0.02, 6), 1.15);
  EXPECT_EQ(verdict(a, b, 0.05).verdict, "slower");
  EXPECT_NE(verdict(a, b, 0.20).verdict, "slower");
}

// The property CI relies on: identical code measured twice never comes out "slower" (or "faster").
TEST(CompareStats, NoFalseVerdictOverManySeedsAndNoiseLevels) {
  int same = 0, total = 0;
  for (double sigma : {0.01, 0.05, 0.2, 0.6})
    for (int n : {5, 20, 200})
      for (uint64_t seed = 1; seed <= 25; ++seed) {
        const auto v = verdict(lognormal_samples(n, 0.5, sigma, seed), lognormal_samples(n, 0.5, sigma, seed + 1000));
        ASSERT_TRUE(v.verdict == "same" || v.verdict == "noisy")
            << v.verdict << " for sigma " << sigma << ", n " << n << ", seed " << seed;
        if ((sigma <= 0.01 && n >= 20) || (sigma <= 0.05 && n >= 200)) {  // quiet enough to decide
          same += v.verdict == "same";
          ++total;
        }
      }
  EXPECT_EQ(same, total) << "quiet identical pairs must be decided as same, not left noisy";
}

TEST(CompareStats, TooFewSamplesAreNoisyWhateverTheShift) {
  const auto v = verdict({1.0, 1.0, 1.0}, {3.0, 3.0, 3.0});
  EXPECT_EQ(v.verdict, "noisy");
  EXPECT_NE(v.why.find("too few samples (3 base, 3 new; at least 5 each)"), std::string::npos) << v.why;
}

// A wide interval is no verdict by itself: a median outside the band is "noisy" (not significant);
// one inside it is "same" (no evidence of a change beyond the threshold).
TEST(CompareStats, AWideIntervalDecidesNothingBeyondTheBand) {
  const auto outside = verdict(lognormal_samples(8, 1.0, 0.6, 7), lognormal_samples(8, 1.0, 0.6, 8));
  EXPECT_EQ(outside.verdict, "noisy");
  EXPECT_NE(outside.why.find("not significantly"), std::string::npos) << outside.why;
  const auto inside = verdict(lognormal_samples(8, 1.0, 0.6, 7), lognormal_samples(8, 1.0, 0.6, 7));
  EXPECT_EQ(inside.verdict, "same");
}

// Contention lengthens some samples; a code change lengthens all. A median that moved while the
// fastest 10% did not is reported as noisy, not slower.
TEST(CompareStats, MedianMovedButFastTailDidNotIsContention) {
  const auto base = lognormal_samples(400, 1.0, 0.01, 9);
  auto loaded = lognormal_samples(400, 1.0, 0.01, 10);
  for (size_t i = 0; i < loaded.size(); ++i)
    if (i % 5 < 3) loaded[i] *= 1.5;  // 60% of the samples hit by another process
  const auto v = verdict(base, loaded);
  EXPECT_EQ(v.verdict, "noisy");
  EXPECT_NE(v.why.find("contention"), std::string::npos) << v.why;
}

TEST(CompareStats, NoiseFloorWidensTheInterval) {
  const auto a = lognormal_samples(500, 1.0, 0.005, 11), b = lognormal_samples(500, 1.0, 0.005, 12);
  StatsOptions tight;
  tight.noise_floor = 0;
  StatsOptions wide;
  wide.noise_floor = 0.10;
  const auto t = estimate_ratio(a, b, tight, 1), w = estimate_ratio(a, b, wide, 1);
  EXPECT_LT(t.hi / t.lo, 1.01);
  EXPECT_GT(w.hi / w.lo, 1.2);
  EXPECT_DOUBLE_EQ(t.ratio, w.ratio);
}

TEST(CompareStats, NormalQuantileMatchesTables) {
  EXPECT_NEAR(normal_quantile(0.5), 0.0, 1e-9);
  EXPECT_NEAR(normal_quantile(0.975), 1.959964, 1e-6);
  EXPECT_NEAR(normal_quantile(0.025), -1.959964, 1e-6);
  EXPECT_NEAR(normal_quantile(1 - 0.05 / 64), 3.1628, 1e-3);
  EXPECT_THROW(normal_quantile(0), Error);
}

TEST(CompareStats, MeasuredFloorIsFamilyWiseAndNeverBelowTheConfiguredOne) {
  // 32 results at 95%: Bonferroni z = 3.1628 (0.05/64); a 10% spread has the upper bound
  // 0.10 * (1 + 1.645 * 1.167 / sqrt(32)) = 0.13394; a 5% threshold covers log(1.05) of it.
  EXPECT_NEAR(measured_noise_floor(0.10, 32, 0.95, 0.05, 0.03), std::expm1(3.1628 * 0.13394 - std::log(1.05)), 1e-3);
  EXPECT_DOUBLE_EQ(measured_noise_floor(0.01, 32, 0.95, 0.05, 0.03), 0.03) << "a quiet machine keeps the configured floor";
  EXPECT_DOUBLE_EQ(measured_noise_floor(0.10, kMinResultsForSpread - 1, 0.95, 0.05, 0.03), 0.03) << "too few results";
  EXPECT_LT(measured_noise_floor(0.10, 32, 0.95, 0.20, 0.03), measured_noise_floor(0.10, 32, 0.95, 0.05, 0.03))
      << "a wider per-op threshold already absorbs part of the noise";
}

TEST(CompareStats, IsDeterministicForAGivenSeedAndStream) {
  const auto a = lognormal_samples(50, 1.0, 0.1, 13), b = lognormal_samples(60, 1.1, 0.1, 14);
  const StatsOptions o;
  const auto x = estimate_ratio(a, b, o, 99), y = estimate_ratio(a, b, o, 99);
  EXPECT_EQ(x.lo, y.lo);
  EXPECT_EQ(x.hi, y.hi);
}

TEST(CompareStats, ZeroReadingsDoNotBreakTheLogScale) {
  std::vector<double> a(20, 0.0), b(20, 0.0);
  const auto v = verdict(a, b);
  EXPECT_EQ(v.verdict, "same");
  EXPECT_DOUBLE_EQ(v.estimate.ratio, 1.0);
}

}  // namespace
}  // namespace dsbench::report
