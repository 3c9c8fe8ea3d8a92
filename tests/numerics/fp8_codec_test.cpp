// Exhaustive tests of the four FP8 codecs (E4M3FN, E5M2, E4M3FNUZ, E5M2FNUZ): every code against
// ml_dtypes' decoder, encoding against ml_dtypes vectors, and properties checked from first
// principles (ties to even at every midpoint, saturation, extremes, monotonicity).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <ostream>
#include <string>

#include "dsbench/numerics/fp8.hpp"
#include "tests/numerics/golden/numerics_golden.inc"

namespace dsbench {
namespace {

// What the test knows about each variant, written down from the format definitions
// (../shared/DEEPSEEK.md §2), not read from Fp8Format.
struct Fp8Case {
  const char* name;
  dsb_dtype dtype;
  float max_value;
  uint8_t max_code;
  int min_subnormal_exp;  // smallest positive value is 2^min_subnormal_exp
  uint8_t nan_code;       // positive NaN produced by the encoder
  bool fnuz;              // single NaN 0x80, no negative zero
  int nan_codes;          // how many of the 256 codes decode to NaN
  int inf_codes;          // how many decode to +-inf
  const uint32_t* golden_in;
  const uint8_t* golden_code;
  size_t golden_n;
};

namespace g = numerics_golden;

const Fp8Case kCases[] = {
    {"E4m3fn", DSB_DTYPE_E4M3FN, 448.0f, 0x7e, -9, 0x7f, false, 2, 0, g::kE4m3fnEncodeIn,
     g::kE4m3fnEncodeCode, std::size(g::kE4m3fnEncodeIn)},
    {"E5m2", DSB_DTYPE_E5M2, 57344.0f, 0x7b, -16, 0x7e, false, 6, 2, g::kE5m2EncodeIn,
     g::kE5m2EncodeCode, std::size(g::kE5m2EncodeIn)},
    {"E4m3fnuz", DSB_DTYPE_E4M3FNUZ, 240.0f, 0x7f, -10, 0x80, true, 1, 0, g::kE4m3fnuzEncodeIn,
     g::kE4m3fnuzEncodeCode, std::size(g::kE4m3fnuzEncodeIn)},
    {"E5m2fnuz", DSB_DTYPE_E5M2FNUZ, 57344.0f, 0x7f, -17, 0x80, true, 1, 0, g::kE5m2fnuzEncodeIn,
     g::kE5m2fnuzEncodeCode, std::size(g::kE5m2fnuzEncodeIn)},
};
static_assert(std::size(g::kE4m3fnEncodeIn) == std::size(g::kE4m3fnEncodeCode));
static_assert(std::size(g::kE5m2EncodeIn) == std::size(g::kE5m2EncodeCode));
static_assert(std::size(g::kE4m3fnuzEncodeIn) == std::size(g::kE4m3fnuzEncodeCode));
static_assert(std::size(g::kE5m2fnuzEncodeIn) == std::size(g::kE5m2fnuzEncodeCode));

// Names the variant in failure messages instead of dumping the struct's bytes.
void PrintTo(const Fp8Case& c, std::ostream* os) { *os << c.name; }

std::string hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%x", v);
  return buf;
}

class Fp8Codec : public ::testing::TestWithParam<Fp8Case> {
 protected:
  const Fp8Case& c() const { return GetParam(); }
  Fp8Format fmt() const { return fp8_format(c().dtype); }
  float decode(uint8_t code) const { return fp8_decode(code, c().dtype); }
  uint8_t encode(float x) const { return fp8_encode(x, c().dtype); }
  const uint32_t* golden_decode() const { return g::kFp8DecodeBits[c().dtype - DSB_DTYPE_E4M3FN]; }
  // Code of -|value of positive code p|: FNUZ has no negative zero.
  uint8_t negate(uint8_t p) const { return (c().fnuz && p == 0) ? 0 : static_cast<uint8_t>(p | 0x80); }
  uint8_t nan_code(bool negative) const {
    return c().fnuz ? 0x80 : static_cast<uint8_t>(c().nan_code | (negative ? 0x80 : 0));
  }
};

TEST_P(Fp8Codec, FormatTableMatchesTheDefinition) {
  EXPECT_EQ(fmt().max_value, c().max_value);
  EXPECT_EQ(fmt().max_code, c().max_code);
  EXPECT_EQ(fmt().fnuz, c().fnuz);
  EXPECT_EQ(fp8_decode(0x01, c().dtype), fp8_decode(0x01, fmt()));  // dtype overload agrees
}

TEST_P(Fp8Codec, DecodesEveryCodeToTheMlDtypesValue) {
  int nans = 0, infs = 0;
  for (int code = 0; code < 256; ++code) {
    const float v = decode(static_cast<uint8_t>(code));
    const uint32_t want = golden_decode()[code];
    if (want == g::kNanMarker) {
      EXPECT_TRUE(std::isnan(v)) << "code " << hex(code) << " decodes to " << v;
      ++nans;
    } else {
      // Bit equality: also checks the sign of zero and the infinities.
      EXPECT_EQ(f32_bits(v), want) << "code " << hex(code) << " decodes to " << v << ", ml_dtypes "
                                   << f32_from_bits(want);
      infs += std::isinf(v);
    }
  }
  EXPECT_EQ(nans, c().nan_codes);
  EXPECT_EQ(infs, c().inf_codes);
}

TEST_P(Fp8Codec, RoundTripsEveryNonNanCode) {
  for (int code = 0; code < 256; ++code) {
    const float v = decode(static_cast<uint8_t>(code));
    if (std::isnan(v)) continue;  // FNUZ: 0x80 is NaN, so -0 is not a code and never round-trips
    if (std::isinf(v)) {
      // E5M2 +-inf: the encoder saturates, by design.
      EXPECT_EQ(encode(v), code < 0x80 ? c().max_code : (c().max_code | 0x80)) << hex(code);
      continue;
    }
    EXPECT_EQ(encode(v), code) << "code " << hex(code) << " value " << v;
  }
}

TEST_P(Fp8Codec, EncodesEveryGoldenVectorLikeMlDtypes) {
  ASSERT_GT(c().golden_n, 1000u);
  int bad = 0;
  for (size_t i = 0; i < c().golden_n; ++i) {
    const float x = f32_from_bits(c().golden_in[i]);
    const uint8_t got = encode(x), want = c().golden_code[i];
    if (got != want && ++bad <= 10) {
      ADD_FAILURE() << "encode(" << x << " = " << hex(c().golden_in[i]) << ") = " << hex(got)
                    << ", ml_dtypes " << g::kMlDtypesVersion << " gives " << hex(want);
    }
  }
  EXPECT_EQ(bad, 0) << "mismatches out of " << c().golden_n;
}

TEST_P(Fp8Codec, SaturatesEverythingAtOrAboveMaxIncludingInfinity) {
  const uint32_t max_bits = f32_bits(c().max_value), inf_bits = 0x7f800000u;
  const uint8_t pos = c().max_code, neg = static_cast<uint8_t>(c().max_code | 0x80);
  int bad = 0;
  auto check = [&](uint32_t u) {
    if (encode(f32_from_bits(u)) != pos || encode(f32_from_bits(u | 0x80000000u)) != neg) ++bad;
  };
  // Every float32 just above max, a fine stride up to 4x max (past the would-be next code and
  // its midpoint), then a coarse one up to and including infinity.
  const uint32_t dense_end = max_bits + (1u << 16), fine_end = f32_bits(4 * c().max_value);
  for (uint32_t u = max_bits; u < dense_end; ++u) check(u);
  for (uint32_t u = dense_end; u < fine_end; u += 31) check(u);
  for (uint32_t u = fine_end; u < inf_bits; u += 4093) check(u);
  check(inf_bits);
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(encode(std::numeric_limits<float>::infinity()), pos);
  EXPECT_EQ(encode(-std::numeric_limits<float>::infinity()), neg);
  EXPECT_EQ(encode(std::numeric_limits<float>::max()), pos);
  EXPECT_EQ(encode(std::nextafter(c().max_value, 0.0f)), pos);  // rounds to max, not saturation
}

TEST_P(Fp8Codec, EncodesEveryNanToTheVariantsNan) {
  int bad = 0;
  for (uint32_t payload = 1; payload < (1u << 23); payload += 7) {
    const uint32_t u = 0x7f800000u | payload;
    if (encode(f32_from_bits(u)) != nan_code(false)) ++bad;
    if (encode(f32_from_bits(u | 0x80000000u)) != nan_code(true)) ++bad;
  }
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(encode(std::numeric_limits<float>::quiet_NaN()), nan_code(false));
  EXPECT_EQ(encode(-std::numeric_limits<float>::quiet_NaN()), nan_code(true));
  EXPECT_TRUE(std::isnan(decode(nan_code(false))));
  EXPECT_TRUE(std::isnan(decode(nan_code(true))));
}

// Midpoints come from adjacent decoded values (the decoder is checked against ml_dtypes above), not
// from the golden encode vectors.
TEST_P(Fp8Codec, RoundsTiesToEvenAtEveryMidpoint) {
  for (int lo = 0; lo < c().max_code; ++lo) {
    const uint8_t a = static_cast<uint8_t>(lo), b = static_cast<uint8_t>(lo + 1);
    const double va = decode(a), vb = decode(b);
    ASSERT_LT(va, vb);
    const float mid = static_cast<float>((va + vb) / 2);
    ASSERT_EQ(static_cast<double>(mid), (va + vb) / 2) << "midpoint not exact in float32";
    const uint8_t even = (a & 1) ? b : a;
    EXPECT_EQ(encode(mid), even) << "tie " << mid << " between " << hex(a) << " and " << hex(b);
    EXPECT_EQ(encode(-mid), negate(even)) << "tie " << -mid;
    const float below = std::nextafter(mid, 0.0f), above = std::nextafter(mid, 1e30f);
    EXPECT_EQ(encode(below), a) << below;
    EXPECT_EQ(encode(above), b) << above;
    EXPECT_EQ(encode(-below), negate(a)) << -below;
    EXPECT_EQ(encode(-above), negate(b)) << -above;
  }
}

// A reference encoder by nearest search over ml_dtypes' decode table, compared on every float32
// pattern with a stride: densely over the magnitudes where FP8 codes live, coarsely elsewhere.
TEST_P(Fp8Codec, MatchesANearestEvenSearchOnAStridedSweepOfAllFloat32) {
  double vals[128];  // values of positive codes 0..max_code, increasing
  const int n = c().max_code + 1;
  for (int p = 0; p < n; ++p) vals[p] = f32_from_bits(golden_decode()[p]);
  ASSERT_TRUE(std::is_sorted(vals, vals + n));
  auto reference = [&](float x) -> uint8_t {
    if (std::isnan(x)) return nan_code(std::signbit(x));
    const double ax = std::fabs(static_cast<double>(x));
    int p;
    if (ax >= vals[n - 1]) {
      p = c().max_code;  // saturation
    } else {
      int lo = 0, hi = n - 1;  // invariant: vals[lo] <= ax < vals[hi]
      while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        (vals[mid] <= ax ? lo : hi) = mid;
      }
      const double dlo = ax - vals[lo], dhi = vals[hi] - ax;
      p = dlo < dhi ? lo : dhi < dlo ? hi : (lo % 2 == 0 ? lo : hi);
    }
    return std::signbit(x) ? negate(static_cast<uint8_t>(p)) : static_cast<uint8_t>(p);
  };
  int bad = 0;
  auto check = [&](uint32_t u) {
    const float x = f32_from_bits(u);
    const uint8_t got = encode(x), want = reference(x);
    if (got != want && ++bad <= 10)
      ADD_FAILURE() << "encode(" << x << " = " << hex(u) << ") = " << hex(got)
                    << ", nearest-even search gives " << hex(want);
  };
  // Dense: magnitudes from 2^-3 of the smallest subnormal to twice the max, ~500k per sign.
  const uint32_t lo = f32_bits(std::ldexp(1.0f, c().min_subnormal_exp - 3));
  const uint32_t hi = f32_bits(2 * c().max_value);
  const uint32_t stride = ((hi - lo) / 500000) | 1u;
  for (uint32_t u = lo; u <= hi; u += stride) {
    check(u);
    check(u | 0x80000000u);
  }
  for (uint64_t u = 0; u < (1ull << 32); u += 8191) check(static_cast<uint32_t>(u));  // everything
  EXPECT_EQ(bad, 0);
}

