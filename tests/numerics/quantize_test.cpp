// Tests of the DeepSeek-V3 quantisation recipes (reference/quantize.hpp): hand-computed cases, the
// amax floor, the half-ulp dequantisation bound, UE8M0 scales, tail blocks and scale storage.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "dsbench/numerics/fp8.hpp"
#include "reference/quantize.hpp"

namespace dsbench::ref {
namespace {

constexpr int64_t kBlock = 128;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

bool is_pow2(float s) {
  int e;
  return s > 0 && std::frexp(s, &e) == 0.5f;
}

// Spacing of the FP8 grid around a code: the larger of the gaps to its neighbours.
double fp8_gap(uint8_t code, const Fp8Format& f) {
  const int p = code & 0x7f;
  double gap = 0;
  if (p < f.max_code) gap = std::max(gap, double(fp8_decode(p + 1, f)) - fp8_decode(p, f));
  if (p > 0) gap = std::max(gap, double(fp8_decode(p, f)) - fp8_decode(p - 1, f));
  return gap;
}

// Random data whose magnitude varies over many binades, so that every block sees small, large and
// FP8-subnormal values relative to its scale.
std::vector<float> random_data(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::uniform_int_distribution<int> e(-24, 6);
  std::vector<float> x(n);
  for (auto& v : x) v = std::ldexp(u(rng), e(rng));
  return x;
}

struct RecipeCase {
  dsb_dtype fp8;
  bool ue8m0;
  const char* name;
  int ue8m0_floor_exp;  // the all-zero block's UE8M0 scale: the next power of two >= 1e-4 / max
};
void PrintTo(const RecipeCase& c, std::ostream* os) { *os << c.name; }

const RecipeCase kRecipes[] = {
    // 1e-4/448 = 2.2e-7 -> 2^-22; 1e-4/57344 = 1.7e-9 -> 2^-29; 1e-4/240 = 4.2e-7 -> 2^-21.
    {DSB_DTYPE_E4M3FN, false, "E4m3fn", -22},     {DSB_DTYPE_E4M3FN, true, "E4m3fnUe8m0", -22},
    {DSB_DTYPE_E5M2, false, "E5m2", -29},         {DSB_DTYPE_E5M2, true, "E5m2Ue8m0", -29},
    {DSB_DTYPE_E4M3FNUZ, false, "E4m3fnuz", -21}, {DSB_DTYPE_E4M3FNUZ, true, "E4m3fnuzUe8m0", -21},
    {DSB_DTYPE_E5M2FNUZ, false, "E5m2fnuz", -29}, {DSB_DTYPE_E5M2FNUZ, true, "E5m2fnuzUe8m0", -29},
};

class QuantizeRecipe : public ::testing::TestWithParam<RecipeCase> {
 protected:
  QuantRecipe recipe() const { return QuantRecipe{GetParam().fp8, GetParam().ue8m0}; }
  Fp8Format fmt() const { return fp8_format(GetParam().fp8); }

