// The CUDA backend's kernels, one line each. Portable kernels come from kernels/gpu/ (shared with
// HIP); CUDA-only fast paths live in kernels/cuda/ (split-KV MLA; cuBLASLt and sm_90a GEMM to come).
#include <string>
#include <variant>

#include "dsbench/kernel.hpp"
#include "kernels/common/all_to_all_comm_kernel.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/mla_decode_splitkv.hpp"
#include "kernels/gpu/gemm_fp8_naive.hpp"
#include "kernels/gpu/mla_decode_gpu_support.hpp"
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

// Integer property of a CUDA device (-1 when absent).
int64_t int_property(const Device& device, const char* key) {
  const Properties p = device.properties();
  const auto it = p.find(key);
  return it != p.end() && std::holds_alternative<int64_t>(it->second) ? std::get<int64_t>(it->second) : -1;
}

// MLA decode, portable: one block per query row (kernels/gpu/mla_decode_naive.cu).
class MlaDecodeNaive final : public KernelFor<dsb_mla_decode_params> {
 public:
  MlaDecodeNaive() : KernelFor<dsb_mla_decode_params>("cuda", "naive") {}

 protected:
  Support supports(const dsb_mla_decode_params& p, const Device& device) const override {
    if (device.backend() != "cuda") return Support::no("needs a CUDA device");
    return gpu::mla_decode_naive_supports(p);
  }
  Status run(const dsb_mla_decode_params& p, void*, Stream& stream) const override {
    return gpu::mla_decode_naive(p, stream.native_handle());
  }
};

// MLA decode, split-KV with tensor cores and a combine kernel (kernels/cuda/mla_decode_splitkv.cu).
// Times include the combine kernel.
class MlaDecodeSplitKv final : public KernelFor<dsb_mla_decode_params> {
 public:
  MlaDecodeSplitKv() : KernelFor<dsb_mla_decode_params>("cuda", "splitkv") {}

 protected:
  Support supports(const dsb_mla_decode_params& p, const Device& device) const override {
    if (device.backend() != "cuda") return Support::no("needs a CUDA device");
    const Properties props = device.properties();
    const auto cc = props.find("compute_capability");
    if (cc != props.end() && std::holds_alternative<std::string>(cc->second) &&
        std::stoi(std::get<std::string>(cc->second)) < 8)
      return Support::no("compute capability " + std::get<std::string>(cc->second) + ": mma.sync on BF16 needs 8.0");
    const int64_t optin = int_property(device, "shared_memory_per_block_optin_bytes");
    if (optin >= 0 && static_cast<size_t>(optin) < cuda::mla_splitkv_smem_bytes())
      return Support::no("needs " + std::to_string(cuda::mla_splitkv_smem_bytes()) + " bytes of shared memory per block, the device gives " +
                         std::to_string(optin));
    if (const std::string why = cuda::mla_splitkv_refusal(p); !why.empty()) return Support::no(why);
    return Support::yes();
  }
  size_t workspace_bytes(const dsb_mla_decode_params& p, const Device& device) const override {
    return cuda::mla_splitkv_plan(p, static_cast<int>(int_property(device, "sm_count"))).workspace_bytes;
  }
  Status run(const dsb_mla_decode_params& p, void* workspace, Stream& stream) const override {
    return cuda::mla_decode_splitkv(p, workspace, stream.native_handle());
  }
};

const NaiveGemm<dsb_gemm_fp8_blockscaled_params> kGemmNaive;
const NaiveGemm<dsb_gemm_fp8_grouped_contiguous_params> kGemmContNaive;
const NaiveGemm<dsb_gemm_fp8_grouped_masked_params> kGemmMaskNaive;
const AllToAllCommKernel kAllToAll("cuda");  // NCCL: kernels/cuda/nccl_communicator.cpp
const MoeRouteWarp kMoeRouteWarp;
const MlaDecodeNaive kMlaNaive;
const MlaDecodeSplitKv kMlaSplitKv;

}  // namespace

std::vector<const Kernel*> cuda_kernels() {
  return {&kGemmNaive, &kGemmContNaive, &kGemmMaskNaive, &kAllToAll, &kMoeRouteWarp, &kMlaNaive, &kMlaSplitKv};
}

}  // namespace dsbench::cuda
