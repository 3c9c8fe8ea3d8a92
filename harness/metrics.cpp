#include "harness/metrics.hpp"

#include <algorithm>
#include <cmath>

namespace dsbench {

double cos_diff(const std::vector<double>& x, const std::vector<double>& y) {
  double xy = 0.0, sq = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    xy += x[i] * y[i];
    sq += x[i] * x[i] + y[i] * y[i];
  }
  return sq == 0.0 ? 0.0 : 1.0 - 2.0 * xy / sq;
}

std::vector<int64_t> unravel(int64_t index, const std::vector<int64_t>& shape) {
  std::vector<int64_t> c(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    c[d] = shape[d] ? index % shape[d] : 0;
    index = shape[d] ? index / shape[d] : 0;
  }
  return c;
}

OutputAccuracy compare_output(const OutputCheck& check, const Tolerance& tol, const HostTensor& actual) {
  if (check.custom) return check.custom(actual, tol);
  OutputAccuracy acc;
  acc.output = check.output;
  acc.tolerance = tol;
  acc.sampled = check.sampled;
  acc.rule = check.rule;
  acc.total = check.total;
  acc.checked = static_cast<int64_t>(check.index.size());
  const bool exact = tol.abs == 0.0 && tol.abs_rms == 0.0 && tol.rel == 0.0;
  double sum_sq = 0.0;
  int64_t finite = 0;
  for (double r : check.expected)
    if (std::isfinite(r)) { sum_sq += r * r; ++finite; }
  const double rms = finite ? std::sqrt(sum_sq / static_cast<double>(finite)) : 0.0;
  const double abs_tol = std::max(tol.abs, tol.abs_rms * rms);
  acc.abs_effective = abs_tol;
  std::vector<double> xs, ys;
  xs.reserve(check.index.size());
  ys.reserve(check.index.size());
  double worst_score = -1.0;
  for (size_t j = 0; j < check.index.size(); ++j) {
    const int64_t i = check.index[j];
    const double r = check.expected[j];
    const double a = element_as_double(actual.data.data(), actual.spec.dtype, i);
    double score;  // error relative to what the tolerance allows; > 1 fails
    if (!std::isfinite(r) || !std::isfinite(a)) {
      const bool same = (std::isnan(r) && std::isnan(a)) || r == a;  // equal infinities
      if (!same) ++acc.nonfinite_mismatches;
      score = same ? 0.0 : INFINITY;
    } else {
      const double err = std::fabs(a - r);
      const double rel = err / (std::fabs(r) + 1e-6);
      acc.max_abs_err = std::max(acc.max_abs_err, err);
      acc.max_rel_err = std::max(acc.max_rel_err, rel);
      const bool ok = exact ? err == 0.0 : (err <= abs_tol || rel <= tol.rel);
      if (!ok) ++acc.mismatches;
      score = exact ? (err == 0.0 ? 0.0 : INFINITY) : std::min(err / std::max(abs_tol, 1e-300), rel / std::max(tol.rel, 1e-300));
      xs.push_back(a);
      ys.push_back(r);
    }
    if (score > worst_score) {
      worst_score = score;
      acc.worst_index = i;
      acc.worst_expected = r;
      acc.worst_actual = a;
    }
  }
  acc.cos_diff = cos_diff(xs, ys);
  if (acc.worst_index >= 0) acc.worst_coord = unravel(acc.worst_index, actual.spec.shape);
  acc.passed = acc.mismatches == 0 && acc.nonfinite_mismatches == 0 && acc.cos_diff <= tol.cos_diff;
  return acc;
}

}  // namespace dsbench
