// The counter-based generator: a pure function of (seed, stream, index), uniform enough, no zeros.
#include <gtest/gtest.h>

#include <cmath>

#include "harness/rng.hpp"

namespace dsbench {
namespace {

TEST(CounterRng, IsAPureFunctionOfSeedStreamAndIndex) {
  const CounterRng a(42, 7), b(42, 7), c(43, 7), d(42, 8);
  EXPECT_EQ(a.bits(123), b.bits(123));
  EXPECT_NE(a.bits(123), c.bits(123));
  EXPECT_NE(a.bits(123), d.bits(123));
  EXPECT_NE(a.bits(123), a.bits(124));
}

TEST(CounterRng, UniformValuesFillTheRangeWithMeanNearTheMiddle) {
  const CounterRng r(1, hash_name("x"));
  double sum = 0, lo = 1, hi = -1;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const float v = r.uniform(i, -1.0f, 1.0f);
    ASSERT_GE(v, -1.0f);
    ASSERT_LT(v, 1.0f);
    sum += v;
    lo = std::min<double>(lo, v);
    hi = std::max<double>(hi, v);
  }
  EXPECT_NEAR(sum / n, 0.0, 0.01);  // standard error ~0.0013
  EXPECT_LT(lo, -0.999);
  EXPECT_GT(hi, 0.999);
}

TEST(CounterRng, IntegersCoverTheirInclusiveRange) {
  const CounterRng r(9, 9);
  int seen[7] = {0};
  for (int i = 0; i < 7000; ++i) {
    const int64_t v = r.integer(i, -3, 3);
    ASSERT_GE(v, -3);
    ASSERT_LE(v, 3);
    ++seen[v + 3];
  }
  for (int c : seen) EXPECT_GT(c, 800);
}

TEST(HashName, DistinguishesTensorNames) {
  EXPECT_NE(hash_name("a"), hash_name("b"));
  EXPECT_NE(hash_name("scale_a"), hash_name("scale_b"));
  EXPECT_EQ(hash_name("a"), hash_name("a"));
}

}  // namespace
}  // namespace dsbench
