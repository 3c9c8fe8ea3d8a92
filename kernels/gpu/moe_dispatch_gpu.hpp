// Launchers of the portable MoE dispatch (permute with the fused 1x128 FP8 cast) and combine
// (moe_dispatch_gpu_kernel.cuh): one device, or expert parallelism through the params' communicator
// (dsb_comm: NCCL on CUDA, RCCL on HIP). Shared by CUDA and HIP; free of vendor types.
#pragma once

#include <cstddef>

#include "dsbench/ops.h"
#include "dsbench/status.hpp"

namespace dsbench::gpu {

size_t moe_dispatch_gpu_workspace(const dsb_moe_dispatch_params& p);
size_t moe_combine_gpu_workspace(const dsb_moe_combine_params& p);
// stream: the backend's native stream. One device: enqueue only. More than one rank: the host waits
// for the exchanged counts (twice per call), so the call returns with the records exchange enqueued.
Status moe_dispatch_gpu(const dsb_moe_dispatch_params& p, void* workspace, void* stream);
Status moe_combine_gpu(const dsb_moe_combine_params& p, void* workspace, void* stream);

}  // namespace dsbench::gpu
