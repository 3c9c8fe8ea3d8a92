// The statistics behind `dsbench compare`'s timing verdicts: the ratio of medians of two runs' raw
// samples with a bootstrap confidence interval, and the rule that turns it into faster / slower /
// same / noisy. Designed so that identical code measured twice never comes out "slower": see
// docs/compare_and_report.md#statistics for the method and the reasoning behind each default.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dsbench::report {

struct StatsOptions {
  double confidence = 0.95;  // two-sided level of the interval on the ratio
  int bootstrap = 2000;      // resamples (fewer for very long sample lists: see estimate_ratio)
  // Run-to-run variation one run's samples cannot show (load, clocks, placement), added in
  // quadrature to the interval's half-width (log scale). Device-timed results (GPU events) use
  // noise_floor; host-timed ones (a steady clock around CPU work on a shared host, which moved by
  // up to 12% between interleaved runs even when most results stayed within 1.5%) use
  // host_noise_floor. --noise-floor sets both.
  double noise_floor = 0.03;
  double host_noise_floor = 0.10;
  int min_samples = 5;       // fewer samples on either side: "noisy", never a verdict
  // Host-timed results (CPU work on a steady clock) get per-result verdicts that do not gate unless
  // this is set (--gate-host-timing): on shared hosts single results of identical code moved by
  // 12-51% between runs while the rest stayed within 1.5-5% (docs/compare_and_report.md).
  bool gate_host_timing = false;
  bool measured_floor = true; // raise the floor to the run-to-run noise the comparison itself measures
                              // (see measured_noise_floor); off: --fixed-noise-floor
  uint64_t seed = 1;         // the bootstrap is deterministic: same inputs, same interval
};

struct RatioEstimate {
  double ratio = 0;       // median(new) / median(base): above 1 is slower
  double lo = 0, hi = 0;  // confidence interval of the ratio, noise floor included
  double p10_ratio = 0;   // 10th percentile(new) / 10th percentile(base): the fast tail
  int base_n = 0, new_n = 0;
};

struct TimingVerdict {
  std::string verdict;  // "faster", "slower", "same" or "noisy"
  std::string why;      // for noisy: what prevented a decision
  RatioEstimate estimate;
};

// Linear-interpolation percentile (NumPy's default, as the scorecard's p10/median/p90); q in [0, 1].
double percentile(std::vector<double> values, double q);

// Ratio of medians and a circular block bootstrap percentile interval on log-times. Blocks of
// ceil(n^(1/3)) consecutive samples keep the time correlation of a run (a burst of load spans many
// samples). `stream` (e.g. a hash of the result key) decorrelates rows while staying reproducible.
// Requires at least one positive sample on each side; samples <= 0 are clamped to 1 ns.
RatioEstimate estimate_ratio(const std::vector<double>& base_ms, const std::vector<double>& new_ms,
                             const StatsOptions& opts, uint64_t stream);

// Standard normal quantile: z with P(Z <= z) = p, for p in (0, 1).
double normal_quantile(double p);

// The noise floor a comparison of `results` timed results supports when their log-ratios scatter by
// `spread` (robust SD), for a row with `threshold`: the smallest floor with which a row of identical
// code is called slower or faster only beyond z * (95% upper bound of spread), z the family-wise
// (Bonferroni) two-sided quantile at `confidence` over all results. So identical code on a noisy
// machine gets no false verdict anywhere in the suite (at that confidence). A fraction, like
// StatsOptions::noise_floor, never below `configured`; `configured` when fewer than
// kMinResultsForSpread results give the spread.
constexpr int kMinResultsForSpread = 8;
double measured_noise_floor(double spread, int results, double confidence, double threshold, double configured);

// threshold: the fraction a slowdown must exceed (0.05 = 5%). Rules, in order:
//   either side has fewer than min_samples       -> noisy
//   lo > 1 + threshold and the fast tail (p10) moved beyond the threshold too -> slower
//   hi < 1 / (1 + threshold), likewise                                        -> faster
//   (median moved significantly but the fast tail did not: contention, not code -> noisy)
//   the ratio lies inside the band [1/(1+t), 1+t]                              -> same
//   otherwise (beyond the threshold, but not significantly)                    -> noisy
TimingVerdict classify(const RatioEstimate& e, double threshold, const StatsOptions& opts);

}  // namespace dsbench::report
