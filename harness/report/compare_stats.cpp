#include "harness/report/compare_stats.hpp"

#include <algorithm>
#include <cmath>

#include "harness/error.hpp"
#include "harness/rng.hpp"

namespace dsbench::report {
namespace {

constexpr double kMinSampleMs = 1e-6;     // 1 ns: a zero reading (timer resolution) must not become log(0)
constexpr double kWorkBudget = 4e6;       // resampled values per row, at most (about 50 ms of CPU)
constexpr int kMinBootstrap = 200;

std::vector<double> logs(const std::vector<double>& ms) {
  std::vector<double> out;
  out.reserve(ms.size());
  for (double v : ms) out.push_back(std::log(std::max(v, kMinSampleMs)));
  return out;
}

double median_inplace(std::vector<double>& v) {
  const size_t n = v.size(), mid = n / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  const double upper = v[mid];
  if (n % 2 == 1) return upper;
  return 0.5 * (upper + *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid)));
}

// One circular block bootstrap resample of x into out (same length), blocks of length block.
void resample(const std::vector<double>& x, size_t block, const CounterRng& rng, uint64_t& counter,
              std::vector<double>& out) {
  const size_t n = x.size();
  out.clear();
  while (out.size() < n) {
    const size_t start = static_cast<size_t>(rng.bits(counter++) % n);
    for (size_t j = 0; j < block && out.size() < n; ++j) out.push_back(x[(start + j) % n]);
  }
}

size_t block_length(size_t n) { return std::max<size_t>(1, static_cast<size_t>(std::ceil(std::cbrt(double(n))))); }

}  // namespace

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

RatioEstimate estimate_ratio(const std::vector<double>& base_ms, const std::vector<double>& new_ms,
                             const StatsOptions& opts, uint64_t stream) {
  DSB_REQUIRE(!base_ms.empty() && !new_ms.empty(), "estimate_ratio: a side has no samples");
  RatioEstimate e;
  e.base_n = static_cast<int>(base_ms.size());
  e.new_n = static_cast<int>(new_ms.size());
  const std::vector<double> x = logs(base_ms), y = logs(new_ms);
  const double center = percentile(y, 0.5) - percentile(x, 0.5);
  e.ratio = std::exp(center);
  e.p10_ratio = std::exp(percentile(y, 0.1) - percentile(x, 0.1));

  const double work = static_cast<double>(x.size() + y.size());
  const int reps = std::max(kMinBootstrap, std::min(opts.bootstrap, static_cast<int>(kWorkBudget / work)));
  const CounterRng rng(opts.seed, stream);
  uint64_t counter = 0;
  std::vector<double> diffs, bx, by;
  diffs.reserve(static_cast<size_t>(reps));
  for (int r = 0; r < reps; ++r) {
    resample(x, block_length(x.size()), rng, counter, bx);
    resample(y, block_length(y.size()), rng, counter, by);
    diffs.push_back(median_inplace(by) - median_inplace(bx));
  }
  const double alpha = 1.0 - opts.confidence;
  const double lo = percentile(diffs, alpha / 2), hi = percentile(diffs, 1.0 - alpha / 2);
  const double floor = std::log1p(opts.noise_floor);
  const double below = std::max(0.0, center - lo), above = std::max(0.0, hi - center);
  e.lo = std::exp(center - std::hypot(below, floor));
  e.hi = std::exp(center + std::hypot(above, floor));
  return e;
}

double normal_quantile(double p) {
  DSB_REQUIRE(p > 0 && p < 1, "normal_quantile: p must lie in (0, 1)");
  // Bisection on the exact CDF (erfc): slow by quantile standards, but called a handful of times.
  double lo = -40, hi = 40;
  for (int i = 0; i < 200 && hi - lo > 1e-12; ++i) {
    const double mid = 0.5 * (lo + hi);
    (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

double measured_noise_floor(double spread, int results, double confidence, double threshold, double configured) {
  if (results < kMinResultsForSpread || !(spread > 0)) return configured;
  // The spread is itself estimated from `results` values: take its one-sided 95% upper bound (the
  // MAD-based SD has a relative standard error of 1.167/sqrt(n)), so that a suite whose few results
  // happened to agree does not shrink the floor below the machine's real noise.
  const double upper = spread * (1.0 + 1.645 * 1.167 / std::sqrt(static_cast<double>(results)));
  const double z = normal_quantile(1.0 - (1.0 - confidence) / (2.0 * results));
  // "slower" needs log(ratio) > log1p(threshold) + floor, so this floor keeps every result of
  // identical code inside z * upper from a verdict; the threshold already covers part of it.
  return std::max(configured, std::expm1(z * upper - std::log1p(threshold)));
}

TimingVerdict classify(const RatioEstimate& e, double threshold, const StatsOptions& opts) {
  TimingVerdict v{"noisy", "", e};
  const double up = 1.0 + threshold, down = 1.0 / up;
  const auto pct = [](double r) { return std::to_string(static_cast<int>(std::lround((r - 1.0) * 100))) + "%"; };
  if (e.base_n < opts.min_samples || e.new_n < opts.min_samples) {
    v.why = "too few samples (" + std::to_string(e.base_n) + " base, " + std::to_string(e.new_n) + " new; at least " +
            std::to_string(opts.min_samples) + " each)";
  } else if (e.lo > up || e.hi < down) {
    const bool slower = e.lo > up;
    const bool tail_moved = slower ? e.p10_ratio > up : e.p10_ratio < down;
    if (tail_moved) v.verdict = slower ? "slower" : "faster";
    else v.why = "the median moved " + pct(e.ratio) + " but the fastest 10% of samples only " + pct(e.p10_ratio) +
                 ": contention, not code";
  } else if (e.ratio >= down && e.ratio <= up) {
    // No evidence of a change beyond the threshold, and the median moved less than it. (A wide
    // interval cannot prove equivalence; the JSON keeps lo/hi for whoever needs that.)
    v.verdict = "same";
  } else {
    v.why = "beyond the threshold but not significantly (" + pct(e.lo) + " to " + pct(e.hi) + ")";
  }
  return v;
}

}  // namespace dsbench::report
