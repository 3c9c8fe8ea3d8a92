// The CPU backend's MoE dispatch and combine kernels (docs/ops/moe_dispatch_combine.md): the plain
// serial reference (reference/moe_dispatch_reference.cpp) and the OpenMP kernels
// (moe_dispatch_cpu.cpp). With more than one rank both move rows through the communicator's
// alltoallv; with one rank the optimised kernels write the layout straight from x.
#pragma once

#include <cstddef>
#include <string>

#include "dsbench/kernel.hpp"

namespace dsbench::cpu {

dsb_status moe_dispatch_optimized(const dsb_moe_dispatch_params& p, void* workspace);
dsb_status moe_combine_optimized(const dsb_moe_combine_params& p, void* workspace);
size_t moe_dispatch_optimized_workspace(const dsb_moe_dispatch_params& p);
size_t moe_combine_optimized_workspace(const dsb_moe_combine_params& p);

// Why a dispatch/combine kernel of this backend cannot run these params ("" if it can).
std::string moe_dispatch_unsupported(const dsb_moe_dispatch_params& p);
std::string moe_combine_unsupported(const dsb_moe_combine_params& p);

// A CPU kernel over host-accessible memory for one of the functions above (or a reference one).
template <class P>
class MoeEpKernel final : public KernelFor<P> {
 public:
  using RunFn = dsb_status (*)(const P&, void* workspace);
  using WorkspaceFn = size_t (*)(const P&);
  MoeEpKernel(const char* variant, RunFn run, WorkspaceFn workspace = nullptr)
      : KernelFor<P>("cpu", variant), run_(run), workspace_(workspace) {}

 protected:
  Support supports(const P& p, const Device& device) const override {
    if (!device.host_accessible()) return Support::no("CPU kernels need host-accessible memory");
    std::string why;
    if constexpr (OpOf<P>::value == DSB_OP_MOE_DISPATCH) why = moe_dispatch_unsupported(p);
    else why = moe_combine_unsupported(p);
    return why.empty() ? Support::yes() : Support::no(why);
  }
  size_t workspace_bytes(const P& p, const Device&) const override { return workspace_ ? workspace_(p) : 0; }
  Status run(const P& p, void* workspace, Stream&) const override {
    const dsb_status s = run_(p, workspace);
    if (s == DSB_STATUS_OK) return Status::success();
    std::string why = this->id() + ": " + dsb_status_name(s);
    if (s == DSB_STATUS_INVALID_ARGUMENT)
      why += " (an expert id outside [-1, num_experts), a layout over recv_capacity, or a recv_src naming no pair)";
    else if (p.comm != nullptr && p.comm->last_error != nullptr)
      why += std::string(": ") + p.comm->last_error(p.comm);
    return Status::error(s, why);
  }

 private:
  RunFn run_;
  WorkspaceFn workspace_;
};

}  // namespace dsbench::cpu
