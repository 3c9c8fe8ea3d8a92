// Tests of the BF16 codec: every code, ml_dtypes vectors, an independent nearest-even oracle over a
// strided sweep of all float32 patterns, and single rounding from FP64 (no double rounding).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string>

#include "dsbench/numerics/bf16.hpp"
#include "tests/numerics/golden/numerics_golden.inc"

namespace dsbench {
namespace {

namespace g = numerics_golden;
static_assert(std::size(g::kBf16EncodeIn) == std::size(g::kBf16EncodeCode));

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

bool is_bf16_nan(uint16_t h) { return (h & 0x7f80u) == 0x7f80u && (h & 0x007fu) != 0; }

// Value of a positive bf16 code as a double, computed from the fields (no bit casting), with the
// code just past the largest finite one standing for 2^128: IEEE rounds as if the exponent range
// were unbounded and only then overflows.
double bf16_field_value(uint32_t code) {
  const int e = static_cast<int>(code >> 7), m = static_cast<int>(code & 0x7f);
  if (e == 0) return std::ldexp(static_cast<double>(m), -133);
  return std::ldexp(static_cast<double>(128 + m), e - 127 - 7);
}

// Correctly rounded (nearest, ties to even) bf16 code of a finite double, by comparing distances to
// the two neighbouring bf16 values; both subtractions are exact.
uint16_t nearest_even_bf16(double x) {
  const double ax = std::fabs(x);
  uint32_t lo = 0;  // largest positive code whose value is <= ax (codes grow with value)
  for (uint32_t step = 1u << 15; step != 0; step >>= 1)
    if (lo + step <= 0x7f80u && bf16_field_value(lo + step) <= ax) lo += step;
  uint32_t code;
  if (lo == 0x7f80u) {
    code = 0x7f80u;  // at or beyond 2^128: infinity
  } else {
    const double dlo = ax - bf16_field_value(lo), dhi = bf16_field_value(lo + 1) - ax;
    code = dlo < dhi ? lo : dhi < dlo ? lo + 1 : ((lo & 1u) ? lo + 1 : lo);
  }
  return static_cast<uint16_t>(code | (std::signbit(x) ? 0x8000u : 0u));
}

TEST(Bf16Codec, FieldValueAgreesWithTheBitLayout) {
  for (uint32_t code = 0; code < 0x7f80u; ++code)
    ASSERT_EQ(bf16_field_value(code), static_cast<double>(f32_from_bits(code << 16))) << hex(code);
  EXPECT_EQ(bf16_field_value(0x7f80u), std::ldexp(1.0, 128));
}

TEST(Bf16Codec, DecodesEveryCodeByWideningTheBits) {
  for (uint32_t h = 0; h < 0x10000u; ++h)
    ASSERT_EQ(f32_bits(bf16_to_f32(static_cast<uint16_t>(h))), h << 16) << hex(h);
}

TEST(Bf16Codec, RoundTripsEveryCodeAndKeepsNanANan) {
  int nans = 0;
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    const uint16_t code = static_cast<uint16_t>(h);
    const float v = bf16_to_f32(code);
    const uint16_t back = bf16_from_f32(v);
    if (std::isnan(v)) {
      ++nans;
      EXPECT_TRUE(is_bf16_nan(back)) << hex(h) << " -> " << hex(back);
      EXPECT_EQ(back & 0x8000u, h & 0x8000u) << "NaN sign lost for " << hex(h);
    } else {
      EXPECT_EQ(back, code) << hex(h);
    }
  }
  EXPECT_EQ(nans, 2 * 127);
}

TEST(Bf16Codec, EncodesEveryGoldenVectorLikeMlDtypes) {
  ASSERT_GT(std::size(g::kBf16EncodeIn), 10000u);
  int bad = 0;
  for (size_t i = 0; i < std::size(g::kBf16EncodeIn); ++i) {
    const float x = f32_from_bits(g::kBf16EncodeIn[i]);
    const uint16_t got = bf16_from_f32(x), want = g::kBf16EncodeCode[i];
    if (got != want && ++bad <= 10)
      ADD_FAILURE() << "bf16_from_f32(" << x << " = " << hex(g::kBf16EncodeIn[i]) << ") = " << hex(got)
                    << ", ml_dtypes " << g::kMlDtypesVersion << " gives " << hex(want);
  }
  EXPECT_EQ(bad, 0);
}

// ~44M patterns. The oracle brackets x between the truncated code and the next one, then compares
// distances in double (exact: both values are within a factor of two of x).
TEST(Bf16Codec, MatchesNearestEvenOnAStridedSweepOfAllFloat32) {
  int bad = 0;
  for (uint64_t u64 = 0; u64 < (1ull << 32); u64 += 97) {
    const uint32_t u = static_cast<uint32_t>(u64);
    const float x = f32_from_bits(u);
    const uint16_t got = bf16_from_f32(x);
    uint16_t want;
    if (std::isnan(x)) {
      if (is_bf16_nan(got) && (got & 0x8000u) == ((u >> 16) & 0x8000u)) continue;
      want = static_cast<uint16_t>(((u >> 16) & 0x8000u) | 0x7fc0u);
    } else {
      const uint32_t lo = (u >> 16) & 0x7fffu;
      const double ax = std::fabs(static_cast<double>(x));
      uint32_t code = lo;
      if (lo != 0x7f80u) {  // not infinity
        const double dlo = ax - bf16_field_value(lo), dhi = bf16_field_value(lo + 1) - ax;
        code = dlo < dhi ? lo : dhi < dlo ? lo + 1 : ((lo & 1u) ? lo + 1 : lo);
      }
      want = static_cast<uint16_t>(code | ((u >> 16) & 0x8000u));
    }
    if (got != want && ++bad <= 10)
      ADD_FAILURE() << "bf16_from_f32(" << hex(u) << ") = " << hex(got) << ", expected " << hex(want);
  }
  EXPECT_EQ(bad, 0);
}

TEST(Bf16Codec, RoundsFloat32TiesToEvenAndOverflowsToInfinity) {
  EXPECT_EQ(bf16_from_f32(f32_from_bits(0x3f808000u)), 0x3f80u);  // tie, 0x3f80 even
  EXPECT_EQ(bf16_from_f32(f32_from_bits(0x3f818000u)), 0x3f82u);  // tie, 0x3f81 odd
  EXPECT_EQ(bf16_from_f32(f32_from_bits(0x3f808001u)), 0x3f81u);
  EXPECT_EQ(bf16_from_f32(f32_from_bits(0x7f7f7fffu)), 0x7f7fu);  // just under max + half ulp
  EXPECT_EQ(bf16_from_f32(f32_from_bits(0x7f7f8000u)), 0x7f80u);  // tie with 2^128: even = inf
  EXPECT_EQ(bf16_from_f32(std::numeric_limits<float>::max()), 0x7f80u);
  EXPECT_EQ(bf16_from_f32(-std::numeric_limits<float>::max()), 0xff80u);
  EXPECT_EQ(bf16_from_f32(std::numeric_limits<float>::infinity()), 0x7f80u);
  EXPECT_EQ(bf16_from_f32(-std::numeric_limits<float>::infinity()), 0xff80u);
  EXPECT_EQ(bf16_from_f32(0.0f), 0x0000u);
  EXPECT_EQ(bf16_from_f32(-0.0f), 0x8000u);
  EXPECT_EQ(bf16_from_f32(std::numeric_limits<float>::denorm_min()), 0x0000u);
  EXPECT_EQ(bf16_from_f32(f32_from_bits(0x00008000u)), 0x0000u);  // tie with zero
  EXPECT_EQ(bf16_from_f32(f32_from_bits(0x00018000u)), 0x0002u);  // subnormal tie, odd -> up
  EXPECT_EQ(bf16_from_f32(f32_from_bits(0x007fffffu)), 0x0080u);  // rounds up to the min normal
  EXPECT_EQ(bf16_from_f32(std::numeric_limits<float>::quiet_NaN()), 0x7fc0u);
  EXPECT_EQ(bf16_from_f32(-std::numeric_limits<float>::quiet_NaN()), 0xffc0u);
  EXPECT_EQ(bf16_from_f32(f32_from_bits(0x7f800001u)), 0x7fc0u);  // signalling NaN, tiny payload
}

// x just below (or above) a bf16 midpoint by less than half a float32 ulp: converting to float
// first lands exactly on the midpoint, and ties-to-even then picks the wrong side.
TEST(Bf16Codec, FromF64RoundsOnceWhereGoingThroughFloatRoundsTwice) {
  int cases = 0;
  for (uint32_t lo = 0; lo < 0x7f7fu; ++lo) {
    const double vlo = bf16_field_value(lo), vhi = bf16_field_value(lo + 1);
    const double mid = (vlo + vhi) / 2;
    const double float_ulp = std::ldexp(vhi - vlo, -16);  // float32 has 16 more mantissa bits
    const double d = float_ulp / 4;  // < half a float ulp: float rounding snaps to the midpoint
    // Odd lo: the tie goes up, but x is below the midpoint. Even lo: the tie goes down, but x is
    // above it.
    const double x = (lo & 1u) ? mid - d : mid + d;
    const uint16_t exact = static_cast<uint16_t>((lo & 1u) ? lo : lo + 1);
    ASSERT_EQ(static_cast<double>(static_cast<float>(x)), mid) << "not a double-rounding case";
    const uint16_t twice = bf16_from_f32(static_cast<float>(x));
    ASSERT_NE(twice, exact) << "not a double-rounding case";
    EXPECT_EQ(bf16_from_f64(x), exact) << hex(lo) << " x=" << x;
    EXPECT_EQ(bf16_from_f64(-x), exact | 0x8000u) << hex(lo) << " x=" << -x;
    ++cases;
  }
  EXPECT_EQ(cases, 0x7f7f);
}

TEST(Bf16Codec, FromF64MatchesNearestEvenOnRandomDoubles) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> exp2(-140.0, 129.0);
  std::uniform_int_distribution<int> sign(0, 1);
  int bad = 0;
  for (int i = 0; i < 300000; ++i) {
    double x = std::exp2(exp2(rng));
    if (i % 3 == 0) x = std::ldexp(std::nearbyint(std::ldexp(x, 8 - std::ilogb(x))), std::ilogb(x) - 8);
    if (sign(rng)) x = -x;
    const uint16_t got = bf16_from_f64(x), want = nearest_even_bf16(x);
    if (got != want && ++bad <= 10)
      ADD_FAILURE() << "bf16_from_f64(" << x << ") = " << hex(got) << ", expected " << hex(want);
  }
  EXPECT_EQ(bad, 0);
}

