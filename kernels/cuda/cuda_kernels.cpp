// The CUDA backend's kernels, one line each. Portable kernels come from kernels/gpu/ (shared with
// HIP); CUDA-only fast paths (cuBLASLt, sm_90a) arrive with the CUDA GEMM issue.
#include "dsbench/kernel.hpp"
#include "kernels/common/all_to_all_comm_kernel.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/gpu/gemm_fp8_naive.hpp"

namespace dsbench::cuda {
namespace {

// A device kernel that needs only device memory and a stream: the launchers enqueue and return.
template <class P>
class NaiveGemm final : public KernelFor<P> {
 public:
  NaiveGemm() : KernelFor<P>("cuda", "naive") {}

 protected:
  Support supports(const P& p, const Device& device) const override {
    if (device.backend() != "cuda") return Support::no("needs a CUDA device");
    if (p.ab_dtype != DSB_DTYPE_E4M3FN && p.ab_dtype != DSB_DTYPE_E5M2)
      return Support::no(std::string(dsb_dtype_name(p.ab_dtype)) + " operands: NVIDIA GPUs compute in OCP FP8 (e4m3fn, e5m2)");
    return Support::yes();
  }
  Status run(const P& p, void*, Stream& stream) const override { return gpu::gemm_fp8_naive(p, stream.native_handle()); }
};

const NaiveGemm<dsb_gemm_fp8_blockscaled_params> kGemmNaive;
const NaiveGemm<dsb_gemm_fp8_grouped_contiguous_params> kGemmContNaive;
const NaiveGemm<dsb_gemm_fp8_grouped_masked_params> kGemmMaskNaive;
const AllToAllCommKernel kAllToAll("cuda");  // NCCL: kernels/cuda/nccl_communicator.cpp

}  // namespace

std::vector<const Kernel*> cuda_kernels() { return {&kGemmNaive, &kGemmContNaive, &kGemmMaskNaive, &kAllToAll}; }

}  // namespace dsbench::cuda
