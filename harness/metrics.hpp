// Accuracy metrics, with the definitions the public libraries use (../shared/DEEPSEEK.md §7):
// cos_diff = 1 - 2*sum(xy)/sum(x^2+y^2) in FP64, an element test with abs/rel tolerances, NaN/Inf
// positions compared, and the worst element (largest error relative to its tolerance).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "harness/problem.hpp"
#include "harness/tensor.hpp"

namespace dsbench {

struct OutputAccuracy {
  std::string output;
  Tolerance tolerance;
  double abs_effective = 0.0;   // the absolute allowance actually applied
  bool sampled = false;
  std::string rule;
  int64_t total = 0;            // elements the contract defines
  int64_t checked = 0;          // elements compared
  int64_t mismatches = 0;       // finite elements outside tolerance
  int64_t nonfinite_mismatches = 0;  // NaN/Inf where the reference has none, or the reverse
  double cos_diff = 0.0;
  double max_abs_err = 0.0;
  double max_rel_err = 0.0;
  int64_t worst_index = -1;     // flat index of the worst element
  std::vector<int64_t> worst_coord;
  double worst_expected = 0.0, worst_actual = 0.0;
  bool passed = false;
  // What an op infers from this output beyond pass/fail (the FP8 GEMM accumulation probe's
  // effective accumulator bits); written to the scorecard as `findings`, omitted when empty.
  std::map<std::string, double> findings;
};

// Compares `actual` (a host copy of the kernel's output) at the checked positions.
OutputAccuracy compare_output(const OutputCheck& check, const Tolerance& tol, const HostTensor& actual);

// 1 - 2*sum(xy)/sum(x^2+y^2); 0 when both are all zeros.
double cos_diff(const std::vector<double>& x, const std::vector<double>& y);

// Flat index -> coordinates in a C-order shape.
std::vector<int64_t> unravel(int64_t index, const std::vector<int64_t>& shape);

}  // namespace dsbench
