// Kernel objects over the portable launchers (kernels/gpu/*.cu), shared by the CUDA and HIP kernel
// tables: the same supports() rules on both vendors, the backend name the only difference. Host code,
// free of vendor types; each backend instantiates them once in its table (cuda_kernels.cpp,
// hip_kernels.cpp).
#pragma once

#include <algorithm>
#include <string>

#include "dsbench/kernel.hpp"
#include "kernels/common/moe_layer_plan.hpp"
#include "kernels/gpu/gemm_fp8_naive.hpp"
#include "kernels/gpu/mla_decode_gpu_support.hpp"
#include "kernels/gpu/mla_decode_naive.hpp"
#include "kernels/gpu/moe_dispatch_gpu.hpp"
#include "kernels/gpu/moe_layer_gpu.hpp"
#include "kernels/gpu/moe_route_gpu.hpp"

namespace dsbench::gpu {

// A device computes in one FP8 family: OCP (E4M3FN, E5M2: NVIDIA, gfx950) or FNUZ (E4M3FNUZ,
// E5M2FNUZ: gfx94x), as its fp8_e4m3() declares. Operands of the other family are refused with the
// reason, so a suite records which family each device ran (docs/numerics.md).
inline Support fp8_family_support(dsb_dtype ab, const Device& device) {
  const bool fnuz = device.fp8_e4m3() == DSB_DTYPE_E4M3FNUZ;
  const bool ok = fnuz ? (ab == DSB_DTYPE_E4M3FNUZ || ab == DSB_DTYPE_E5M2FNUZ) : (ab == DSB_DTYPE_E4M3FN || ab == DSB_DTYPE_E5M2);
  if (ok) return Support::yes();
  return Support::no(std::string(dsb_dtype_name(ab)) + " operands: this " + device.backend() + " device computes in " +
                     (fnuz ? "FNUZ FP8 (e4m3fnuz, e5m2fnuz)" : "OCP FP8 (e4m3fn, e5m2)"));
}

// One thread per output, FP32 partial sums per 128-deep K block promoted with both scales.
template <class P>
class NaiveGemmKernel final : public KernelFor<P> {
 public:
  explicit NaiveGemmKernel(const std::string& backend) : KernelFor<P>(backend, "naive"), backend_(backend) {}

 protected:
  Support supports(const P& p, const Device& device) const override {
    if (device.backend() != backend_) return Support::no("needs a " + backend_ + " device");
    return fp8_family_support(p.ab_dtype, device);
  }
  Status run(const P& p, void*, Stream& stream) const override { return gemm_fp8_naive(p, stream.native_handle()); }

 private:
  std::string backend_;
};

// What the warp routing kernel takes (kernels/gpu/moe_route_gpu.hpp's limits).
inline Support moe_route_gpu_support(const dsb_moe_route_params& p) {
  if (p.num_tokens < 0) return Support::no("num_tokens < 0");
  if (p.num_experts <= 0 || p.num_groups <= 0 || p.num_experts % p.num_groups != 0)
    return Support::no("num_experts must be a positive multiple of num_groups");
  const int per_group = p.num_experts / p.num_groups;
  if (per_group < 2 || per_group > kMoeRouteMaxGroupSize)
    return Support::no(std::to_string(per_group) + " experts per group: needs 2..32 (the group score is a top-2; "
                       "a group's experts must fit one warp's 32 lanes)");
  if (p.num_experts > kMoeRouteMaxExperts)
    return Support::no(std::to_string(p.num_experts) + " experts: at most 1024 (32 lanes x 32 register slots)");
  if (p.topk_groups < 1 || p.topk_groups > p.num_groups) return Support::no("topk_groups must be in [1, num_groups]");
  if (p.topk < 1 || p.topk > p.topk_groups * per_group)
    return Support::no("topk must be in [1, experts in the kept groups (topk_groups x experts per group)]");
  if (p.topk > kMoeRouteMaxTopk) return Support::no("topk > 32: one lane per output slot");
  if (p.scoring != DSB_MOE_SCORING_SIGMOID && p.scoring != DSB_MOE_SCORING_SOFTMAX)
    return Support::no("scoring must be sigmoid or softmax");
  return Support::yes();
}

// DeepSeek-V3 routing, one 32-lane logical warp per token (kernels/gpu/moe_route_gpu.cu; two per
// 64-wide AMD wave). Output slots are in descending order of biased score, exact ties to the lower
// expert index.
class MoeRouteWarpKernel final : public KernelFor<dsb_moe_route_params> {
 public:
  explicit MoeRouteWarpKernel(const std::string& backend) : KernelFor(backend, "warp"), backend_(backend) {}

