// Device code that puts dsbench's FP8 GEMM scales into the layouts cuBLASLt's block-scaled modes
// read (Hopper, cuBLASLt >= 12.9), as FP32 whatever the contract's scale dtype (FP32 or UE8M0):
//   activations, VEC128_32F:    out[kb * m + row]  = scale_a[row, kb]       (M-major; the contract is K-major)
//   weights,     BLK128x128_32F: out[nb * l4 + kb] = scale_b[nb, kb], kb < k/128, else 1
//                                 (each 128-row block's K-blocks, padded to l4 = round_up(k/128, 4))
// A header so that the SIMT emulator of tests/cuda/emu runs the same body on the CPU.
#pragma once

#include <cstdint>

#include "dsbench/numerics/fp8.hpp"
#include "kernels/cuda/gemm_fp8_cublaslt.hpp"

namespace dsbench::cuda::cublaslt {

__device__ __forceinline__ float scale_at(const uint8_t* s, int64_t i, bool ue8m0) {
  return ue8m0 ? ue8m0_to_f32(s[i]) : reinterpret_cast<const float*>(s)[i];
}

// Grid-stride over both outputs: rows * kb activation scales, then nb * l4 weight scales.
__global__ void cublaslt_scales_kernel(ScaleArgs a) {
  const int64_t n_a = a.rows * a.kb, n_b = a.nb * a.l4;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n_a + n_b; i += stride) {
    if (i < n_a) {
      const int64_t kb = i / a.rows, row = i % a.rows;  // consecutive threads write consecutive rows
      a.sa_out[i] = scale_at(a.sa, row * a.kb + kb, a.ue8m0);
    } else {
      const int64_t j = i - n_a, nb = j / a.l4, kb = j % a.l4;
      a.sb_out[j] = kb < a.kb ? scale_at(a.sb, nb * a.kb + kb, a.ue8m0) : 1.0f;
    }
  }
}

}  // namespace dsbench::cuda::cublaslt
