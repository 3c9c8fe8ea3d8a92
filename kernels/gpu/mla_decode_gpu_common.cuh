// Device helpers shared by the GPU MLA decode kernels (portable naive, CUDA split-KV): where a
// sequence's token lives in the paged cache, the visible-key count of a query row, and the guard that
// keeps a kernel from following a bad block_table entry. Both kernels turn a contract violation found
// on the device (negative or too long sequence, page index outside the cache) into NaN outputs for
// the rows concerned: run() cannot return a status without synchronising, the harness validates its
// inputs before a run, and a NaN row fails the check instead of reading out of bounds.
#pragma once

#include <cstdint>

#include "dsbench/ops.h"

namespace dsbench::gpu {

struct MlaGeometry {
  int32_t b, s_q, h_q, h_kv, d_qk, d_v, page, num_blocks, max_blocks;
  int64_t token_bytes;  // 2 * d_qk (BF16) or DSB_MLA_FP8_TOKEN_BYTES
};

// Keys visible to query t of a sequence of `len` tokens (ops.h: causal sees 0 .. len - s_q + t).
__device__ __forceinline__ int64_t mla_visible(int64_t len, int32_t s_q, int32_t t, bool causal) {
  if (!causal) return len;
  const int64_t n = len - s_q + t + 1;
  return n < 0 ? 0 : (n > len ? len : n);
}

// The sequence length if it fits the block table, else -1 (the caller poisons the rows).
__device__ __forceinline__ int64_t mla_checked_len(const MlaGeometry& g, const int32_t* seqlens, int32_t i) {
  const int64_t len = seqlens[i];
  return (len < 0 || len > static_cast<int64_t>(g.max_blocks) * g.page) ? -1 : len;
}

// Physical page of logical page `lp` of sequence i, or -1 when the entry is not a page of the cache.
__device__ __forceinline__ int64_t mla_page(const MlaGeometry& g, const int32_t* block_table, int32_t i, int64_t lp) {
  const int64_t pg = block_table[static_cast<int64_t>(i) * g.max_blocks + lp];
  return (pg < 0 || pg >= g.num_blocks) ? -1 : pg;
}

// First byte of the token in slot `slot` of physical page `pg`, KV head `kvh`.
__device__ __forceinline__ const uint8_t* mla_token(const MlaGeometry& g, const void* cache, int64_t pg,
                                                    int64_t slot, int32_t kvh) {
  return static_cast<const uint8_t*>(cache) + ((pg * g.page + slot) * g.h_kv + kvh) * g.token_bytes;
}

}  // namespace dsbench::gpu
