// The CPU backend's MLA decode kernels: the FP64 reference (ref::mla_decode_head, parallel over
// query rows) and the optimised kernel (mla_decode_cpu.cpp: OpenMP over (sequence, KV head, head
// group, KV split), vector micro-kernels, online softmax, split-KV with a combine step). Both check
// the contract first and report a violation precisely, without touching memory out of bounds.
#pragma once

#include <cstddef>

#include "dsbench/kernel.hpp"

namespace dsbench::cpu {

Status mla_decode_reference_run(const dsb_mla_decode_params& p, void* workspace);
Status mla_decode_optimized_run(const dsb_mla_decode_params& p, void* workspace);
// Partial results of split sequences; 0 when no split is planned. A null workspace disables splits.
size_t mla_decode_optimized_workspace(const dsb_mla_decode_params& p);

// A CPU kernel over host-accessible memory for one of the functions above.
class MlaDecodeKernel final : public KernelFor<dsb_mla_decode_params> {
 public:
  using RunFn = Status (*)(const dsb_mla_decode_params&, void* workspace);
  using WorkspaceFn = size_t (*)(const dsb_mla_decode_params&);
  MlaDecodeKernel(const char* variant, RunFn run, WorkspaceFn workspace = nullptr)
      : KernelFor<dsb_mla_decode_params>("cpu", variant), run_(run), workspace_(workspace) {}

 protected:
  Support supports(const dsb_mla_decode_params&, const Device& device) const override {
    if (!device.host_accessible()) return Support::no("CPU kernels need host-accessible memory");
    return Support::yes();
  }
  size_t workspace_bytes(const dsb_mla_decode_params& p, const Device&) const override {
    return workspace_ ? workspace_(p) : 0;
  }
  Status run(const dsb_mla_decode_params& p, void* workspace, Stream&) const override {
    Status s = run_(p, workspace);
    if (!s.ok()) s.message = id() + ": " + s.message;
    return s;
  }

 private:
  RunFn run_;
  WorkspaceFn workspace_;
};

}  // namespace dsbench::cpu
