// The optimised CPU FP8 GEMMs against the FP64 reference: shapes with M/N tails and several K
// steps, every FP8 variant, UE8M0 scales, contiguous groups with padding and uneven runs, masked
// groups, the portable fallback, and argument checking.
#include "kernels/cpu/gemm_fp8_cpu.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "dsbench/numerics/bf16.hpp"
#include "dsbench/numerics/fp8.hpp"
#include "kernels/cpu/gemm_fp8_cpu_microkernel.hpp"
#include "reference/gemm_fp8_reference.hpp"
#include "reference/quantize.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace dsbench::cpu {
namespace {

constexpr uint16_t kSentinel = 0xdead;  // a BF16 no kernel produces from these inputs

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

struct Operands {
  std::vector<uint8_t> q, scales;  // codes, and scales stored as scale_dtype
};

// Uniform [-1, 1) quantised with the DeepSeek recipe: per row per 128 columns (activations) or per
// 128x128 block (weights), `batches` independent matrices stacked.
Operands make_operand(int64_t batches, int64_t rows, int64_t cols, bool weight, dsb_dtype fp8,
                      dsb_dtype scale_dtype, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  const ref::QuantRecipe recipe{fp8, scale_dtype == DSB_DTYPE_UE8M0};
  const int64_t scale_rows = weight ? ceil_div(rows, 128) : rows, per = scale_rows * ceil_div(cols, 128);
  const size_t sbytes = scale_dtype == DSB_DTYPE_UE8M0 ? 1 : 4;
  Operands o{std::vector<uint8_t>(batches * rows * cols), std::vector<uint8_t>(batches * per * sbytes)};
  std::vector<float> x(rows * cols), s(per);
  for (int64_t g = 0; g < batches; ++g) {
    for (float& v : x) v = dist(gen);
    uint8_t* q = o.q.data() + g * rows * cols;
    if (weight) ref::quantize_128x128(x.data(), rows, cols, recipe, q, s.data());
    else ref::quantize_1x128(x.data(), rows, cols, recipe, q, s.data());
    ref::store_scales(s.data(), per, scale_dtype, o.scales.data() + g * per * sbytes);
  }
  return o;
}

// The contract's metric: each element within 1e-3 absolute or 2.01/256 relative of the reference,
// and 1 - cos similarity of the whole output <= 1e-5. `checked` masks rows that hold results;
// other rows must still hold the sentinel.
void expect_matches(const std::vector<uint16_t>& d, const std::vector<uint16_t>& r, int64_t n,
                    const std::vector<bool>& checked, const std::string& what) {
  double xy = 0, xx_yy = 0;
  int64_t bad = 0, untouched_bad = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    if (!checked[i / n]) {
      untouched_bad += d[i] != kSentinel;
      continue;
    }
    const double x = bf16_to_f32(d[i]), y = bf16_to_f32(r[i]);
    xy += x * y, xx_yy += x * x + y * y;
    const double err = std::fabs(x - y);
    if (!(err <= 1e-3 || err / (std::fabs(y) + 1e-6) <= 2.01 / 256)) {
      if (++bad <= 5) ADD_FAILURE() << what << ": element " << i << " got " << x << " want " << y;
    }
  }
  EXPECT_EQ(bad, 0) << what;
  EXPECT_EQ(untouched_bad, 0) << what << ": rows that must not be written were";
  if (xx_yy > 0) {
    EXPECT_LE(1.0 - 2.0 * xy / xx_yy, 1e-5) << what;
  }
}

struct DenseCase {
  int64_t m, n, k;
  dsb_dtype ab = DSB_DTYPE_E4M3FN, sc = DSB_DTYPE_F32;
};

const char* short_name(dsb_dtype t) {
  switch (t) {
    case DSB_DTYPE_E4M3FN: return "e4m3fn";
    case DSB_DTYPE_E5M2: return "e5m2";
    case DSB_DTYPE_E4M3FNUZ: return "e4m3fnuz";
    case DSB_DTYPE_E5M2FNUZ: return "e5m2fnuz";
    case DSB_DTYPE_UE8M0: return "ue8m0";
    default: return "f32";
  }
}

std::string name_of(const DenseCase& c) {
  return "m" + std::to_string(c.m) + " n" + std::to_string(c.n) + " k" + std::to_string(c.k) + " " +
         short_name(c.ab) + "/" + short_name(c.sc);
}

