// Split-KV ("flash-decoding") MLA decode over a paged latent cache, for 576-dim keys, 512-dim values
// and 64-token pages (kernels/cuda/mla_decode_splitkv.hpp, docs/ops/mla_decode.md#kernels).
//
// One block of 4 warps takes 16 query rows that share a KV head (heads x queries of one sequence:
// MLA's h_q heads all read the same latent cache, which is what makes decode compute-bound at large
// h_q) and one piece of the sequence's pages. Per 64-token page:
//   1. the page is copied to shared memory (cp.async for BF16; FP8 codes are decoded to BF16 with
//      their group's scale on the way), slots past the sequence's end are zero and never read;
//   2. warp w forms the scores of tokens 16w..16w+15 for all 16 rows with mma.sync (q in shared
//      memory, 36 k-steps), scaled to log2 units and masked past each row's visible count;
//   3. the block agrees on each row's running maximum and sum through shared memory; the softmax
//      weights go to shared memory as BF16 (FlashMLA's design, within the op's tolerance);
//   4. warp w accumulates output dims 128w..128w+127 of the 16 rows with mma.sync (p . v, 4 k-steps).
// A piece writes its normalised FP32 output and natural log-sum-exp to the workspace; the combine
// kernel merges the pieces of every row, rounds out to BF16 and writes lse (+inf for no key).
// Contract violations met on the device (a length beyond the block table, a page index outside the
// cache) poison the rows concerned with NaN instead of reading out of bounds.
#include "kernels/cuda/mla_decode_splitkv.hpp"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/mla_decode_splitkv_kernel.cuh"
#include "kernels/gpu/gpu_portability.hpp"

namespace dsbench::cuda {
using namespace splitkv;

size_t mla_splitkv_smem_bytes() { return sizeof(Smem); }

std::string mla_splitkv_refusal(const dsb_mla_decode_params& p) {
  if (p.d_qk != kDqk || p.d_v != kDv)
    return "d_qk = " + std::to_string(p.d_qk) + ", d_v = " + std::to_string(p.d_v) +
           ": this kernel is built for DeepSeek's 576 / 512";
  if (p.page_block_size != kPage)
    return "page_block_size " + std::to_string(p.page_block_size) + ": this kernel loads whole 64-token pages";
  if (p.h_kv < 1 || p.h_q < 1 || p.h_q % p.h_kv != 0)
    return "h_q = " + std::to_string(p.h_q) + " is not a positive multiple of h_kv = " + std::to_string(p.h_kv);
  if (p.kv_dtype != DSB_DTYPE_BF16 && p.kv_dtype != DSB_DTYPE_E4M3FN)
    return std::string("kv_dtype ") + dsb_dtype_name(p.kv_dtype) + ": bf16 or e4m3fn (the 656-byte token) only";
  if (p.b < 0 || p.s_q < 0 || p.max_blocks_per_seq < 0 || p.num_blocks < 0) return "negative sizes";
  return "";
}

MlaSplitPlan mla_splitkv_plan(const dsb_mla_decode_params& p, int sm_count) {
  MlaSplitPlan plan{};
  const int64_t rows_here = static_cast<int64_t>(p.s_q) * (p.h_kv > 0 ? p.h_q / p.h_kv : 0);
  plan.row_tiles = static_cast<int32_t>((rows_here + kRows - 1) / kRows);
  const int64_t base = static_cast<int64_t>(p.b) * p.h_kv * plan.row_tiles;  // blocks without a split
  // Two resident blocks per SM (~96 KiB of shared memory each): split until one wave is full, never
  // into more pieces than a sequence can have pages, and at most 64 (the combine reads them all).
  const int64_t target = 2 * static_cast<int64_t>(std::max(sm_count, 1));
  int64_t splits = base > 0 ? (target + base - 1) / base : 1;
  splits = std::clamp<int64_t>(splits, 1, std::min<int64_t>(64, std::max<int32_t>(p.max_blocks_per_seq, 1)));
  plan.pages_per_split = static_cast<int32_t>((p.max_blocks_per_seq + splits - 1) / splits);
  plan.num_splits = plan.pages_per_split > 0
                        ? static_cast<int32_t>((p.max_blocks_per_seq + plan.pages_per_split - 1) / plan.pages_per_split)
                        : 1;
  const int64_t rows_total = static_cast<int64_t>(p.b) * p.s_q * p.h_q;
  plan.workspace_bytes = static_cast<size_t>(plan.num_splits) * rows_total * (kDv + 1) * sizeof(float);
  return plan;
}

Status mla_decode_splitkv(const dsb_mla_decode_params& p, void* workspace, void* stream) {
  if (const std::string why = mla_splitkv_refusal(p); !why.empty()) return Status::error(DSB_STATUS_NOT_SUPPORTED, why);
  const int64_t rows_total = static_cast<int64_t>(p.b) * p.s_q * p.h_q;
  if (rows_total == 0) return Status::success();
  int dev = 0, sms = 0;
  DSB_GPU_CHECK(cudaGetDevice(&dev));
  DSB_GPU_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  const MlaSplitPlan plan = mla_splitkv_plan(p, sms);
  const int64_t blocks = static_cast<int64_t>(p.b) * p.h_kv * plan.row_tiles;
  if (blocks > 0x7fffffff || rows_total > 0x7fffffff)
    return Status::error(DSB_STATUS_NOT_SUPPORTED, "grid limit: b*h_kv*row_tiles and b*s_q*h_q below 2^31");
  if (workspace == nullptr) return Status::error(DSB_STATUS_INVALID_ARGUMENT, "split-KV MLA decode needs its workspace");
  const Args a = make_args(p, plan, workspace);
  const size_t smem = sizeof(Smem);
  DSB_GPU_CHECK(cudaFuncSetAttribute(mla_splitkv_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  mla_splitkv_kernel<<<dim3(static_cast<unsigned>(blocks), static_cast<unsigned>(plan.num_splits)), kThreads, smem, s>>>(a);
  DSB_GPU_CHECK_LAUNCH();
  mla_splitkv_combine<<<static_cast<unsigned>(rows_total), kThreads, 0, s>>>(a);
  DSB_GPU_CHECK_LAUNCH();
  return Status::success();
}

}  // namespace dsbench::cuda
