// The cuBLASLt block-scaled GEMM without a GPU: its scale conversion (device code run by the SIMT
// emulator) against the layouts cuBLASLt reads, what each variant refuses and why, and its
// workspace. The GEMM itself runs only on a Hopper GPU (the conformance and smoke suites).
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "dsbench/numerics/fp8.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/gemm_fp8_cublaslt.hpp"
#include "tests/cuda/paper_cuda_device.hpp"

#include "tests/cuda/emu/simt_emulator.hpp"
#include "kernels/cuda/gemm_fp8_cublaslt_scales.cuh"

namespace dsbench {
namespace {

void run_scales(const cuda::cublaslt::ScaleArgs& a, unsigned blocks) {
  emu::launch({blocks, 1, 1}, 64, 0, [&] { cuda::cublaslt::cublaslt_scales_kernel(a); });
}

TEST(CublasLtScales, PutActivationScalesMMajorAndPadWeightScalesToFourKBlocks) {
  const int64_t rows = 130, nb = 3, kb = 3, l4 = 4;
  std::vector<float> sa(rows * kb), sb(nb * kb);
  for (size_t i = 0; i < sa.size(); ++i) sa[i] = 0.001f * static_cast<float>(i + 1);
  for (size_t i = 0; i < sb.size(); ++i) sb[i] = 10.0f + static_cast<float>(i);
  std::vector<float> sa_out(rows * kb, -1.0f), sb_out(nb * l4, -1.0f);
  const cuda::cublaslt::ScaleArgs a{reinterpret_cast<const uint8_t*>(sa.data()), reinterpret_cast<const uint8_t*>(sb.data()),
                                    false, rows, nb, kb, l4, sa_out.data(), sb_out.data()};
  run_scales(a, 3);  // 192 threads over 402 outputs: the grid-stride loop wraps
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < kb; ++k) ASSERT_EQ(sa_out[k * rows + r], sa[r * kb + k]) << r << "," << k;
  for (int64_t n = 0; n < nb; ++n) {
    for (int64_t k = 0; k < kb; ++k) EXPECT_EQ(sb_out[n * l4 + k], sb[n * kb + k]);
    EXPECT_EQ(sb_out[n * l4 + 3], 1.0f) << "padding K-block";
  }
}

TEST(CublasLtScales, DecodeUe8m0ScalesToFp32) {
  const int64_t rows = 5, nb = 1, kb = 4;
  std::vector<uint8_t> sa(rows * kb), sb(nb * kb);
  for (size_t i = 0; i < sa.size(); ++i) sa[i] = static_cast<uint8_t>(120 + i % 10);
  for (size_t i = 0; i < sb.size(); ++i) sb[i] = static_cast<uint8_t>(127 + i);
  std::vector<float> sa_out(rows * kb), sb_out(nb * kb);
  run_scales({sa.data(), sb.data(), true, rows, nb, kb, kb, sa_out.data(), sb_out.data()}, 1);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < kb; ++k) EXPECT_EQ(sa_out[k * rows + r], ue8m0_to_f32(sa[r * kb + k]));
  EXPECT_EQ(sb_out[0], 1.0f);
  EXPECT_EQ(sb_out[3], 8.0f);
}

dsb_gemm_fp8_blockscaled_params dense(int64_t m, int64_t n, int64_t k) {
  dsb_gemm_fp8_blockscaled_params p{};
  p.m = m;
  p.n = n;
  p.k = k;
  p.ab_dtype = DSB_DTYPE_E4M3FN;
  p.scale_dtype = DSB_DTYPE_F32;
  return p;
}

TEST(CublasLtGemm, TakesHopperE4m3AndRefusesTheRestWithTheReason) {
  const Kernel& k = cuda::gemm_fp8_cublaslt_dense();
  EXPECT_EQ(k.id(), "cuda.gemm_fp8_blockscaled.cublaslt");
  const PaperCudaDevice h100("9.0"), b200("10.0"), a100("8.0");
  auto p = dense(4096, 2112, 7168);
  EXPECT_TRUE(k.supports(&p, h100).ok) << k.supports(&p, h100).reason;
  EXPECT_NE(k.supports(&p, b200).reason.find("9.x (Hopper) only"), std::string::npos);
  EXPECT_FALSE(k.supports(&p, a100).ok);
  p.ab_dtype = DSB_DTYPE_E5M2;
  EXPECT_NE(k.supports(&p, h100).reason.find("E4M3 x E4M3"), std::string::npos);
  auto odd = dense(67, 200, 384);
  EXPECT_TRUE(k.supports(&odd, h100).ok) << "n = 200 keeps 16-byte rows; k/128 = 3 is padded to 4";
  odd.n = 60;
  EXPECT_NE(k.supports(&odd, h100).reason.find("n % 8 == 0"), std::string::npos);
  // 32 MiB for cuBLASLt, then the scales: 4096 x 56 activation scales, 17 x 56 weight scales.
  const auto q = dense(4096, 2112, 7168);
  EXPECT_EQ(k.workspace_bytes(&q, h100), (size_t{32} << 20) + 4096 * 56 * 4 + 17 * 56 * 4 + 32 /* to 256 bytes */);

  dsb_gemm_fp8_grouped_contiguous_params c{};
  c.ab_dtype = DSB_DTYPE_E4M3FN;
  const Support sc = cuda::gemm_fp8_cublaslt_contiguous().supports(&c, h100);
  EXPECT_FALSE(sc.ok);
  EXPECT_NE(sc.reason.find("no grouped GEMM"), std::string::npos);
  dsb_gemm_fp8_grouped_masked_params m{};
  m.num_groups = 4;
  m.m_max = 64;
  m.n = 4096;
  m.k = 7168;
  m.ab_dtype = DSB_DTYPE_E4M3FN;
  EXPECT_TRUE(cuda::gemm_fp8_cublaslt_masked().supports(&m, h100).ok);
}

}  // namespace
}  // namespace dsbench
