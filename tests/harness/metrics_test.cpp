// Accuracy metrics against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>

#include "dsbench/numerics/bf16.hpp"
#include "harness/metrics.hpp"

namespace dsbench {
namespace {

HostTensor f32_tensor(const std::vector<float>& v) {
  HostTensor t(TensorSpec{"y", DSB_DTYPE_F32, {static_cast<int64_t>(v.size())}});
  for (size_t i = 0; i < v.size(); ++i) t.as<float>()[i] = v[i];
  return t;
}

OutputCheck check_of(const std::vector<double>& expected) {
  OutputCheck c;
  c.output = "y";
  c.total = static_cast<int64_t>(expected.size());
  for (size_t i = 0; i < expected.size(); ++i) c.index.push_back(static_cast<int64_t>(i));
  c.expected = expected;
  return c;
}

TEST(CosDiff, IsZeroForIdenticalVectorsAndTwoForOpposite) {
  EXPECT_DOUBLE_EQ(cos_diff({1, 2, 3}, {1, 2, 3}), 0.0);
  EXPECT_DOUBLE_EQ(cos_diff({1, 2, 3}, {-1, -2, -3}), 2.0);
  EXPECT_DOUBLE_EQ(cos_diff({0, 0}, {0, 0}), 0.0);
  // x = (1, 0), y = (1, 1): 1 - 2*1/(1 + 2) = 1/3.
  EXPECT_NEAR(cos_diff({1, 0}, {1, 1}), 1.0 / 3.0, 1e-15);
}

TEST(CompareOutput, PassesWithinRelativeToleranceAndReportsTheWorstElement) {
  const Tolerance tol{0.0, 0.0, 0.01, 1e-3};
  const OutputAccuracy a = compare_output(check_of({100, 200, 300}), tol, f32_tensor({100.5f, 200, 299}));
  EXPECT_TRUE(a.passed);
  EXPECT_EQ(a.mismatches, 0);
  EXPECT_DOUBLE_EQ(a.max_abs_err, 1.0);
  EXPECT_EQ(a.worst_index, 0);  // rel 0.5% beats 1/300 = 0.33%
  EXPECT_EQ(a.worst_coord, std::vector<int64_t>{0});
}

TEST(CompareOutput, CountsElementsOutsideBothTolerances) {
  const Tolerance tol{0.1, 0.0, 0.01, 1.0};
  const OutputAccuracy a = compare_output(check_of({1, 2, 3, 0}), tol, f32_tensor({1, 2.5f, 3, 0.05f}));
  EXPECT_FALSE(a.passed);
  EXPECT_EQ(a.mismatches, 1);       // 2.5 vs 2: abs 0.5 > 0.1 and rel 25% > 1%
  EXPECT_EQ(a.worst_index, 1);
  EXPECT_DOUBLE_EQ(a.worst_expected, 2.0);
  EXPECT_DOUBLE_EQ(a.worst_actual, 2.5);
}

TEST(CompareOutput, ScalesTheAbsoluteAllowanceWithTheReferenceRms) {
  // RMS of {300, 400, 0.01} is ~288.7; abs_rms 1e-3 allows ~0.289 on the near-zero element.
  const Tolerance tol{0.0, 1e-3, 1e-6, 1.0};
  const OutputAccuracy ok = compare_output(check_of({300, 400, 0.01}), tol, f32_tensor({300, 400, 0.25f}));
  EXPECT_TRUE(ok.passed);
  EXPECT_NEAR(ok.abs_effective, std::sqrt((300.0 * 300 + 400 * 400 + 1e-4) / 3) * 1e-3, 1e-9);
  const OutputAccuracy bad = compare_output(check_of({300, 400, 0.01}), tol, f32_tensor({300, 400, 0.5f}));
  EXPECT_FALSE(bad.passed);
}

TEST(CompareOutput, FailsOnCosDiffEvenWhenEveryElementIsWithinTolerance) {
  const Tolerance tol{10.0, 0.0, 0.0, 1e-6};
  const OutputAccuracy a = compare_output(check_of({1, 1, 1, 1}), tol, f32_tensor({1.5f, 0.5f, 1.5f, 0.5f}));
  EXPECT_EQ(a.mismatches, 0);
  EXPECT_GT(a.cos_diff, 1e-6);
  EXPECT_FALSE(a.passed);
}

TEST(CompareOutput, TreatsNanAndInfPositionsAsExact) {
  const Tolerance tol{1.0, 0.0, 1.0, 1.0};
  const double inf = INFINITY, nan = NAN;
  EXPECT_TRUE(compare_output(check_of({inf, nan, 1}), tol, f32_tensor({INFINITY, NAN, 1})).passed);
  const OutputAccuracy a = compare_output(check_of({inf, 1, 1}), tol, f32_tensor({-INFINITY, NAN, 1}));
  EXPECT_EQ(a.nonfinite_mismatches, 2);
  EXPECT_FALSE(a.passed);
}

TEST(CompareOutput, RequiresExactEqualityWhenEveryToleranceIsZero) {
  const Tolerance exact{};
  HostTensor t(TensorSpec{"i", DSB_DTYPE_I32, {3}});
  t.as<int32_t>()[0] = 5; t.as<int32_t>()[1] = -1; t.as<int32_t>()[2] = 7;
  EXPECT_TRUE(compare_output(check_of({5, -1, 7}), exact, t).passed);
  EXPECT_FALSE(compare_output(check_of({5, -1, 8}), exact, t).passed);
}

TEST(CompareOutput, DetectsThePoisonOfAnUnwrittenBf16Output) {
  HostTensor t(TensorSpec{"d", DSB_DTYPE_BF16, {2}});
  t.as<uint16_t>()[0] = bf16_from_f32(1.0f);
  t.as<uint16_t>()[1] = 0xffff;  // what the runner fills outputs with
  const OutputAccuracy a = compare_output(check_of({1, 2}), Tolerance{1, 0, 1, 1}, t);
  EXPECT_EQ(a.nonfinite_mismatches, 1);
  EXPECT_FALSE(a.passed);
}

TEST(Unravel, TurnsFlatIndicesIntoCOrderCoordinates) {
  EXPECT_EQ(unravel(0, {2, 3, 4}), (std::vector<int64_t>{0, 0, 0}));
  EXPECT_EQ(unravel(23, {2, 3, 4}), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(unravel(5, {2, 3}), (std::vector<int64_t>{1, 2}));
}

}  // namespace
}  // namespace dsbench
