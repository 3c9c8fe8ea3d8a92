// Launcher of the portable DeepSeek-V3 MoE routing kernel (one 32-lane warp per token: sigmoid or
// softmax scores, group-limited top-k on the biased scores, unbiased normalised weights). Shared by
// CUDA and HIP; the header is free of vendor types so host code and the kernel tables can include it.
#pragma once

#include "dsbench/ops.h"
#include "dsbench/status.hpp"

namespace dsbench::gpu {

// Limits of moe_route_gpu (callers' supports() refuse the rest; the launcher refuses them too).
constexpr int kMoeRouteMaxExperts = 1024;     // 32 lanes x 32 register slots
constexpr int kMoeRouteMaxGroupSize = 32;     // a group's experts share one warp's 32 lanes
constexpr int kMoeRouteMaxTopk = 32;          // one lane per output slot

// Writes topk_idx[t, 0..topk) in descending order of biased score (exact ties: lower expert index
// first) and the matching weights. A null bias counts as zero. num_tokens == 0 launches nothing.
// stream: the backend's native stream (cudaStream_t / hipStream_t). Enqueue only.
Status moe_route_gpu(const dsb_moe_route_params& p, void* stream);

}  // namespace dsbench::gpu