TEST(Bf16Codec, FromF64HandlesSubnormalsOverflowNanAndSignedZero) {
  const double tiny = std::ldexp(1.0, -133);  // smallest bf16 subnormal
  EXPECT_EQ(bf16_from_f64(tiny), 0x0001u);
  EXPECT_EQ(bf16_from_f64(-tiny), 0x8001u);
  EXPECT_EQ(bf16_from_f64(tiny / 2), 0x0000u);                     // tie with zero
  EXPECT_EQ(bf16_from_f64(-tiny / 2), 0x8000u);
  EXPECT_EQ(bf16_from_f64(tiny / 2 + std::ldexp(1.0, -170)), 0x0001u);
  EXPECT_EQ(bf16_from_f64(1.5 * tiny), 0x0002u);                   // tie, odd -> even
  EXPECT_EQ(bf16_from_f64(2.5 * tiny), 0x0002u);
  EXPECT_EQ(bf16_from_f64(127.5 * tiny), 0x0080u);                 // tie up into the min normal
  EXPECT_EQ(bf16_from_f64(std::ldexp(1.0, -126)), 0x0080u);
  EXPECT_EQ(bf16_from_f64(std::ldexp(1.0, -126) - std::ldexp(1.0, -200)), 0x0080u);
  EXPECT_EQ(bf16_from_f64(1e-300), 0x0000u);
  EXPECT_EQ(bf16_from_f64(-1e-300), 0x8000u);
  EXPECT_EQ(bf16_from_f64(std::numeric_limits<double>::denorm_min()), 0x0000u);
  const double max = bf16_field_value(0x7f7f), half_ulp = std::ldexp(1.0, 127 - 8);
  EXPECT_EQ(bf16_from_f64(max), 0x7f7fu);
  EXPECT_EQ(bf16_from_f64(max + half_ulp - std::ldexp(1.0, 90)), 0x7f7fu);
  EXPECT_EQ(bf16_from_f64(max + half_ulp), 0x7f80u);               // tie with 2^128: inf
  EXPECT_EQ(bf16_from_f64(-(max + half_ulp)), 0xff80u);
  EXPECT_EQ(bf16_from_f64(static_cast<double>(std::numeric_limits<float>::max())), 0x7f80u);
  EXPECT_EQ(bf16_from_f64(1e39), 0x7f80u);
  EXPECT_EQ(bf16_from_f64(-1e300), 0xff80u);
  EXPECT_EQ(bf16_from_f64(std::numeric_limits<double>::max()), 0x7f80u);
  EXPECT_EQ(bf16_from_f64(std::numeric_limits<double>::infinity()), 0x7f80u);
  EXPECT_EQ(bf16_from_f64(-std::numeric_limits<double>::infinity()), 0xff80u);
  EXPECT_EQ(bf16_from_f64(std::numeric_limits<double>::quiet_NaN()), 0x7fc0u);
  EXPECT_EQ(bf16_from_f64(-std::numeric_limits<double>::quiet_NaN()), 0xffc0u);
  EXPECT_EQ(bf16_from_f64(0.0), 0x0000u);
  EXPECT_EQ(bf16_from_f64(-0.0), 0x8000u);
  EXPECT_EQ(bf16_from_f64(1.0), 0x3f80u);
  EXPECT_EQ(bf16_from_f64(1.0 + std::ldexp(1.0, -8)), 0x3f80u);    // tie, even
  EXPECT_EQ(bf16_from_f64(1.0 + 3 * std::ldexp(1.0, -8)), 0x3f82u);  // tie, odd -> up
  EXPECT_EQ(bf16_from_f64(1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -26)), 0x3f81u);  // not 0x3f80
}

TEST(Bf16Codec, FromF64AgreesWithFromF32OnEveryFloatThatIsExactlyADouble) {
  // Widening is exact, so a single rounding from double must equal the float rounding.
  int bad = 0;
  for (uint64_t u64 = 0; u64 < (1ull << 32); u64 += 4099) {
    const float x = f32_from_bits(static_cast<uint32_t>(u64));
    if (std::isnan(x)) continue;
    if (bf16_from_f64(x) != bf16_from_f32(x) && ++bad <= 10)
      ADD_FAILURE() << hex(u64) << ": f64 path " << hex(bf16_from_f64(x)) << ", f32 path "
                    << hex(bf16_from_f32(x));
  }
  EXPECT_EQ(bad, 0);
}

}  // namespace
}  // namespace dsbench
