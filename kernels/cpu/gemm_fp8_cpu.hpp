// Optimised CPU kernels for the three FP8 block-scaled GEMM variants (DeepSeek-V3 fine-grained
// scaling). Blocked, OpenMP-threaded, AVX2/FMA micro-kernel chosen at run time with a portable
// fallback; accumulates in FP32 over all of K and rounds once to BF16. Host pointers only.
#pragma once

#include "dsbench/ops.h"

namespace dsbench::cpu {

// Return DSB_STATUS_OK, or DSB_STATUS_INVALID_ARGUMENT (k % 128 != 0, null pointers, negative
// sizes, non-FP8 operands, group indices or masked_m out of range), or DSB_STATUS_OUT_OF_MEMORY when
// the per-thread packing buffers cannot be allocated. Never throw, print or exit.
// Padding rows (m_indices == -1) and masked-off rows of d are never written.
dsb_status gemm_fp8_blockscaled_optimized(const dsb_gemm_fp8_blockscaled_params& p);
dsb_status gemm_fp8_grouped_contiguous_optimized(const dsb_gemm_fp8_grouped_contiguous_params& p);
dsb_status gemm_fp8_grouped_masked_optimized(const dsb_gemm_fp8_grouped_masked_params& p);

}  // namespace dsbench::cpu
