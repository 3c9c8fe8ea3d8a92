// Launchers of the portable, obviously correct FP8 block-scaled GEMM kernels (one thread per output,
// FP32 partial sums per 128-deep K block promoted with both scales). Shared by CUDA and HIP; the
// header is free of vendor types so host code and the kernel tables can include it anywhere.
#pragma once

#include "dsbench/ops.h"
#include "dsbench/status.hpp"

namespace dsbench::gpu {

// stream: the backend's native stream (cudaStream_t / hipStream_t). Enqueue only.
Status gemm_fp8_naive(const dsb_gemm_fp8_blockscaled_params& p, void* stream);
Status gemm_fp8_naive(const dsb_gemm_fp8_grouped_contiguous_params& p, void* stream);
Status gemm_fp8_naive(const dsb_gemm_fp8_grouped_masked_params& p, void* stream);

}  // namespace dsbench::gpu
