// Launcher of the scale conversion for the cuBLASLt block-scaled GEMM (gemm_fp8_cublaslt_scales.cuh).
#include "kernels/cuda/gemm_fp8_cublaslt.hpp"
#include "kernels/cuda/gemm_fp8_cublaslt_scales.cuh"
#include "kernels/gpu/gpu_portability.hpp"

namespace dsbench::cuda::cublaslt {

Status prepare_scales(const ScaleArgs& a, void* stream) {
  const int64_t n = a.rows * a.kb + a.nb * a.l4;
  if (n == 0) return Status::success();
  const int64_t blocks = std::min<int64_t>((n + 255) / 256, 4096);
  cublaslt_scales_kernel<<<static_cast<unsigned>(blocks), 256, 0, static_cast<cudaStream_t>(stream)>>>(a);
  DSB_GPU_CHECK_LAUNCH();
  return Status::success();
}

}  // namespace dsbench::cuda::cublaslt
