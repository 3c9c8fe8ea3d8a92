// DeepSeek-V3 fine-grained FP8 quantisation recipes (../shared/DEEPSEEK.md §3): per token per 128
// channels for activations, per 128x128 block for weights. Shared by input generation, the MoE
// dispatch reference and tests, so quantised data is bit-identical everywhere.
#pragma once

#include <cstdint>

#include "dsbench/dtype.h"
#include "dsbench/ops.h"

namespace dsbench::ref {

constexpr float kAmaxFloor = 1e-4f;  // amax is clamped below so all-zero blocks get a finite scale

struct QuantRecipe {
  dsb_dtype fp8 = DSB_DTYPE_E4M3FN;  // target FP8 variant; its max value is the divisor
  bool ue8m0 = false;                // round each scale up to a power of two
};

// One block's scale: max(amax, 1e-4) / fp8_max, rounded up to a power of two for UE8M0.
float block_scale(float amax, const QuantRecipe& recipe);

// x [rows, cols] F32 -> q [rows, cols] FP8 codes and scales [rows, ceil(cols/128)] F32,
// q = fp8(x / scale) for each 1x128 chunk (a shorter last chunk when cols % 128 != 0).
void quantize_1x128(const float* x, int64_t rows, int64_t cols, const QuantRecipe& recipe,
                    uint8_t* q, float* scales);

// w [rows, cols] F32 -> q [rows, cols] and scales [ceil(rows/128), ceil(cols/128)] F32, one per
// 128x128 block.
void quantize_128x128(const float* w, int64_t rows, int64_t cols, const QuantRecipe& recipe,
                      uint8_t* q, float* scales);

// Stores n scales as scale_dtype (F32 copies; UE8M0 requires exact powers of two and encodes them).
void store_scales(const float* scales, int64_t n, dsb_dtype scale_dtype, void* out);

}  // namespace dsbench::ref
