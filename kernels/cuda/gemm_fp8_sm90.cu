// Launch of the sm_90a FP8 block-scaled GEMM (gemm_fp8_sm90.hpp); the device code is in
// gemm_fp8_sm90_kernel.cuh. For the sm_80 pass of the build the kernel is a stub that is never launched.
#include <cuda_runtime.h>

#include "kernels/cuda/gemm_fp8_sm90_kernel.cuh"
#include "kernels/gpu/gpu_portability.hpp"

namespace dsbench::cuda::sm90 {

int smem_bytes() { return kSmemBytes; }

Status launch(const Args& args, int grid, void* stream) {
  DSB_GPU_CHECK(cudaFuncSetAttribute(gemm_fp8_sm90_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmemBytes));
  gemm_fp8_sm90_kernel<<<static_cast<unsigned>(grid), kThreads, kSmemBytes, static_cast<cudaStream_t>(stream)>>>(args);
  DSB_GPU_CHECK_LAUNCH();
  return Status::success();
}

}  // namespace dsbench::cuda::sm90
