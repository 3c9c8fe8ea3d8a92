// The oracle for the three FP8 block-scaled GEMM variants: dequantise exactly, accumulate in FP64,
// round once to BF16. Plain loops, obviously right; slow by design. Host pointers only.
#pragma once

#include <cstdint>

#include "dsbench/ops.h"

namespace dsbench::ref {

// One output element in FP64 before rounding: sum_k a[k]*sa[k/128] * b[k]*sb[k/128].
// a_row / b_row: k FP8 codes; sa_row / sb_row: k/128 scales of scale_dtype.
double gemm_fp8_dot(const uint8_t* a_row, const void* sa_row, const uint8_t* b_row, const void* sb_row,
                    int64_t k, dsb_dtype ab_dtype, dsb_dtype scale_dtype);

// Full reference runs writing d (BF16). Padding / masked-off rows of d are left untouched.
void gemm_fp8_blockscaled(const dsb_gemm_fp8_blockscaled_params& p);
void gemm_fp8_grouped_contiguous(const dsb_gemm_fp8_grouped_contiguous_params& p);
void gemm_fp8_grouped_masked(const dsb_gemm_fp8_grouped_masked_params& p);

// Where row `row` of a/d lives for each variant, as a dense problem: pointers to its A row, its
// A scales, and the B matrix (with scales) of its group. valid=false for padding/masked-off rows.
struct GemmRowView {
  bool valid = false;
  const uint8_t* a_row = nullptr;
  const void* sa_row = nullptr;
  const uint8_t* b = nullptr;   // [n, k] of the row's group
  const void* sb = nullptr;     // [ceil(n/128), k/128]
};
GemmRowView gemm_row_view(const dsb_gemm_fp8_blockscaled_params& p, int64_t row);
GemmRowView gemm_row_view(const dsb_gemm_fp8_grouped_contiguous_params& p, int64_t row);
GemmRowView gemm_row_view(const dsb_gemm_fp8_grouped_masked_params& p, int64_t row);  // row in [0, G*m_max)

// FP64 value of d[row, col] given a row view (n, k from the params).
double gemm_fp8_element(const GemmRowView& v, int64_t col, int64_t n, int64_t k, dsb_dtype ab_dtype,
                        dsb_dtype scale_dtype);

}  // namespace dsbench::ref