 protected:
  Support supports(const dsb_moe_route_params& p, const Device& device) const override {
    if (device.backend() != backend_) return Support::no("needs a " + backend_ + " device");
    return moe_route_gpu_support(p);
  }
  Status run(const dsb_moe_route_params& p, void*, Stream& stream) const override {
    return moe_route_gpu(p, stream.native_handle());
  }

 private:
  std::string backend_;
};

// MLA decode, one block per query row (kernels/gpu/mla_decode_naive.cu): no warp-level operations,
// so the same code serves 32- and 64-lane waves.
class MlaDecodeNaiveKernel final : public KernelFor<dsb_mla_decode_params> {
 public:
  explicit MlaDecodeNaiveKernel(const std::string& backend) : KernelFor(backend, "naive"), backend_(backend) {}

 protected:
  Support supports(const dsb_mla_decode_params& p, const Device& device) const override {
    if (device.backend() != backend_) return Support::no("needs a " + backend_ + " device");
    return mla_decode_naive_supports(p);
  }
  Status run(const dsb_mla_decode_params& p, void*, Stream& stream) const override {
    return mla_decode_naive(p, stream.native_handle());
  }

 private:
  std::string backend_;
};

// What the MoE kernels take: BF16 or the device's FP8 family for the payload, and with more than one
// rank the run's communicator (NCCL/RCCL, through which the records travel) and experts that split
// evenly over the ranks.
template <class P>
Support moe_gpu_support(const P& p, dsb_dtype recv_dtype, const Device& device, const std::string& backend) {
  if (device.backend() != backend) return Support::no("needs a " + backend + " device");
  if (p.world_size > 1) {
    if (p.comm == nullptr || p.comm->alltoallv == nullptr)
      return Support::no("world size " + std::to_string(p.world_size) + " without a communicator for this run");
    if (p.comm->world_size != p.world_size || p.comm->rank != p.rank) return Support::no("the communicator's world is not the case's");
  }
  if (p.num_experts % std::max(1, p.world_size) != 0) return Support::no("num_experts is not a multiple of world_size");
  if (recv_dtype != DSB_DTYPE_BF16) {
    if (const Support s = fp8_family_support(recv_dtype, device); !s.ok) return s;
    if (p.hidden % 128 != 0) return Support::no("FP8 payload needs hidden % 128 == 0");
  }
  return Support::yes();
}

// MoE dispatch: counts, offsets, and one block per (token, slot) pair that copies the token or casts
// it to FP8 with 1x128 scales into its row (one device) or into a record for its expert's rank (more
// than one: records through the communicator, then placed): kernels/gpu/moe_dispatch_gpu_kernel.cuh.
class MoeDispatchGpuKernel final : public KernelFor<dsb_moe_dispatch_params> {
 public:
  explicit MoeDispatchGpuKernel(const std::string& backend) : KernelFor(backend, "permute"), backend_(backend) {}

