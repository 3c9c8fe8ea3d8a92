// Launcher of the portable MoE layer for one device (moe_layer_gpu_kernel.cuh): the whole layer or
// one stage alone on a CUDA or HIP stream, its GEMMs through the given GEMM kernels (the naive
// launchers when none is given). Free of vendor types.
#pragma once

#include <cstddef>

#include "dsbench/backend.hpp"
#include "dsbench/kernel.hpp"
#include "dsbench/ops.h"
#include "dsbench/status.hpp"

namespace dsbench::gpu {

// The GEMM kernels a layer chain runs (the backend's own, e.g. cuda.gemm_fp8_*.sm90); all null:
// the portable naive kernels.
struct MoeLayerGemms {
  const Kernel* dense = nullptr;       // the shared expert's two GEMMs
  const Kernel* contiguous = nullptr;  // the experts' GEMMs in the contiguous layout
  const Kernel* masked = nullptr;      // ... in the masked layout
};

// Why the GEMM kernels cannot take this layer's four GEMMs ("" if they can).
std::string moe_layer_gemm_refusal(const dsb_moe_layer_params& p, const MoeLayerGemms& g, const Device& d);
size_t moe_layer_gpu_workspace(const dsb_moe_layer_params& p, const MoeLayerGemms& g, const Device& d);
// Enqueue only.
Status moe_layer_gpu(const dsb_moe_layer_params& p, void* workspace, Stream& stream, const MoeLayerGemms& g);

}  // namespace dsbench::gpu
