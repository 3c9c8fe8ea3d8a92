// The MLA decode problem (docs/ops/mla_decode.md): tensors, inputs generated as FlashMLA's tests do
// (random q and cache, NaN in every slot past a sequence's length, pages in random physical order,
// unused block_table entries invalid), the full or sampled check, and the cost formulas.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "dsbench/ops.h"
#include "harness/problem.hpp"

namespace dsbench {

// Unused block_table entries (past a sequence's pages): out of range for any cache, so a kernel
// that follows one faults instead of quietly reading a neighbouring page.
constexpr int32_t kMlaInvalidBlock = std::numeric_limits<int32_t>::max();

struct MlaDecodeShape {
  int32_t b = 1, s_q = 1, h_q = 1, h_kv = 1;
  int32_t d_qk = 576, d_v = 512;
  int32_t page_block_size = 64;
  std::vector<int32_t> seqlens;     // [b] tokens per sequence
  int32_t max_blocks_per_seq = 0;   // columns of block_table (>= the longest sequence's pages)
  float softmax_scale = 0.0f;
  bool causal = false;
  dsb_dtype kv_dtype = DSB_DTYPE_BF16;

  // Pages the sequences use, plus one spare all-NaN page per sequence that nothing references.
  int64_t used_blocks() const;
  int32_t num_blocks() const;
};

std::unique_ptr<Problem> make_mla_decode_problem(const MlaDecodeShape& shape);

}  // namespace dsbench
