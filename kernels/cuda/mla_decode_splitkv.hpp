// Flash-decoding MLA for NVIDIA GPUs (sm_80 and later): tensor-core mma.sync for q.k^T and p.v, the
// KV range of each sequence split over blocks (the split count chosen from the SM count), FP32
// partial outputs and log-sum-exps in the workspace, and a combine kernel. run() enqueues both
// kernels, so every timing of `cuda.mla_decode.splitkv` includes the combine.
#pragma once

#include <cstddef>
#include <string>

#include "dsbench/ops.h"
#include "dsbench/status.hpp"

namespace dsbench::cuda {

struct MlaSplitPlan {
  int32_t row_tiles;        // 16-row tiles of the s_q * h_q / h_kv query rows sharing a KV head
  int32_t num_splits;       // pieces each sequence's pages are cut into
  int32_t pages_per_split;  // logical pages per piece (the last may be short or empty)
  size_t workspace_bytes;   // num_splits x (b*s_q*h_q) x (d_v + 1) FP32
};

// The same plan for workspace_bytes() and run(): it depends only on the scalars and the SM count.
MlaSplitPlan mla_splitkv_plan(const dsb_mla_decode_params& p, int sm_count);

// Shared memory one block needs (above the default 48 KiB: the kernel opts in).
size_t mla_splitkv_smem_bytes();

// Empty when the kernel takes these scalars; otherwise why not (page size, dims, heads).
std::string mla_splitkv_refusal(const dsb_mla_decode_params& p);

// stream: cudaStream_t. workspace: plan.workspace_bytes of device memory.
Status mla_decode_splitkv(const dsb_mla_decode_params& p, void* workspace, void* stream);

}  // namespace dsbench::cuda
