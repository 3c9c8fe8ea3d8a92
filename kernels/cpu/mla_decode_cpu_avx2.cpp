// The AVX2/FMA set of CPU MLA decode routines (mla_decode_cpu_microkernel.hpp), compiled with a target
// attribute and used only when the CPU has AVX2 and FMA. Dot products keep one accumulator per
// (row, key) pair over d and reduce 8 of them at once; values are multiplied in 4 x 16 (FP32) or
// 8 x 8 (BF16, converted in registers) register blocks.
#if defined(__x86_64__)
#include "kernels/cpu/mla_decode_cpu_simd.hpp"

namespace dsbench::cpu::mla_detail {
namespace {

#define DSB_AVX2 __attribute__((target("avx2,fma")))

DSB_AVX2 inline __m256i mask8(int n) {  // lanes [0, n) set
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

DSB_AVX2 inline __m256 bf16x8(__m128i h) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); }

// Eight elements as FP32; the _tail forms read only the first n < 8 (AVX2 has no masked 16-bit load).
DSB_AVX2 inline __m256 load8(const float* p) { return _mm256_loadu_ps(p); }
DSB_AVX2 inline __m256 load8(const uint16_t* p) { return bf16x8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
DSB_AVX2 inline __m256 load8_tail(const float* p, int n) { return _mm256_maskload_ps(p, mask8(n)); }
DSB_AVX2 inline __m256 load8_tail(const uint16_t* p, int n) {
  alignas(16) uint16_t tmp[8] = {};
  std::memcpy(tmp, p, 2 * static_cast<size_t>(n));
  return bf16x8(_mm_load_si128(reinterpret_cast<const __m128i*>(tmp)));
}

DSB_AVX2 void bf16_to_f32_avx2(const uint16_t* src, int64_t ld_src, int n, int len, float* dst, int64_t ld_dst) {
  for (int j = 0; j < n; ++j) {
    const uint16_t* s = src + j * ld_src;
    float* o = dst + j * ld_dst;
    int d = 0;
    for (; d + 8 <= len; d += 8) _mm256_storeu_ps(o + d, load8(s + d));
    for (; d < len; ++d) o[d] = bf16_to_f32(s[d]);
  }
}

// Eight E4M3FN codes (one per 32-bit lane) to FP32, exactly, without relying on denormal arithmetic.
DSB_AVX2 inline __m256 e4m3x8(__m256i x) {
  const __m256i mag = _mm256_and_si256(x, _mm256_set1_epi32(0x7f));
  const __m256i sign = _mm256_slli_epi32(_mm256_and_si256(x, _mm256_set1_epi32(0x80)), 24);
  // Normal codes: exponent + 120 rebiases 7 to 127, the 3 mantissa bits move to the top of FP32's.
  const __m256i normal = _mm256_add_epi32(_mm256_slli_epi32(mag, 20), _mm256_set1_epi32(120 << 23));
  const __m256 sub = _mm256_mul_ps(_mm256_cvtepi32_ps(mag), _mm256_set1_ps(1.0f / 512));  // m * 2^-9
  const __m256i is_sub = _mm256_cmpgt_epi32(_mm256_set1_epi32(8), mag);
  __m256 v = _mm256_blendv_ps(_mm256_castsi256_ps(normal), sub, _mm256_castsi256_ps(is_sub));
  v = _mm256_or_ps(v, _mm256_castsi256_ps(sign));
  const __m256i is_nan = _mm256_cmpeq_epi32(mag, _mm256_set1_epi32(0x7f));
  return _mm256_blendv_ps(v, _mm256_set1_ps(NAN), _mm256_castsi256_ps(is_nan));
}

DSB_AVX2 void fp8_to_f32_avx2(const uint8_t* src, int64_t ld_src, int n, float* dst, int64_t ld_dst) {
  for (int j = 0; j < n; ++j) {
    const uint8_t* tok = src + j * ld_src;
    float* out = dst + j * ld_dst;
    for (int g = 0; g < kMlaFp8Groups; ++g) {
      const __m256 s = _mm256_set1_ps(fp8_token_scale(tok, g));
      for (int d = g * kMlaFp8GroupDims; d < (g + 1) * kMlaFp8GroupDims; d += 8) {
        const __m128i c = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(tok + d));
        _mm256_storeu_ps(out + d, _mm256_mul_ps(e4m3x8(_mm256_cvtepu8_epi32(c)), s));
      }
    }
    const auto* rope = reinterpret_cast<const uint16_t*>(tok + kMlaFp8RopeOffset);
    for (int d = 0; d < kMlaFp8RopeDims; d += 8) _mm256_storeu_ps(out + kMlaFp8NopeDims + d, load8(rope + d));
  }
}

// Lane i of the result is the sum of the lanes of v[i].
DSB_AVX2 inline __m256 reduce8(const __m256* v) {
  const __m256 a01 = _mm256_hadd_ps(v[0], v[1]), a23 = _mm256_hadd_ps(v[2], v[3]);
  const __m256 a45 = _mm256_hadd_ps(v[4], v[5]), a67 = _mm256_hadd_ps(v[6], v[7]);
  const __m256 b0 = _mm256_hadd_ps(a01, a23), b1 = _mm256_hadd_ps(a45, a67);
  return _mm256_add_ps(_mm256_permute2f128_ps(b0, b1, 0x20), _mm256_permute2f128_ps(b0, b1, 0x31));
}

// s[R x N], R * N <= 8: accumulator r * N + t holds (row r, key t).
template <class T, int R, int N>
DSB_AVX2 void qk_block_avx2(const float* q, int64_t ldq, const T* k, int64_t ldk, int d, float* s, int64_t lds) {
  __m256 acc[8];
  DSB_UNROLL
  for (int i = 0; i < 8; ++i) acc[i] = _mm256_setzero_ps();
  int c = 0;
  for (; c + 8 <= d; c += 8) {
    __m256 qv[R];
    DSB_UNROLL
    for (int r = 0; r < R; ++r) qv[r] = _mm256_loadu_ps(q + r * ldq + c);
    DSB_UNROLL
    for (int t = 0; t < N; ++t) {
      const __m256 kv = load8(k + t * ldk + c);
      DSB_UNROLL
      for (int r = 0; r < R; ++r) acc[r * N + t] = _mm256_fmadd_ps(qv[r], kv, acc[r * N + t]);
    }
  }
  if (c < d) {
    __m256 qv[R];
    DSB_UNROLL
    for (int r = 0; r < R; ++r) qv[r] = load8_tail(q + r * ldq + c, d - c);
    DSB_UNROLL
    for (int t = 0; t < N; ++t) {
      const __m256 kv = load8_tail(k + t * ldk + c, d - c);
      DSB_UNROLL
      for (int r = 0; r < R; ++r) acc[r * N + t] = _mm256_fmadd_ps(qv[r], kv, acc[r * N + t]);
    }
  }
  alignas(32) float sums[8];
  _mm256_store_ps(sums, reduce8(acc));
  DSB_UNROLL
  for (int r = 0; r < R; ++r)
    DSB_UNROLL
    for (int t = 0; t < N; ++t) s[r * lds + t] = sums[r * N + t];
}

template <class T>
DSB_AVX2 void qk_avx2(const float* q, int64_t ldq, int rows, const T* k, int64_t ldk, int n, int d, float* s,
                      int64_t lds) {
  using Block = void (*)(const float*, int64_t, const T*, int64_t, int, float*, int64_t);
  static constexpr Block kSmall[2][4] = {
      {qk_block_avx2<T, 1, 1>, qk_block_avx2<T, 1, 2>, qk_block_avx2<T, 1, 3>, qk_block_avx2<T, 1, 4>},
      {qk_block_avx2<T, 2, 1>, qk_block_avx2<T, 2, 2>, qk_block_avx2<T, 2, 3>, qk_block_avx2<T, 2, 4>}};
  int j = 0;
  if (rows == 1)  // one row: 8 keys per block, so the reduction is not wasted on empty accumulators
    for (; j + 8 <= n; j += 8) qk_block_avx2<T, 1, 8>(q, ldq, k + j * ldk, ldk, d, s + j, lds);
  for (; j < n; j += 4)  // keys outer: a block of keys stays in L1 while the rows pass
    for (int r = 0; r < rows; r += 2)
      kSmall[std::min(2, rows - r) - 1][std::min(4, n - j) - 1](q + r * ldq, ldq, k + j * ldk, ldk, d,
                                                               s + r * lds + j, lds);
}

// R rows x 8X columns of accumulators over all n keys, then a masked 8-column tail.
template <class T, int R, int X>
DSB_AVX2 void pv_rows_avx2(const float* p, int64_t ldp, int n, const T* v, int64_t ldv, int dv, float* o,
                           int64_t ldo) {
  int c = 0;
  for (; c + 8 * X <= dv; c += 8 * X) {
    __m256 acc[R][X];
    DSB_UNROLL
    for (int r = 0; r < R; ++r)
      DSB_UNROLL
      for (int x = 0; x < X; ++x) acc[r][x] = _mm256_loadu_ps(o + r * ldo + c + 8 * x);
    for (int j = 0; j < n; ++j) {
      __m256 vv[X];
      DSB_UNROLL
      for (int x = 0; x < X; ++x) vv[x] = load8(v + j * ldv + c + 8 * x);
      DSB_UNROLL
      for (int r = 0; r < R; ++r) {
        const __m256 w = _mm256_broadcast_ss(p + r * ldp + j);
        DSB_UNROLL
        for (int x = 0; x < X; ++x) acc[r][x] = _mm256_fmadd_ps(w, vv[x], acc[r][x]);
      }
    }
    DSB_UNROLL
    for (int r = 0; r < R; ++r)
      DSB_UNROLL
      for (int x = 0; x < X; ++x) _mm256_storeu_ps(o + r * ldo + c + 8 * x, acc[r][x]);
  }
  for (; c < dv; c += 8) {
    const int w = std::min(8, dv - c);
    const __m256i m = mask8(w);
    __m256 acc[R];
    DSB_UNROLL
    for (int r = 0; r < R; ++r) acc[r] = _mm256_maskload_ps(o + r * ldo + c, m);
    for (int j = 0; j < n; ++j) {
      const __m256 vv = w == 8 ? load8(v + j * ldv + c) : load8_tail(v + j * ldv + c, w);
      DSB_UNROLL
      for (int r = 0; r < R; ++r) acc[r] = _mm256_fmadd_ps(_mm256_broadcast_ss(p + r * ldp + j), vv, acc[r]);
    }
    DSB_UNROLL
    for (int r = 0; r < R; ++r) _mm256_maskstore_ps(o + r * ldo + c, m, acc[r]);
  }
}

// FP32 values: 4 rows x 16 columns. BF16 values: 8 rows x 8 columns, so each value is converted
// once per 8 rows.
template <class T, int RB = std::is_same<T, float>::value ? 4 : 8, int X = std::is_same<T, float>::value ? 2 : 1>
DSB_AVX2 void pv_avx2(const float* p, int64_t ldp, int rows, int n, const T* v, int64_t ldv, int dv, float* o,
                      int64_t ldo) {
  using Rows = void (*)(const float*, int64_t, int, const T*, int64_t, int, float*, int64_t);
  static constexpr Rows kRows[8] = {pv_rows_avx2<T, 1, X>, pv_rows_avx2<T, 2, X>, pv_rows_avx2<T, 3, X>,
                                    pv_rows_avx2<T, 4, X>, pv_rows_avx2<T, 5, X>, pv_rows_avx2<T, 6, X>,
                                    pv_rows_avx2<T, 7, X>, pv_rows_avx2<T, 8, X>};
  for (int r = 0; r < rows; r += RB) kRows[std::min(RB, rows - r) - 1](p + r * ldp, ldp, n, v, ldv, dv, o + r * ldo, ldo);
}

// 2^y for y <= 0: n = round(y), 2^(y-n) by the polynomial, 2^n through the exponent bits.
DSB_AVX2 inline __m256 exp2x8(__m256 y) {
  y = _mm256_max_ps(_mm256_set1_ps(-126.0f), y);  // max returns its second operand for NaN: NaN stays
  const __m256 n = _mm256_round_ps(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256 f = _mm256_sub_ps(y, n);
  __m256 p = _mm256_set1_ps(kExp2P[0]);
  DSB_UNROLL
  for (int i = 1; i < 6; ++i) p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(kExp2P[i]));
  p = _mm256_fmadd_ps(p, f, _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

DSB_AVX2 float exp2_sum_avx2(float* x, int n, float m) {
  const __m256 mv = _mm256_set1_ps(m);
  __m256 sum = _mm256_setzero_ps();
  int j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 e = exp2x8(_mm256_sub_ps(_mm256_loadu_ps(x + j), mv));
    _mm256_storeu_ps(x + j, e);
    sum = _mm256_add_ps(sum, e);
  }
  if (j < n) {
    const __m256i mk = mask8(n - j);
    const __m256 e = _mm256_and_ps(exp2x8(_mm256_sub_ps(_mm256_maskload_ps(x + j, mk), mv)), _mm256_castsi256_ps(mk));
    _mm256_maskstore_ps(x + j, mk, e);
    sum = _mm256_add_ps(sum, e);
  }
  const __m128 h = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps(sum, 1));
  const __m128 q = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(q, _mm_shuffle_ps(q, q, 1)));
}

}  // namespace

const MlaKernels kMlaAvx2{"avx2", bf16_to_f32_avx2, fp8_to_f32_avx2, qk_avx2<float>, qk_avx2<uint16_t>, nullptr,
                          pv_avx2<float>, pv_avx2<uint16_t>, exp2_sum_avx2};

}  // namespace dsbench::cpu::mla_detail
#endif  // __x86_64__