  // Checks every element of q against x for the block scale s: within half an FP8 ulp (times s) of
  // the input, plus one float32 rounding of x / s; with UE8M0 scales nothing reaches beyond max.
  void check_elements(const std::vector<float>& x, const std::vector<uint8_t>& q, int64_t cols,
                      const std::vector<float>& scales, int64_t scale_cols, int64_t row_block) {
    int bad = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const int64_t r = static_cast<int64_t>(i) / cols, c = static_cast<int64_t>(i) % cols;
      const double s = scales[(r / row_block) * scale_cols + c / kBlock];
      const double v = fp8_decode(q[i], fmt());
      const double err = std::fabs(v * s - x[i]);
      const double bound = 0.5 * fp8_gap(q[i], fmt()) * s + std::ldexp(std::fabs(x[i]), -23);
      if ((std::isnan(v) || err > bound) && ++bad <= 10)
        ADD_FAILURE() << "x[" << r << "," << c << "]=" << x[i] << " scale " << s << " code "
                      << +q[i] << " -> " << v * s << ", error " << err << " > " << bound;
      if (GetParam().ue8m0) {
        EXPECT_LE(std::fabs(x[i]) / s, fmt().max_value) << "saturates";
      }
    }
    EXPECT_EQ(bad, 0);
  }
};

TEST_P(QuantizeRecipe, Quantize1x128DequantisesWithinHalfAnUlpOfTheInput) {
  const int64_t rows = 5, cols = 300;  // 128 + 128 + 44 columns
  const auto x = random_data(rows * cols, 11);
  std::vector<uint8_t> q(x.size());
  std::vector<float> scales(rows * ceil_div(cols, kBlock));
  quantize_1x128(x.data(), rows, cols, recipe(), q.data(), scales.data());
  check_elements(x, q, cols, scales, ceil_div(cols, kBlock), 1);
}

TEST_P(QuantizeRecipe, Quantize128x128DequantisesWithinHalfAnUlpOfTheInput) {
  const int64_t rows = 200, cols = 300;
  const auto x = random_data(rows * cols, 12);
  std::vector<uint8_t> q(x.size());
  std::vector<float> scales(ceil_div(rows, kBlock) * ceil_div(cols, kBlock));
  quantize_128x128(x.data(), rows, cols, recipe(), q.data(), scales.data());
  check_elements(x, q, cols, scales, ceil_div(cols, kBlock), kBlock);
}

TEST_P(QuantizeRecipe, ScaleIsAmaxOverTheFormatMaxOrTheNextPowerOfTwo) {
  std::mt19937 rng(13);
  std::uniform_real_distribution<float> mant(0.5f, 1.0f);
  std::uniform_int_distribution<int> ex(-30, 30);
  for (int i = 0; i < 20000; ++i) {
    const float amax = std::ldexp(mant(rng), ex(rng));
    const float plain = std::max(amax, kAmaxFloor) / fmt().max_value;  // below 1e-4: the floor
    const float s = block_scale(amax, recipe());
    if (!GetParam().ue8m0) {
      ASSERT_EQ(s, plain) << amax;
    } else {
      ASSERT_TRUE(is_pow2(s)) << s;
      ASSERT_GE(s, plain) << amax;
      ASSERT_LT(s, 2 * plain) << amax;
      ASSERT_LE(static_cast<double>(amax) / s, fmt().max_value) << "amax " << amax << " saturates";
    }
  }
}

TEST_P(QuantizeRecipe, GivesAnAllZeroBlockTheFloorScaleAndZeroCodes) {
  const int e = GetParam().ue8m0_floor_exp;
  const float floor_scale = GetParam().ue8m0 ? std::ldexp(1.0f, e) : 1e-4f / fmt().max_value;
  ASSERT_GE(std::ldexp(1.0f, e), 1e-4f / fmt().max_value);
  ASSERT_LT(std::ldexp(1.0f, e - 1), 1e-4f / fmt().max_value);
  const int64_t rows = 130, cols = 130;
  std::vector<float> x(rows * cols, 0.0f);
  std::vector<uint8_t> q(x.size(), 0xaa);
  std::vector<float> s1(rows * 2, -1.0f), s2(4, -1.0f);
  quantize_1x128(x.data(), rows, cols, recipe(), q.data(), s1.data());
  for (float s : s1) EXPECT_EQ(s, floor_scale);
  for (uint8_t c : q) ASSERT_EQ(c, 0);
  std::fill(q.begin(), q.end(), 0xaa);
  quantize_128x128(x.data(), rows, cols, recipe(), q.data(), s2.data());
  for (float s : s2) EXPECT_EQ(s, floor_scale);
  for (uint8_t c : q) ASSERT_EQ(c, 0);
}

INSTANTIATE_TEST_SUITE_P(Recipes, QuantizeRecipe, ::testing::ValuesIn(kRecipes),
                         [](const ::testing::TestParamInfo<RecipeCase>& i) { return i.param.name; });

// amax 56 gives the exact scale 56/448 = 1/8, so x/scale = 8x is exact and the codes are known.
TEST(Quantize1x128, ProducesTheHandComputedScaleAndCodes) {
  std::vector<float> x(kBlock, 0.0f);
  const float in[] = {56.0f, -56.0f, 0.125f, 0.0f, 0.3125f, 1.0625f, 1.09375f, -0.015625f,
                      std::ldexp(1.0f, -12), std::ldexp(1.0f, -13), -std::ldexp(1.0f, -13)};
  // 448, -448, 1, 0, 2.5, 8.5 (tie -> 8), 8.75 (-> 9), -0.125, 2^-9 (min subnormal),
  // 2^-10 (tie -> 0), -2^-10 (tie -> -0)
  const uint8_t want[] = {0x7e, 0xfe, 0x38, 0x00, 0x42, 0x50, 0x51, 0xa0, 0x01, 0x00, 0x80};
  std::copy(std::begin(in), std::end(in), x.begin());
  std::vector<uint8_t> q(kBlock, 0xaa);
  float s = 0;
  quantize_1x128(x.data(), 1, kBlock, QuantRecipe{}, q.data(), &s);
  EXPECT_EQ(s, 0.125f);
  for (size_t i = 0; i < std::size(want); ++i) EXPECT_EQ(q[i], want[i]) << "element " << i;
  for (size_t i = std::size(want); i < q.size(); ++i) EXPECT_EQ(q[i], 0) << "element " << i;
}

TEST(Quantize1x128, MapsTheAmaxElementToTheLargestCodeInEveryFormat) {
  const dsb_dtype types[] = {DSB_DTYPE_E4M3FN, DSB_DTYPE_E5M2, DSB_DTYPE_E4M3FNUZ, DSB_DTYPE_E5M2FNUZ};
  for (dsb_dtype t : types) {
    const Fp8Format& f = fp8_format(t);
    std::vector<float> x(kBlock, 0.25f);
    x[17] = -3.0f;  // amax
    std::vector<uint8_t> q(kBlock);
    float s;
    quantize_1x128(x.data(), 1, kBlock, QuantRecipe{t, false}, q.data(), &s);
    EXPECT_EQ(s, 3.0f / f.max_value) << "dtype " << t;
    EXPECT_EQ(q[17], f.max_code | 0x80) << "dtype " << t;
  }
}

TEST(Quantize1x128, DividesAmaxBy448ForE4m3fn) {
  std::vector<float> x(kBlock, 0.0f);
  x[0] = 3.0f;
  x[1] = -3.0f;
  x[2] = 1.5f;  // 1.5 / (3/448) = 224 = 0x76
  std::vector<uint8_t> q(kBlock);
  float s = 0;
  quantize_1x128(x.data(), 1, kBlock, QuantRecipe{}, q.data(), &s);
  EXPECT_EQ(f32_bits(s), f32_bits(3.0f / 448.0f));
  EXPECT_EQ(q[0], 0x7e);
  EXPECT_EQ(q[1], 0xfe);
  EXPECT_EQ(q[2], 0x76);
}

TEST(Quantize1x128, DividesAmaxBy240ForE4m3fnuz) {
  std::vector<float> x(kBlock, 0.0f);
  x[0] = 3.0f;
  x[1] = -3.0f;
  x[2] = 1.5f;  // 1.5 / (3/240) = 120 = 1.875 * 2^6 -> 0x77
  x[3] = -0.0f;  // no negative zero in FNUZ
  std::vector<uint8_t> q(kBlock);
  float s = 0;
  quantize_1x128(x.data(), 1, kBlock, QuantRecipe{DSB_DTYPE_E4M3FNUZ, false}, q.data(), &s);
  EXPECT_EQ(f32_bits(s), f32_bits(3.0f / 240.0f));
  EXPECT_EQ(q[0], 0x7f);
  EXPECT_EQ(q[1], 0xff);
  EXPECT_EQ(q[2], 0x77);
  EXPECT_EQ(q[3], 0x00);
}

TEST(Quantize1x128, GivesTheShortLastChunkItsOwnScale) {
  const int64_t rows = 3, cols = 300;  // chunks of 128, 128, 44
  std::vector<float> x(rows * cols);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) x[r * cols + c] = 0.001f * static_cast<float>(1 + (c % 7));
  x[1 * cols + 299] = 10.0f;   // the last column of row 1
  x[2 * cols + 255] = -20.0f;  // the last column of row 2's middle chunk
  std::vector<uint8_t> q(x.size());
  std::vector<float> s(rows * 3);
  quantize_1x128(x.data(), rows, cols, QuantRecipe{}, q.data(), s.data());
  const float small = 0.007f / 448.0f;
  const float want[] = {small, small, small, small, small, 10.0f / 448.0f,
                        small, 20.0f / 448.0f, small};
  for (int i = 0; i < 9; ++i) EXPECT_EQ(s[i], want[i]) << "scale " << i;
  EXPECT_EQ(q[1 * cols + 299], 0x7e);
  EXPECT_EQ(q[2 * cols + 255], 0xfe);
}

