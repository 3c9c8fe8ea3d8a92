// The 1x128 FP8 quantisation of one 128-channel block by a block of 128 threads (thread i holds
// channel i): a shared-memory amax, fp8_block_scale and the shared codec, so codes and scales are
// bit-identical to reference/quantize.cpp. Shared by the MoE dispatch's fused cast and the MoE
// layer's activation and shared-expert quantisers. Device code must not be built with fast math.
#pragma once

#include <cstdint>

#include "dsbench/numerics/fp8.hpp"
#include "dsbench/ops.h"

namespace dsbench::gpu {

constexpr int kQuantThreads = DSB_FP8_BLOCK;

// Quantises v (channel tid of the block) with the block's amax into *q, and thread 0 writes the
// scale to scales[scale_index] (F32, or UE8M0 bytes when sd says so). red: kQuantThreads floats of
// shared memory. Every thread of the block must call it.
__device__ inline void quantize_block(float v, int tid, float* red, dsb_dtype fp8, dsb_dtype sd, uint8_t* q,
                                      void* scales, int64_t scale_index) {
  red[tid] = fabsf(v);
  __syncthreads();
  for (int s = kQuantThreads / 2; s > 0; s >>= 1) {
    if (tid < s) red[tid] = fmaxf(red[tid], red[tid + s]);
    __syncthreads();
  }
  const bool ue8m0 = sd == DSB_DTYPE_UE8M0;
  const float scale = fp8_block_scale(red[0], fp8, ue8m0);
  *q = fp8_encode(v / scale, fp8);
  if (tid == 0) {
    if (ue8m0) static_cast<uint8_t*>(scales)[scale_index] = ue8m0_from_f32_ceil(scale);
    else static_cast<float*>(scales)[scale_index] = scale;
  }
  __syncthreads();  // red[] is rewritten by the next block
}

}  // namespace dsbench::gpu
