// The CUDA backend's kernels, one line each. Portable kernels come from kernels/gpu/ (shared with
// HIP); CUDA-only fast paths (cuBLASLt, sm_90a) arrive with the CUDA GEMM issue.
#include "dsbench/kernel.hpp"
#include "kernels/common/all_to_all_comm_kernel.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/gpu/gemm_fp8_naive.hpp"
#include "kernels/gpu/moe_route_gpu.hpp"

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

// DeepSeek-V3 routing, one warp per token (kernels/gpu/moe_route_gpu.cu). Output slots are in
// descending order of biased score, exact ties to the lower expert index.
class MoeRouteWarp final : public KernelFor<dsb_moe_route_params> {
 public:
  MoeRouteWarp() : KernelFor<dsb_moe_route_params>("cuda", "warp") {}

 protected:
  Support supports(const dsb_moe_route_params& p, const Device& device) const override {
    if (device.backend() != "cuda") return Support::no("needs a CUDA device");
    if (p.num_tokens < 0) return Support::no("num_tokens < 0");
    if (p.num_experts <= 0 || p.num_groups <= 0 || p.num_experts % p.num_groups != 0)
      return Support::no("num_experts must be a positive multiple of num_groups");
    const int per_group = p.num_experts / p.num_groups;
    if (per_group < 2 || per_group > gpu::kMoeRouteMaxGroupSize)
      return Support::no(std::to_string(per_group) + " experts per group: needs 2..32 (the group score is a top-2; "
                         "a group's experts must fit one warp's 32 lanes)");
    if (p.num_experts > gpu::kMoeRouteMaxExperts)
      return Support::no(std::to_string(p.num_experts) + " experts: at most 1024 (32 lanes x 32 register slots)");
    if (p.topk_groups < 1 || p.topk_groups > p.num_groups) return Support::no("topk_groups must be in [1, num_groups]");
    if (p.topk < 1 || p.topk > p.topk_groups * per_group)
      return Support::no("topk must be in [1, experts in the kept groups (topk_groups x experts per group)]");
    if (p.topk > gpu::kMoeRouteMaxTopk) return Support::no("topk > 32: one lane per output slot");
    if (p.scoring != DSB_MOE_SCORING_SIGMOID && p.scoring != DSB_MOE_SCORING_SOFTMAX)
      return Support::no("scoring must be sigmoid or softmax");
    return Support::yes();
  }
  Status run(const dsb_moe_route_params& p, void*, Stream& stream) const override {
    return gpu::moe_route_gpu(p, stream.native_handle());
  }
};

const NaiveGemm<dsb_gemm_fp8_blockscaled_params> kGemmNaive;
const NaiveGemm<dsb_gemm_fp8_grouped_contiguous_params> kGemmContNaive;
const NaiveGemm<dsb_gemm_fp8_grouped_masked_params> kGemmMaskNaive;
const AllToAllCommKernel kAllToAll("cuda");  // NCCL: kernels/cuda/nccl_communicator.cpp
const MoeRouteWarp kMoeRouteWarp;

}  // namespace

std::vector<const Kernel*> cuda_kernels() {
  return {&kGemmNaive, &kGemmContNaive, &kGemmMaskNaive, &kAllToAll, &kMoeRouteWarp};
}

}  // namespace dsbench::cuda
