// The CPU backend's MoE layer (docs/ops/moe_layer.md): the backend's own optimised parts chained
// stage by stage (routing, dispatch with the FP8 cast, the grouped FP8 GEMMs, a fused SiLU-multiply
// -quantise, the shared expert, combine), every intermediate in the workspace so that each stage can
// also run alone for per-stage times. Host pointers only; ranks exchange through the communicator.
#pragma once

#include <cstddef>
#include <string>

#include "dsbench/kernel.hpp"
#include "dsbench/ops.h"

namespace dsbench::cpu {

dsb_status moe_layer_optimized(const dsb_moe_layer_params& p, void* workspace);
size_t moe_layer_optimized_workspace(const dsb_moe_layer_params& p);
// Why this backend's layer kernels cannot run these params ("" if they can).
std::string moe_layer_unsupported(const dsb_moe_layer_params& p);

// The CPU layer kernels: the optimised chain, or the FP64 oracle (reference/moe_layer_reference.hpp),
// which runs the whole layer on one rank only.
class MoeLayerKernel final : public KernelFor<dsb_moe_layer_params> {
 public:
  explicit MoeLayerKernel(bool reference) : KernelFor("cpu", reference ? "reference" : "optimized"), reference_(reference) {}

 protected:
  Support supports(const dsb_moe_layer_params& p, const Device& device) const override;
  size_t workspace_bytes(const dsb_moe_layer_params& p, const Device&) const override;
  Status run(const dsb_moe_layer_params& p, void* workspace, Stream&) const override;

 private:
  bool reference_;
};

}  // namespace dsbench::cpu
