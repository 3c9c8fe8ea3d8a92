// Tests of the UE8M0 scale codec: every code decodes to 2^(e-127), and rounding a scale up gives the
// smallest power of two >= s, clamped to the code range.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>

#include "dsbench/numerics/fp8.hpp"

namespace dsbench {
namespace {

// Float32 bits of 2^p for p in [-149, 127], from the IEEE layout.
uint32_t pow2_bits(int p) {
  return p >= -126 ? static_cast<uint32_t>(p + 127) << 23 : 1u << (p + 149);
}

// Smallest p with 2^p >= s (s > 0, finite), by search in double.
int ceil_log2(float s) {
  int lo = -160, hi = 129;  // 2^hi >= s for every finite float
  while (lo < hi) {
    const int mid = lo + (hi - lo) / 2;
    if (std::ldexp(1.0, mid) >= static_cast<double>(s)) hi = mid; else lo = mid + 1;
  }
  return lo;
}

uint8_t expected_code(float s) {
  const int p = ceil_log2(s) + 127;
  return static_cast<uint8_t>(p < 0 ? 0 : p > 254 ? 254 : p);
}

TEST(Ue8m0, DecodesEveryCodeToAPowerOfTwo) {
  for (int e = 0; e <= 254; ++e) {
    const float v = ue8m0_to_f32(static_cast<uint8_t>(e));
    EXPECT_EQ(f32_bits(v), pow2_bits(e - 127)) << "code " << e;
    EXPECT_EQ(static_cast<double>(v), std::ldexp(1.0, e - 127)) << "code " << e;
  }
  EXPECT_EQ(ue8m0_to_f32(127), 1.0f);
  EXPECT_EQ(ue8m0_to_f32(0), std::ldexp(1.0f, -127));  // a float32 subnormal
  EXPECT_EQ(ue8m0_to_f32(254), std::ldexp(1.0f, 127));
}

TEST(Ue8m0, DecodesCode255AsNan) { EXPECT_TRUE(std::isnan(ue8m0_to_f32(0xff))); }

TEST(Ue8m0, RoundTripsEveryFiniteCode) {
  for (int e = 0; e <= 254; ++e)
    EXPECT_EQ(ue8m0_from_f32_ceil(ue8m0_to_f32(static_cast<uint8_t>(e))), e) << "code " << e;
}

TEST(Ue8m0, KeepsExactPowersOfTwoAndRoundsEverythingElseUp) {
  for (int p = -127; p <= 127; ++p) {
    const float x = std::ldexp(1.0f, p);
    EXPECT_EQ(ue8m0_from_f32_ceil(x), p + 127) << "2^" << p;
    const float above = std::nextafter(x, std::numeric_limits<float>::infinity());
    EXPECT_EQ(ue8m0_from_f32_ceil(above), p == 127 ? 254 : p + 128) << "just above 2^" << p;
    EXPECT_EQ(ue8m0_from_f32_ceil(1.5f * x), p == 127 ? 254 : p + 128) << "1.5 * 2^" << p;
    const float below = std::nextafter(x, 0.0f);
    EXPECT_EQ(ue8m0_from_f32_ceil(below), p == -127 ? 0 : p + 127) << "just below 2^" << p;
  }
  EXPECT_EQ(ue8m0_from_f32_ceil(1e-4f / 448.0f), 127 - 22);  // the all-zero block's scale -> 2^-22
  EXPECT_EQ(ue8m0_from_f32_ceil(3.0f / 448.0f), 127 - 7);
}

TEST(Ue8m0, ClampsToTheCodeRange) {
  // Below 2^-127 the smallest code (2^-127) is still >= s; above 2^127 the largest code is used.
  EXPECT_EQ(ue8m0_from_f32_ceil(std::numeric_limits<float>::denorm_min()), 0);
  EXPECT_EQ(ue8m0_from_f32_ceil(std::ldexp(1.0f, -140)), 0);
  EXPECT_EQ(ue8m0_from_f32_ceil(std::ldexp(3.0f, -129)), 0);
  EXPECT_EQ(ue8m0_from_f32_ceil(std::numeric_limits<float>::min()), 1);  // 2^-126
  EXPECT_EQ(ue8m0_from_f32_ceil(std::numeric_limits<float>::max()), 254);
  EXPECT_NE(ue8m0_from_f32_ceil(std::numeric_limits<float>::max()), 0xff);  // never the NaN code
}

TEST(Ue8m0, MatchesACeilingSearchOnEveryPositiveFloatStrided) {
  int bad = 0;
  for (uint32_t u = 1; u < 0x7f800000u; u += 1021) {
    const float s = f32_from_bits(u);
    const uint8_t got = ue8m0_from_f32_ceil(s), want = expected_code(s);
    if (got != want && ++bad <= 10) ADD_FAILURE() << "s=" << s << " got " << +got << " want " << +want;
  }
  EXPECT_EQ(bad, 0);
}

TEST(Ue8m0, ScaleValueReadsF32AndUe8m0Scales) {
  const float f[3] = {0.5f, 3.0f, 1e-7f};
  const uint8_t u[3] = {127, 130, 0};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(scale_value(f, i, DSB_DTYPE_F32), f[i]);
    EXPECT_EQ(scale_value(u, i, DSB_DTYPE_UE8M0), std::ldexp(1.0f, u[i] - 127));
  }
}

}  // namespace
}  // namespace dsbench