void check_dense(const DenseCase& c, uint32_t seed) {
  const Operands a = make_operand(1, c.m, c.k, false, c.ab, c.sc, seed);
  const Operands b = make_operand(1, c.n, c.k, true, c.ab, c.sc, seed + 1);
  std::vector<uint16_t> d(c.m * c.n, kSentinel), r(c.m * c.n, kSentinel);
  dsb_gemm_fp8_blockscaled_params p{c.m, c.n, c.k, c.ab, c.sc, a.q.data(), a.scales.data(),
                                    b.q.data(), b.scales.data(), d.data()};
  ASSERT_EQ(gemm_fp8_blockscaled_optimized(p), DSB_STATUS_OK) << name_of(c);
  p.d = r.data();
  ref::gemm_fp8_blockscaled(p);
  expect_matches(d, r, c.n, std::vector<bool>(c.m, true), name_of(c));
}

TEST(CpuGemmFp8Optimized, DenseMatchesReferenceWithTails) {
  uint32_t seed = 1;
  for (int64_t m : {1, 3, 127, 129})
    for (int64_t n : {64, 100, 257})
      for (int64_t k : {128, 384}) check_dense({m, n, k}, seed++);
}

TEST(CpuGemmFp8Optimized, DenseMatchesReferenceOnLongK) {
  check_dense({1, 257, 7168}, 101);
  check_dense({3, 100, 7168}, 102);
  check_dense({2, 64, 18432}, 103);
  check_dense({200, 300, 512}, 104);   // several row and column tiles
  check_dense({129, 257, 1024}, 105);  // blocked (non-resident A) path, FP32 carried across K steps
}

// One thread makes the planner keep its largest tiles: 200-row tiles hold two A blocks (192 + 8),
// and K = 768 is too long to keep A resident, so this covers the blocked path end to end.
TEST(CpuGemmFp8Optimized, MaskedWithLargeTilesOnOneThread) {
#if defined(_OPENMP)
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
#endif
  const int32_t groups = 8;
  const int64_t m_max = 200, n = 64, k = 768;
  const std::vector<int32_t> masked(groups, 200);
  const Operands a = make_operand(groups, m_max, k, false, DSB_DTYPE_E4M3FN, DSB_DTYPE_UE8M0, 600);
  const Operands b = make_operand(groups, n, k, true, DSB_DTYPE_E4M3FN, DSB_DTYPE_UE8M0, 601);
  std::vector<uint16_t> d(groups * m_max * n, kSentinel), r(d);
  dsb_gemm_fp8_grouped_masked_params p{groups, m_max, n, k, 0, DSB_DTYPE_E4M3FN, DSB_DTYPE_UE8M0, a.q.data(),
                                       a.scales.data(), b.q.data(), b.scales.data(), masked.data(), d.data()};
  const dsb_status st = gemm_fp8_grouped_masked_optimized(p);
#if defined(_OPENMP)
  omp_set_num_threads(saved);
#endif
  ASSERT_EQ(st, DSB_STATUS_OK);
  p.d = r.data();
  ref::gemm_fp8_grouped_masked(p);
  expect_matches(d, r, n, std::vector<bool>(groups * m_max, true), "masked, large tiles");
}

TEST(CpuGemmFp8Optimized, DenseMatchesReferenceForEveryFp8VariantAndUe8m0) {
  uint32_t seed = 200;
  for (dsb_dtype ab : {DSB_DTYPE_E4M3FN, DSB_DTYPE_E5M2, DSB_DTYPE_E4M3FNUZ, DSB_DTYPE_E5M2FNUZ})
    for (dsb_dtype sc : {DSB_DTYPE_F32, DSB_DTYPE_UE8M0}) check_dense({37, 129, 384, ab, sc}, seed++);
}

TEST(CpuGemmFp8Optimized, PortableFallbackMatchesReference) {
  gemm_detail::force_gemm_kernels(&gemm_detail::gemm_kernels_portable());
  check_dense({13, 100, 384}, 300);
  check_dense({1, 100, 384}, 302);  // the few-row (dot) path
  check_dense({2, 33, 256, DSB_DTYPE_E4M3FNUZ, DSB_DTYPE_F32}, 303);
  check_dense({7, 33, 256, DSB_DTYPE_E5M2, DSB_DTYPE_UE8M0}, 301);
  gemm_detail::force_gemm_kernels(nullptr);
}

// Same bits, except that any NaN matches any NaN (sign and payload of NaN carry no meaning here).
bool same_value(float x, float y) { return std::isnan(x) ? std::isnan(y) : f32_bits(x) == f32_bits(y); }