// 200 x 300 in 128x128 blocks: a 2 x 3 scale grid with a 72-row and a 44-column tail. Each block
// gets its own magnitude, so a block mixed up with a neighbour shows in its scale.
TEST(Quantize128x128, HandlesTailBlocksOnANonMultipleShape) {
  const int64_t rows = 200, cols = 300, rb = 2, cb = 3;
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> w(rows * cols);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      w[r * cols + c] = std::ldexp(u(rng), static_cast<int>(4 * ((r / kBlock) * cb + c / kBlock)));
  std::vector<float> want(rb * cb, 0.0f);  // block amax, computed here
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      float& a = want[(r / kBlock) * cb + c / kBlock];
      a = std::max(a, std::fabs(w[r * cols + c]));
    }
  std::vector<uint8_t> q(w.size());
  std::vector<float> s(rb * cb);
  quantize_128x128(w.data(), rows, cols, QuantRecipe{}, q.data(), s.data());
  for (int64_t b = 0; b < rb * cb; ++b) EXPECT_EQ(s[b], want[b] / 448.0f) << "block " << b;
  const Fp8Format& f = fp8_format(DSB_DTYPE_E4M3FN);
  int bad = 0;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const double sc = s[(r / kBlock) * cb + c / kBlock], x = w[r * cols + c];
      const uint8_t code = q[r * cols + c];
      const double err = std::fabs(fp8_decode(code, f) * sc - x);
      if (err > 0.5 * fp8_gap(code, f) * sc + std::ldexp(std::fabs(x), -23)) ++bad;
    }
  EXPECT_EQ(bad, 0);
}

