// The FP8 block-scaled GEMM problem in its three variants (dense, grouped contiguous, grouped
// masked). They share tensors, generation, the sampled check and cost formulas; a variant changes
// only how rows map to groups. docs/ops/gemm_fp8_blockscaled.md has the math and the formulas.
#pragma once

#include <cstdint>
#include <vector>

#include "dsbench/ops.h"
#include "harness/problem.hpp"

namespace dsbench {

struct GemmFp8Shape {
  dsb_op op = DSB_OP_GEMM_FP8_BLOCKSCALED;
  int64_t m = 0, n = 0, k = 0;        // m: rows of a and d (padding included; masked: m_max)
  int32_t num_groups = 1;
  std::vector<int64_t> group_rows;    // valid rows per group (contiguous: before padding; masked: masked_m)
  int64_t alignment = DSB_FP8_BLOCK;  // contiguous: each group's rows padded to a multiple of this
  int64_t expected_m = 0;             // masked: tiling hint
  dsb_dtype ab_dtype = DSB_DTYPE_E4M3FN;
  dsb_dtype scale_dtype = DSB_DTYPE_F32;
  bool accumulation_probe = false;    // dense only: inputs of harness/ops/gemm_fp8_probe.hpp, always checked in full
};

std::unique_ptr<Problem> make_gemm_fp8_problem(const GemmFp8Shape& shape);

}  // namespace dsbench
