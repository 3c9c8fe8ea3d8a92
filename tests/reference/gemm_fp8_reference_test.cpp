// The FP64 GEMM oracle against independent facts: hand-computed cases, exact power-of-two scales,
// group routing of the grouped variants, single rounding to BF16. Never against itself.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "dsbench/numerics/bf16.hpp"
#include "dsbench/numerics/fp8.hpp"
#include "reference/gemm_fp8_reference.hpp"

namespace dsbench {
namespace {

uint8_t e4(float v) { return fp8_encode(v, DSB_DTYPE_E4M3FN); }
float out(const std::vector<uint16_t>& d, size_t i) { return bf16_to_f32(d[i]); }

TEST(GemmFp8Reference, ComputesAHandWorkedTwoByTwoProduct) {
  // A = [[1, 2, 0...], [3, -1, 0...]], B = [[1, 1, 0...], [0.5, -2, 0...]] (k = 128), unit scales.
  std::vector<uint8_t> a(2 * 128, e4(0)), b(2 * 128, e4(0));
  a[0] = e4(1); a[1] = e4(2); a[128] = e4(3); a[129] = e4(-1);
  b[0] = e4(1); b[1] = e4(1); b[128] = e4(0.5f); b[129] = e4(-2);
  std::vector<float> sa{1, 1}, sb{1};
  std::vector<uint16_t> d(4, 0xffff);
  dsb_gemm_fp8_blockscaled_params p{2, 2, 128, DSB_DTYPE_E4M3FN, DSB_DTYPE_F32, a.data(), sa.data(), b.data(), sb.data(), d.data()};
  ref::gemm_fp8_blockscaled(p);
  EXPECT_EQ(out(d, 0), 3.0f);    // 1*1 + 2*1
  EXPECT_EQ(out(d, 1), -3.5f);   // 1*0.5 + 2*-2
  EXPECT_EQ(out(d, 2), 2.0f);    // 3*1 + -1*1
  EXPECT_EQ(out(d, 3), 3.5f);    // 3*0.5 + -1*-2
}

TEST(GemmFp8Reference, AppliesEachKBlockScaleToItsOwnBlock) {
  // k = 256: every element 1; A's scales 2 and 4 per K-block, B's scales 8 and 0.5.
  std::vector<uint8_t> a(256, e4(1)), b(256, e4(1));
  std::vector<float> sa{2, 4}, sb{8, 0.5f};
  std::vector<uint16_t> d(1);
  dsb_gemm_fp8_blockscaled_params p{1, 1, 256, DSB_DTYPE_E4M3FN, DSB_DTYPE_F32, a.data(), sa.data(), b.data(), sb.data(), d.data()};
  ref::gemm_fp8_blockscaled(p);
  EXPECT_EQ(out(d, 0), 128 * (2.0f * 8) + 128 * (4.0f * 0.5f));  // 2304, exact in BF16
}

TEST(GemmFp8Reference, UsesTheScaleRowOfEach128RowBlockOfB) {
  // n = 130: column 129 lives in the second 128-row block of B, whose scale is 3.
  const int64_t n = 130, k = 128;
  std::vector<uint8_t> a(k, e4(1)), b(n * k, e4(1));
  std::vector<float> sa{1}, sb{1, 3};
  std::vector<uint16_t> d(n);
  dsb_gemm_fp8_blockscaled_params p{1, n, k, DSB_DTYPE_E4M3FN, DSB_DTYPE_F32, a.data(), sa.data(), b.data(), sb.data(), d.data()};
  ref::gemm_fp8_blockscaled(p);
  EXPECT_EQ(out(d, 0), 128.0f);
  EXPECT_EQ(out(d, 127), 128.0f);
  EXPECT_EQ(out(d, 128), 384.0f);
  EXPECT_EQ(out(d, 129), 384.0f);
}

TEST(GemmFp8Reference, ReadsUe8m0ScalesAsPowersOfTwo) {
  std::vector<uint8_t> a(128, e4(1)), b(128, e4(1));
  std::vector<uint8_t> sa{127 + 3}, sb{127 - 1};  // 8 and 0.5
  std::vector<uint16_t> d(1);
  dsb_gemm_fp8_blockscaled_params p{1, 1, 128, DSB_DTYPE_E4M3FN, DSB_DTYPE_UE8M0, a.data(), sa.data(), b.data(), sb.data(), d.data()};
  ref::gemm_fp8_blockscaled(p);
  EXPECT_EQ(out(d, 0), 128.0f * 4.0f);
}

TEST(GemmFp8Reference, RoundsTheFp64SumOnceToBf16) {
  // Exact sum 1 + 2^-8 + 2^-30: just above the BF16 midpoint between 1 and 1 + 2^-7, so it rounds
  // up. Through FP32 first it would become exactly the midpoint (2^-30 is below FP32's spacing at
  // 1) and then round to even, i.e. down to 1: the double rounding this oracle must not do.
  std::vector<uint8_t> a(256, e4(0)), b(256, e4(0));
  a[0] = e4(1); b[0] = e4(1);              // block 0: 1
  a[1] = e4(0.5f); b[1] = e4(0.0078125f);  // block 0: 2^-1 * 2^-7 = 2^-8
  a[128] = e4(1); b[128] = e4(1);          // block 1: 1 * 2^-15 * 2^-15 = 2^-30 through the scales
  std::vector<float> sa{1, std::ldexp(1.0f, -15)}, sb{1, std::ldexp(1.0f, -15)};
  std::vector<uint16_t> d(1);
  dsb_gemm_fp8_blockscaled_params p{1, 1, 256, DSB_DTYPE_E4M3FN, DSB_DTYPE_F32, a.data(), sa.data(), b.data(), sb.data(), d.data()};
  ref::gemm_fp8_blockscaled(p);
  EXPECT_EQ(out(d, 0), 1.0f + 0.0078125f);
  EXPECT_EQ(bf16_to_f32(bf16_from_f32(1.0f + 0.00390625f)), 1.0f);  // the FP32 detour would give 1
}

TEST(GemmFp8Reference, RoutesContiguousRowsToTheirGroupAndSkipsPadding) {
  // Two groups, B_g is all ones scaled by (g+1); rows: group 1, padding, group 0.
  const int64_t n = 2, k = 128;
  std::vector<uint8_t> a(3 * k, e4(1)), b(2 * n * k, e4(1));
  std::vector<float> sa{1, 1, 1}, sb{1, 2};
  std::vector<int32_t> mi{1, -1, 0};
  std::vector<uint16_t> d(3 * n, 0x1234);
  dsb_gemm_fp8_grouped_contiguous_params p{3, n, k, 2, DSB_DTYPE_E4M3FN, DSB_DTYPE_F32, a.data(), sa.data(),
                                           b.data(), sb.data(), mi.data(), d.data()};
  ref::gemm_fp8_grouped_contiguous(p);
  EXPECT_EQ(out(d, 0), 256.0f);
  EXPECT_EQ(d[2], 0x1234);  // padding row untouched
  EXPECT_EQ(d[3], 0x1234);
  EXPECT_EQ(out(d, 4), 128.0f);
}

TEST(GemmFp8Reference, ComputesOnlyTheMaskedRowsOfEachGroup) {
  const int64_t m_max = 3, n = 1, k = 128;
  std::vector<uint8_t> a(2 * m_max * k, e4(1)), b(2 * n * k, e4(1));
  std::vector<float> sa(2 * m_max, 1.0f), sb{1, 0.25f};
  std::vector<int32_t> masked{1, 0};
  std::vector<uint16_t> d(2 * m_max * n, 0x1234);
  dsb_gemm_fp8_grouped_masked_params p{2, m_max, n, k, 1, DSB_DTYPE_E4M3FN, DSB_DTYPE_F32, a.data(), sa.data(),
                                       b.data(), sb.data(), masked.data(), d.data()};
  ref::gemm_fp8_grouped_masked(p);
  EXPECT_EQ(out(d, 0), 128.0f);
  for (int i = 1; i < 6; ++i) EXPECT_EQ(d[i], 0x1234) << i;
}

TEST(GemmFp8Reference, DecodesE4m3fnuzWithItsOwnBias) {
  // The same code means half as much in E4M3FNUZ (bias 8) as in E4M3FN (bias 7).
  const uint8_t code = e4(1.0f);
  std::vector<uint8_t> a(128, 0), b(128, 0);
  a[0] = code; b[0] = code;
  std::vector<float> s{1};
  std::vector<uint16_t> d(1);
  dsb_gemm_fp8_blockscaled_params p{1, 1, 128, DSB_DTYPE_E4M3FNUZ, DSB_DTYPE_F32, a.data(), s.data(), b.data(), s.data(), d.data()};
  ref::gemm_fp8_blockscaled(p);
  EXPECT_EQ(out(d, 0), 0.25f);
}

}  // namespace
}  // namespace dsbench
