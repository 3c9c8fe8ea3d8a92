// The suite-wide view of a comparison: how far all timed results moved together, and how much they
// scattered. Resampling whole results (not samples) makes the interval include the run-to-run noise
// that each result's own interval cannot see.
#include <algorithm>
#include <cmath>

#include "harness/report/compare.hpp"
#include "harness/rng.hpp"

namespace dsbench::report {
namespace {

double median(std::vector<double> v) { return percentile(std::move(v), 0.5); }

}  // namespace

SuiteShift suite_shift(const std::vector<RowComparison>& rows, const CompareOptions& o) {
  std::vector<double> logs;
  for (const RowComparison& r : rows)
    if (r.estimate && r.estimate->base_n >= o.stats.min_samples && r.estimate->new_n >= o.stats.min_samples)
      logs.push_back(std::log(r.estimate->ratio));
  SuiteShift s;
  s.results = static_cast<int>(logs.size());
  s.verdict.verdict = "noisy";
  if (logs.empty()) {
    s.verdict.why = "no timed results with enough samples";
    return s;
  }
  const double center = median(logs);
  std::vector<double> dev;
  for (double x : logs) dev.push_back(std::fabs(x - center));
  s.spread = 1.4826 * median(dev);

  const CounterRng rng(o.stats.seed, 0x5017e);
  uint64_t counter = 0;
  std::vector<double> medians, draw(logs.size());
  for (int b = 0; b < o.stats.bootstrap; ++b) {
    for (double& x : draw) x = logs[rng.bits(counter++) % logs.size()];
    medians.push_back(median(draw));
  }
  const double alpha = 1.0 - o.stats.confidence, floor = std::log1p(o.stats.noise_floor);
  RatioEstimate e;
  e.ratio = e.p10_ratio = std::exp(center);  // no fast tail at this level: the veto does not apply
  e.lo = std::exp(center - std::hypot(std::max(0.0, center - percentile(medians, alpha / 2)), floor));
  e.hi = std::exp(center + std::hypot(std::max(0.0, percentile(medians, 1 - alpha / 2) - center), floor));
  e.base_n = e.new_n = s.results;
  s.verdict = classify(e, o.threshold, o.stats);
  if (s.results < o.stats.min_samples) s.verdict.why = "too few timed results (" + std::to_string(s.results) + ")";
  return s;
}

}  // namespace dsbench::report