// The table-free SIMD decode must give the same bits as the table for every code, including NaN,
// E5M2 infinities, FNUZ's 0x80, subnormals, and a scale large enough to need two multiplies.
TEST(CpuGemmFp8Optimized, SimdPackingIsBitExactForEveryCode) {
  const auto& fast = gemm_detail::gemm_kernels();
  const auto& portable = gemm_detail::gemm_kernels_portable();
  if (std::string(fast.name) == portable.name) GTEST_SKIP() << "no SIMD path on this CPU";
  constexpr int kc = 256;
  std::vector<uint8_t> codes(2 * kc);
  for (int i = 0; i < 2 * kc; ++i) codes[i] = static_cast<uint8_t>(i * 37 + i / 256);  // all 256, twice
  for (dsb_dtype ab : {DSB_DTYPE_E4M3FN, DSB_DTYPE_E5M2, DSB_DTYPE_E4M3FNUZ, DSB_DTYPE_E5M2FNUZ})
    for (float s : {1.0f, 0.0009765625f, 3.3e-4f, 7.5e8f, 1e-40f}) {
      const float sa[4] = {s, s * 3, s, s};
      std::vector<float> x(2 * gemm_detail::kAStride), y(x.size());
      fast.pack_a(codes.data(), kc, sa, 2, ab, DSB_DTYPE_F32, 2, kc, x.data());
      portable.pack_a(codes.data(), kc, sa, 2, ab, DSB_DTYPE_F32, 2, kc, y.data());
      for (int r = 0; r < 2; ++r)
        for (int k = 0; k < kc; ++k) {
          const size_t i = r * gemm_detail::kAStride + k;
          ASSERT_TRUE(same_value(x[i], y[i]))
              << x[i] << " vs " << y[i] << ": A code " << int(codes[r * kc + k]) << " scale " << s;
        }
      alignas(64) float bx[kc * gemm_detail::kNr], by[kc * gemm_detail::kNr];
      for (int rows : {16, 5}) {  // 16 codes apart per row so each strip sees all codes
        fast.pack_b(codes.data(), 16, sa, ab, DSB_DTYPE_F32, rows, kc, bx);
        portable.pack_b(codes.data(), 16, sa, ab, DSB_DTYPE_F32, rows, kc, by);
        for (int i = 0; i < kc * gemm_detail::kNr; ++i) ASSERT_TRUE(same_value(bx[i], by[i])) << i;
      }
    }
}

TEST(CpuGemmFp8Optimized, ContiguousSkipsPaddingAndHandlesUnevenRuns) {
  const int32_t groups = 3;
  const int64_t n = 100, k = 256;
  // (group, rows) runs: unaligned lengths, back-to-back groups, a group appearing twice.
  const std::vector<std::pair<int32_t, int64_t>> runs = {{0, 5}, {-1, 3}, {2, 130}, {1, 1}, {-1, 2},
                                                         {0, 70}, {1, 64}, {-1, 128}};
  std::vector<int32_t> idx;
  for (auto [g, len] : runs) idx.insert(idx.end(), len, g);
  const int64_t m = static_cast<int64_t>(idx.size());
  for (dsb_dtype sc : {DSB_DTYPE_F32, DSB_DTYPE_UE8M0}) {
    const Operands a = make_operand(1, m, k, false, DSB_DTYPE_E4M3FN, sc, 400);
    const Operands b = make_operand(groups, n, k, true, DSB_DTYPE_E4M3FN, sc, 401);
    std::vector<uint16_t> d(m * n, kSentinel), r(m * n, kSentinel);
    dsb_gemm_fp8_grouped_contiguous_params p{m, n, k, groups, DSB_DTYPE_E4M3FN, sc, a.q.data(),
                                             a.scales.data(), b.q.data(), b.scales.data(), idx.data(), d.data()};
    ASSERT_EQ(gemm_fp8_grouped_contiguous_optimized(p), DSB_STATUS_OK);
    p.d = r.data();
    ref::gemm_fp8_grouped_contiguous(p);
    std::vector<bool> checked(m);
    for (int64_t i = 0; i < m; ++i) checked[i] = idx[i] >= 0;
    expect_matches(d, r, n, checked, "contiguous");
  }
}

TEST(CpuGemmFp8Optimized, MaskedComputesOnlyValidRows) {
  const int32_t groups = 4;
  const int64_t m_max = 20, n = 257, k = 384;
  const std::vector<int32_t> masked = {0, 7, 20, 1};
  const Operands a = make_operand(groups, m_max, k, false, DSB_DTYPE_E4M3FNUZ, DSB_DTYPE_F32, 500);
  const Operands b = make_operand(groups, n, k, true, DSB_DTYPE_E4M3FNUZ, DSB_DTYPE_F32, 501);
  std::vector<uint16_t> d(groups * m_max * n, kSentinel), r(d);
  dsb_gemm_fp8_grouped_masked_params p{groups, m_max, n, k, 8, DSB_DTYPE_E4M3FNUZ, DSB_DTYPE_F32, a.q.data(),
                                       a.scales.data(), b.q.data(), b.scales.data(), masked.data(), d.data()};
  ASSERT_EQ(gemm_fp8_grouped_masked_optimized(p), DSB_STATUS_OK);
  p.d = r.data();
  ref::gemm_fp8_grouped_masked(p);
  std::vector<bool> checked(groups * m_max);
  for (int64_t i = 0; i < groups * m_max; ++i) checked[i] = i % m_max < masked[i / m_max];
  expect_matches(d, r, n, checked, "masked");
}