 protected:
  Support supports(const dsb_moe_dispatch_params& p, const Device& d) const override {
    if (p.scale_dtype != DSB_DTYPE_F32 && p.scale_dtype != DSB_DTYPE_UE8M0 && p.recv_dtype != DSB_DTYPE_BF16)
      return Support::no("scale_dtype must be f32 or ue8m0");
    return moe_gpu_support(p, p.recv_dtype, d, backend_);
  }
  size_t workspace_bytes(const dsb_moe_dispatch_params& p, const Device&) const override {
    return moe_dispatch_gpu_workspace(p);
  }
  Status run(const dsb_moe_dispatch_params& p, void* ws, Stream& s) const override {
    return moe_dispatch_gpu(p, ws, s.native_handle());
  }

 private:
  std::string backend_;
};

// MoE combine: the inverse of recv_src (one device) or rows sent home as records and their inverse
// (more than one rank), then one block per token summing its slots.
class MoeCombineGpuKernel final : public KernelFor<dsb_moe_combine_params> {
 public:
  explicit MoeCombineGpuKernel(const std::string& backend) : KernelFor(backend, "gather"), backend_(backend) {}

 protected:
  Support supports(const dsb_moe_combine_params& p, const Device& d) const override {
    return moe_gpu_support(p, DSB_DTYPE_BF16, d, backend_);
  }
  size_t workspace_bytes(const dsb_moe_combine_params& p, const Device&) const override {
    return moe_combine_gpu_workspace(p);
  }
  Status run(const dsb_moe_combine_params& p, void* ws, Stream& s) const override {
    return moe_combine_gpu(p, ws, s.native_handle());
  }

 private:
  std::string backend_;
};

// The MoE layer on one device, the parts' GPU kernels chained stage by stage (warp routing, the
// permute with the FP8 cast, grouped GEMMs, a fused SiLU-quantise, the gather combine) over
// kernels/common/moe_layer_plan.hpp's workspace: kernels/gpu/moe_layer_gpu_kernel.cuh. The GEMMs are
// the given kernels (variant "chained_<their variant>"), or the naive launchers ("chained_naive").
class MoeLayerGpuKernel final : public KernelFor<dsb_moe_layer_params> {
 public:
  explicit MoeLayerGpuKernel(const std::string& backend) : KernelFor(backend, "chained_naive"), backend_(backend) {}
  MoeLayerGpuKernel(const std::string& backend, const std::string& gemm_variant, const MoeLayerGemms& gemms)
      : KernelFor(backend, "chained_" + gemm_variant), backend_(backend), gemms_(gemms) {}

 protected:
  Support supports(const dsb_moe_layer_params& p, const Device& d) const override {
    if (p.hidden % 128 != 0 || p.intermediate % 128 != 0 || p.shared_intermediate % 128 != 0 || p.intermediate <= 0)
      return Support::no("hidden, intermediate and shared_intermediate must be multiples of 128");
    if (p.scale_dtype != DSB_DTYPE_F32 && p.scale_dtype != DSB_DTYPE_UE8M0) return Support::no("scale_dtype must be f32 or ue8m0");
    if (!dsb_dtype_is_fp8(p.ab_dtype)) return Support::no("ab_dtype must be an FP8 type");
    if (p.stage < DSB_MOE_LAYER_ALL || p.stage >= DSB_MOE_LAYER_STAGE_COUNT) return Support::no("stage out of range");
    if (const Support s = moe_gpu_support(p, p.ab_dtype, d, backend_); !s.ok) return s;
    if (const Support s = moe_route_gpu_support(dsbench::moe_layer::route_params(p)); !s.ok) return s;
    if (const std::string why = moe_layer_gemm_refusal(p, gemms_, d); !why.empty()) return Support::no(why);
    return Support::yes();
  }
  size_t workspace_bytes(const dsb_moe_layer_params& p, const Device& d) const override {
    return moe_layer_gpu_workspace(p, gemms_, d);
  }
  Status run(const dsb_moe_layer_params& p, void* ws, Stream& s) const override { return moe_layer_gpu(p, ws, s, gemms_); }

 private:
  std::string backend_;
  MoeLayerGemms gemms_;
};

}  // namespace dsbench::gpu
