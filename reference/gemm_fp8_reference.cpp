#include "reference/gemm_fp8_reference.hpp"

#include <array>

#include "dsbench/numerics/bf16.hpp"
#include "dsbench/numerics/fp8.hpp"

namespace dsbench::ref {
namespace {

// Exact decode table (every FP8 value is a float, hence a double).
const std::array<double, 256>& decode_table(dsb_dtype t) {
  static const auto make = [](dsb_dtype d) {
    std::array<double, 256> tab{};
    for (int c = 0; c < 256; ++c) tab[c] = fp8_decode(static_cast<uint8_t>(c), d);
    return tab;
  };
  static const std::array<double, 256> e4m3fn = make(DSB_DTYPE_E4M3FN), e5m2 = make(DSB_DTYPE_E5M2),
                                       e4m3fnuz = make(DSB_DTYPE_E4M3FNUZ), e5m2fnuz = make(DSB_DTYPE_E5M2FNUZ);
  switch (t) {
    case DSB_DTYPE_E5M2: return e5m2;
    case DSB_DTYPE_E4M3FNUZ: return e4m3fnuz;
    case DSB_DTYPE_E5M2FNUZ: return e5m2fnuz;
    default: return e4m3fn;
  }
}

size_t scale_bytes(dsb_dtype scale_dtype) { return scale_dtype == DSB_DTYPE_UE8M0 ? 1 : 4; }

const void* offset(const void* p, int64_t elems, size_t elem_bytes) {
  return static_cast<const uint8_t*>(p) + elems * static_cast<int64_t>(elem_bytes);
}

template <class P>
void run_rows(const P& p, int64_t rows) {
  auto* d = static_cast<uint16_t*>(p.d);
  for (int64_t r = 0; r < rows; ++r) {
    const GemmRowView v = gemm_row_view(p, r);
    if (!v.valid) continue;
    for (int64_t c = 0; c < p.n; ++c)
      d[r * p.n + c] = bf16_from_f64(gemm_fp8_element(v, c, p.n, p.k, p.ab_dtype, p.scale_dtype));
  }
}

}  // namespace

double gemm_fp8_dot(const uint8_t* a_row, const void* sa_row, const uint8_t* b_row, const void* sb_row,
                    int64_t k, dsb_dtype ab_dtype, dsb_dtype scale_dtype) {
  const auto& tab = decode_table(ab_dtype);
  double acc = 0.0;
  for (int64_t kb = 0; kb < k / DSB_FP8_BLOCK; ++kb) {
    const double sa = scale_value(sa_row, kb, scale_dtype);
    const double sb = scale_value(sb_row, kb, scale_dtype);
    for (int64_t i = kb * DSB_FP8_BLOCK; i < (kb + 1) * DSB_FP8_BLOCK; ++i)
      acc += (tab[a_row[i]] * sa) * (tab[b_row[i]] * sb);
  }
  return acc;
}

double gemm_fp8_element(const GemmRowView& v, int64_t col, int64_t n, int64_t k, dsb_dtype ab_dtype,
                        dsb_dtype scale_dtype) {
  (void)n;
  const int64_t kb = k / DSB_FP8_BLOCK;
  return gemm_fp8_dot(v.a_row, v.sa_row, v.b + col * k, offset(v.sb, (col / DSB_FP8_BLOCK) * kb, scale_bytes(scale_dtype)),
                      k, ab_dtype, scale_dtype);
}

GemmRowView gemm_row_view(const dsb_gemm_fp8_blockscaled_params& p, int64_t row) {
  const size_t sb = scale_bytes(p.scale_dtype);
  return {true, static_cast<const uint8_t*>(p.a) + row * p.k, offset(p.scale_a, row * (p.k / DSB_FP8_BLOCK), sb),
          static_cast<const uint8_t*>(p.b), p.scale_b};
}

GemmRowView gemm_row_view(const dsb_gemm_fp8_grouped_contiguous_params& p, int64_t row) {
  const int32_t g = p.m_indices[row];
  if (g < 0 || g >= p.num_groups) return {};
  const size_t sb = scale_bytes(p.scale_dtype);
  const int64_t kb = p.k / DSB_FP8_BLOCK, nb = (p.n + DSB_FP8_BLOCK - 1) / DSB_FP8_BLOCK;
  return {true, static_cast<const uint8_t*>(p.a) + row * p.k, offset(p.scale_a, row * kb, sb),
          static_cast<const uint8_t*>(p.b) + g * p.n * p.k, offset(p.scale_b, g * nb * kb, sb)};
}

GemmRowView gemm_row_view(const dsb_gemm_fp8_grouped_masked_params& p, int64_t row) {
  const int64_t g = row / p.m_max, r = row % p.m_max;
  if (r >= p.masked_m[g]) return {};
  const size_t sb = scale_bytes(p.scale_dtype);
  const int64_t kb = p.k / DSB_FP8_BLOCK, nb = (p.n + DSB_FP8_BLOCK - 1) / DSB_FP8_BLOCK;
  return {true, static_cast<const uint8_t*>(p.a) + row * p.k, offset(p.scale_a, row * kb, sb),
          static_cast<const uint8_t*>(p.b) + g * p.n * p.k, offset(p.scale_b, g * nb * kb, sb)};
}

void gemm_fp8_blockscaled(const dsb_gemm_fp8_blockscaled_params& p) { run_rows(p, p.m); }
void gemm_fp8_grouped_contiguous(const dsb_gemm_fp8_grouped_contiguous_params& p) { run_rows(p, p.m); }
void gemm_fp8_grouped_masked(const dsb_gemm_fp8_grouped_masked_params& p) { run_rows(p, p.num_groups * p.m_max); }

}  // namespace dsbench::ref
