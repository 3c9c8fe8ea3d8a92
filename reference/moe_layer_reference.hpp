// The oracle for the MoE layer (docs/ops/moe_layer.md): one expert's FFN on one quantised token in
// FP64 with the contract's rounding points (BF16 after each GEMM, FP32 then 1x128 FP8 for the
// activation), and a whole-layer run on one rank built from the routing, dispatch and combine
// oracles. Plain loops, obviously right; slow by design. Host pointers only.
#pragma once

#include <cstdint>

#include "dsbench/ops.h"

namespace dsbench::ref {

// Why the layer's params cannot run ("" if they can): sizes, dtypes, null pointers.
const char* moe_layer_invalid(const dsb_moe_layer_params& p);

// One expert: xq [hidden] FP8 codes with xs [hidden/128] scales (scale_dtype); w13 [2*inter, hidden]
// and w2 [hidden, inter] FP8 with their 128x128 scales. Writes y [hidden], each value already
// rounded to BF16: gu = BF16(w13 . x), h = FP32(SiLU(gate) * up), hq = quantize_1x128(h),
// y = BF16(w2 . hq), every dot product in FP64.
void moe_expert_ffn(const uint8_t* xq, const void* xs, const uint8_t* w13, const void* w13_scale, const uint8_t* w2,
                    const void* w2_scale, int32_t hidden, int32_t inter, dsb_dtype ab_dtype, dsb_dtype scale_dtype,
                    double* y);

// SiLU(g) * u in FP64, rounded once to FP32: the value the activation stage quantises.
float moe_silu_mul(double gate, double up);

// The whole layer on one rank (world_size 1; DSB_STATUS_NOT_SUPPORTED otherwise): routing, FP8
// quantisation of x, every (token, expert) pair through moe_expert_ffn, the shared expert, and the
// combine in FP64 rounded to BF16. Stage-only runs are DSB_STATUS_NOT_SUPPORTED.
dsb_status moe_layer(const dsb_moe_layer_params& p);

}  // namespace dsbench::ref
