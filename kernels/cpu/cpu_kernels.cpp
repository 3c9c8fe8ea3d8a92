// The CPU backend's kernels, one line each: the FP64 reference (the oracle, also timed) and the
// optimised implementation of every op the CPU backend runs.
#include "dsbench/kernel.hpp"
#include "kernels/common/all_to_all_comm_kernel.hpp"
#include "kernels/cpu/cpu_backend.hpp"
#include "kernels/cpu/gemm_fp8_cpu.hpp"
#include "kernels/cpu/mla_decode_cpu.hpp"
#include "kernels/cpu/moe_dispatch_cpu.hpp"
#include "kernels/cpu/moe_layer_cpu.hpp"
#include "kernels/cpu/moe_route_cpu.hpp"
#include "reference/gemm_fp8_reference.hpp"
#include "reference/moe_dispatch_reference.hpp"
#include "reference/moe_route_reference.hpp"

namespace dsbench::cpu {
namespace {

// Adapts a host function `dsb_status f(const P&)` into a CPU kernel. Host functions run when enqueued.
template <class P, auto Fn>
class HostKernel final : public KernelFor<P> {
 public:
  explicit HostKernel(const char* variant) : KernelFor<P>("cpu", variant) {}

 protected:
  Support supports(const P&, const Device& device) const override {
    if (!device.host_accessible()) return Support::no("CPU kernels need host-accessible memory");
    return Support::yes();
  }
  Status run(const P& params, void*, Stream&) const override {
    const dsb_status s = Fn(params);
    if (s == DSB_STATUS_OK) return Status::success();
    return Status::error(s, std::string(this->id()) + ": " + dsb_status_name(s));
  }
};

// The reference functions return nothing: the harness has validated the params before they run.
template <class P, void (*Ref)(const P&)>
dsb_status run_reference(const P& p) {
  Ref(p);
  return DSB_STATUS_OK;
}

using DenseP = dsb_gemm_fp8_blockscaled_params;
using ContP = dsb_gemm_fp8_grouped_contiguous_params;
using MaskP = dsb_gemm_fp8_grouped_masked_params;

const HostKernel<DenseP, run_reference<DenseP, ref::gemm_fp8_blockscaled>> kGemmRef("reference");
const HostKernel<ContP, run_reference<ContP, ref::gemm_fp8_grouped_contiguous>> kGemmContRef("reference");
const HostKernel<MaskP, run_reference<MaskP, ref::gemm_fp8_grouped_masked>> kGemmMaskRef("reference");
const HostKernel<DenseP, gemm_fp8_blockscaled_optimized> kGemmOpt("optimized");
const HostKernel<ContP, gemm_fp8_grouped_contiguous_optimized> kGemmContOpt("optimized");
const HostKernel<MaskP, gemm_fp8_grouped_masked_optimized> kGemmMaskOpt("optimized");
const MlaDecodeKernel kMlaRef("reference", mla_decode_reference_run);
const MlaDecodeKernel kMlaOpt("optimized", mla_decode_optimized_run, mla_decode_optimized_workspace);
const AllToAllCommKernel kAllToAll("cpu");
using RouteP = dsb_moe_route_params;
const HostKernel<RouteP, run_reference<RouteP, ref::moe_route>> kRouteRef("reference");
const HostKernel<RouteP, moe_route_optimized> kRouteOpt("optimized");
using DispP = dsb_moe_dispatch_params;
using CombP = dsb_moe_combine_params;
const MoeEpKernel<DispP> kDispatchRef("reference", [](const DispP& p, void*) { return ref::moe_dispatch(p); });
const MoeEpKernel<CombP> kCombineRef("reference", [](const CombP& p, void*) { return ref::moe_combine(p); });
const MoeEpKernel<DispP> kDispatchOpt("optimized", moe_dispatch_optimized, moe_dispatch_optimized_workspace);
const MoeEpKernel<CombP> kCombineOpt("optimized", moe_combine_optimized, moe_combine_optimized_workspace);
const MoeLayerKernel kLayerRef(true);
const MoeLayerKernel kLayerOpt(false);

}  // namespace

std::vector<const Kernel*> cpu_kernels() {
  return {&kGemmRef, &kGemmContRef, &kGemmMaskRef, &kGemmOpt, &kGemmContOpt, &kGemmMaskOpt, &kMlaRef, &kMlaOpt, &kAllToAll, &kRouteRef,
          &kRouteOpt, &kDispatchRef, &kCombineRef, &kDispatchOpt, &kCombineOpt,
          &kLayerRef, &kLayerOpt};
}

}  // namespace dsbench::cpu