TEST(CpuGemmFp8Optimized, RejectsInvalidArguments) {
  uint8_t q[256] = {};
  float s[4] = {1, 1, 1, 1};
  uint16_t d[4] = {};
  const dsb_gemm_fp8_blockscaled_params ok{2, 2, 128, DSB_DTYPE_E4M3FN, DSB_DTYPE_F32, q, s, q, s, d};
  EXPECT_EQ(gemm_fp8_blockscaled_optimized(ok), DSB_STATUS_OK);
  auto p = ok;
  p.k = 100;
  EXPECT_EQ(gemm_fp8_blockscaled_optimized(p), DSB_STATUS_INVALID_ARGUMENT);
  p = ok, p.m = -1;
  EXPECT_EQ(gemm_fp8_blockscaled_optimized(p), DSB_STATUS_INVALID_ARGUMENT);
  p = ok, p.a = nullptr;
  EXPECT_EQ(gemm_fp8_blockscaled_optimized(p), DSB_STATUS_INVALID_ARGUMENT);
  p = ok, p.scale_b = nullptr;
  EXPECT_EQ(gemm_fp8_blockscaled_optimized(p), DSB_STATUS_INVALID_ARGUMENT);
  p = ok, p.d = nullptr;
  EXPECT_EQ(gemm_fp8_blockscaled_optimized(p), DSB_STATUS_INVALID_ARGUMENT);
  p = ok, p.ab_dtype = DSB_DTYPE_BF16;
  EXPECT_EQ(gemm_fp8_blockscaled_optimized(p), DSB_STATUS_INVALID_ARGUMENT);
  p = ok, p.scale_dtype = DSB_DTYPE_E4M3FN;
  EXPECT_EQ(gemm_fp8_blockscaled_optimized(p), DSB_STATUS_INVALID_ARGUMENT);

  int32_t idx[2] = {0, 1};
  dsb_gemm_fp8_grouped_contiguous_params c{2, 2, 128, 1, DSB_DTYPE_E4M3FN, DSB_DTYPE_F32, q, s, q, s, idx, d};
  EXPECT_EQ(gemm_fp8_grouped_contiguous_optimized(c), DSB_STATUS_INVALID_ARGUMENT);  // group 1 of 1
  idx[1] = -2;
  EXPECT_EQ(gemm_fp8_grouped_contiguous_optimized(c), DSB_STATUS_INVALID_ARGUMENT);
  idx[1] = -1;
  EXPECT_EQ(gemm_fp8_grouped_contiguous_optimized(c), DSB_STATUS_OK);
  c.m_indices = nullptr;
  EXPECT_EQ(gemm_fp8_grouped_contiguous_optimized(c), DSB_STATUS_INVALID_ARGUMENT);

  int32_t mm[1] = {3};
  dsb_gemm_fp8_grouped_masked_params k{1, 2, 2, 128, 0, DSB_DTYPE_E4M3FN, DSB_DTYPE_F32, q, s, q, s, mm, d};
  EXPECT_EQ(gemm_fp8_grouped_masked_optimized(k), DSB_STATUS_INVALID_ARGUMENT);  // masked_m > m_max
  mm[0] = 2;
  EXPECT_EQ(gemm_fp8_grouped_masked_optimized(k), DSB_STATUS_OK);
  k.k = 64;
  EXPECT_EQ(gemm_fp8_grouped_masked_optimized(k), DSB_STATUS_INVALID_ARGUMENT);
}

TEST(CpuGemmFp8Optimized, EmptyKWritesZeros) {
  uint16_t d[6] = {kSentinel, kSentinel, kSentinel, kSentinel, kSentinel, kSentinel};
  const dsb_gemm_fp8_blockscaled_params p{2, 3, 0, DSB_DTYPE_E4M3FN, DSB_DTYPE_F32, nullptr, nullptr,
                                          nullptr, nullptr, d};
  ASSERT_EQ(gemm_fp8_blockscaled_optimized(p), DSB_STATUS_OK);
  for (uint16_t v : d) EXPECT_EQ(v, 0);
}

}  // namespace
}  // namespace dsbench::cpu
