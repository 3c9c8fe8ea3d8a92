// Launcher of the portable MoE layer for one device (moe_layer_gpu_kernel.cuh): the whole layer or
// one stage alone on a CUDA or HIP stream. Free of vendor types.
#pragma once

#include <cstddef>

#include "dsbench/ops.h"
#include "dsbench/status.hpp"

namespace dsbench::gpu {

size_t moe_layer_gpu_workspace(const dsb_moe_layer_params& p);
// stream: the backend's native stream. Enqueue only.
Status moe_layer_gpu(const dsb_moe_layer_params& p, void* workspace, void* stream);

}  // namespace dsbench::gpu