TEST_P(Fp8Codec, HasTheDocumentedMaximum) {
  EXPECT_EQ(decode(c().max_code), c().max_value);
  EXPECT_EQ(decode(c().max_code | 0x80), -c().max_value);
  EXPECT_EQ(encode(c().max_value), c().max_code);
  EXPECT_EQ(encode(-c().max_value), c().max_code | 0x80);
  for (int code = 0; code < 256; ++code) {
    const float v = decode(static_cast<uint8_t>(code));
    if (std::isfinite(v)) {
      EXPECT_LE(std::fabs(v), c().max_value) << hex(code);
    }
  }
}

TEST_P(Fp8Codec, HasTheDocumentedSmallestSubnormal) {
  const float tiny = std::ldexp(1.0f, c().min_subnormal_exp);
  EXPECT_EQ(decode(0x01), tiny);
  EXPECT_EQ(decode(0x81), -tiny);
  EXPECT_EQ(encode(tiny), 0x01);
  EXPECT_EQ(encode(-tiny), 0x81);
  EXPECT_EQ(encode(tiny / 2), 0x00);                            // tie with zero: even
  EXPECT_EQ(encode(-tiny / 2), negate(0));
  EXPECT_EQ(encode(std::nextafter(tiny / 2, 1.0f)), 0x01);
  EXPECT_EQ(encode(1.5f * tiny), 0x02);                         // tie between 1 and 2: even
  EXPECT_EQ(encode(2.5f * tiny), 0x02);                         // tie between 2 and 3: even
  EXPECT_EQ(encode(std::numeric_limits<float>::denorm_min()), 0x00);
  EXPECT_EQ(encode(-std::numeric_limits<float>::denorm_min()), negate(0));
}

TEST_P(Fp8Codec, EncodesSignedZero) {
  EXPECT_EQ(encode(0.0f), 0x00);
  EXPECT_EQ(encode(-0.0f), negate(0));  // FNUZ: +0, OCP: -0 (0x80)
  EXPECT_EQ(f32_bits(decode(0x00)), 0u);
  if (!c().fnuz) {
    EXPECT_EQ(f32_bits(decode(0x80)), 0x80000000u);
  }
}

TEST_P(Fp8Codec, DecodeIsStrictlyIncreasingOverThePositiveCodesAndOddInSign) {
  for (int p = 0; p < c().max_code; ++p)
    EXPECT_LT(decode(static_cast<uint8_t>(p)), decode(static_cast<uint8_t>(p + 1))) << hex(p);
  for (int p = 1; p <= c().max_code; ++p)
    EXPECT_EQ(decode(static_cast<uint8_t>(p | 0x80)), -decode(static_cast<uint8_t>(p))) << hex(p);
}

INSTANTIATE_TEST_SUITE_P(Variants, Fp8Codec, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Fp8Case>& info) { return info.param.name; });

}  // namespace
}  // namespace dsbench