TEST(StoreScales, Ue8m0RoundTripsTheUe8m0RecipesScales) {
  const int64_t rows = 4, cols = 512;
  auto x = random_data(rows * cols, 21);
  for (int64_t r = 0; r < rows; ++r) x[r * cols] = std::ldexp(1.0f, static_cast<int>(20 * r - 30));
  std::vector<uint8_t> q(x.size());
  std::vector<float> s(rows * 4);
  quantize_1x128(x.data(), rows, cols, QuantRecipe{DSB_DTYPE_E4M3FN, true}, q.data(), s.data());
  std::vector<uint8_t> bytes(s.size(), 0xff);
  store_scales(s.data(), static_cast<int64_t>(s.size()), DSB_DTYPE_UE8M0, bytes.data());
  for (size_t i = 0; i < s.size(); ++i) {
    ASSERT_TRUE(is_pow2(s[i])) << s[i];
    EXPECT_EQ(scale_value(bytes.data(), static_cast<int64_t>(i), DSB_DTYPE_UE8M0), s[i]) << i;
    int e;
    std::frexp(s[i], &e);
    EXPECT_EQ(bytes[i], e - 1 + 127) << i;
  }
}

TEST(StoreScales, F32CopiesTheScalesBitForBit) {
  const float s[] = {3.0f / 448.0f, 1e-4f / 448.0f, 0.125f, 1e30f};
  float out[4] = {};
  store_scales(s, 4, DSB_DTYPE_F32, out);
  EXPECT_EQ(std::memcmp(s, out, sizeof s), 0);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(scale_value(out, i, DSB_DTYPE_F32), s[i]);
}

}  // namespace
}  // namespace dsbench::ref
