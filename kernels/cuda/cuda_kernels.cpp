// The CUDA backend's kernels, one line each. Portable kernels come from kernels/gpu/ (shared with
// HIP, kernel objects in kernels/gpu/gpu_kernels.hpp); CUDA-only fast paths (cuBLASLt, sm_90a)
// arrive with the CUDA GEMM issue.
#include "kernels/common/all_to_all_comm_kernel.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/gpu/gpu_kernels.hpp"

namespace dsbench::cuda {
namespace {

const gpu::NaiveGemmKernel<dsb_gemm_fp8_blockscaled_params> kGemmNaive("cuda");
const gpu::NaiveGemmKernel<dsb_gemm_fp8_grouped_contiguous_params> kGemmContNaive("cuda");
const gpu::NaiveGemmKernel<dsb_gemm_fp8_grouped_masked_params> kGemmMaskNaive("cuda");
const AllToAllCommKernel kAllToAll("cuda");  // NCCL: kernels/cuda/nccl_communicator.cpp
const gpu::MoeRouteWarpKernel kMoeRouteWarp("cuda");

}  // namespace

std::vector<const Kernel*> cuda_kernels() {
  return {&kGemmNaive, &kGemmContNaive, &kGemmMaskNaive, &kAllToAll, &kMoeRouteWarp};
}

}  // namespace dsbench::cuda
