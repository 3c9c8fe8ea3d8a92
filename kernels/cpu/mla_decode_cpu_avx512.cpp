// The AVX-512 sets of CPU MLA decode routines (mla_decode_cpu_microkernel.hpp): AVX-512F/BW/VL/DQ,
// and the same plus BF16 dot products for BF16 keys. Dot products keep one accumulator per
// (row, key) pair over d and reduce 16 of them at once with a transposing tree (blocks of 1 x 16,
// 2 x 8 or 4 x 4 rows x keys); values are multiplied in 4 x 64 (FP32) or 8 x 32 (BF16, converted
// in registers) register blocks.
#if defined(__x86_64__)
#include "kernels/cpu/mla_decode_cpu_simd.hpp"

namespace dsbench::cpu::mla_detail {
namespace {

#define DSB_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))
#define DSB_AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16,avx2,fma")))

DSB_AVX512 inline __mmask16 mask16(int n) { return n >= 16 ? __mmask16(0xffff) : static_cast<__mmask16>((1u << n) - 1); }
DSB_AVX512 inline __m512 bf16x16(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }

// Sixteen elements as FP32 (lanes outside the mask are 0 and not read).
DSB_AVX512 inline __m512 load16(const float* p) { return _mm512_loadu_ps(p); }
DSB_AVX512 inline __m512 load16(const uint16_t* p) { return bf16x16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
DSB_AVX512 inline __m512 load16(const float* p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
DSB_AVX512 inline __m512 load16(const uint16_t* p, __mmask16 m) { return bf16x16(_mm256_maskz_loadu_epi16(m, p)); }

DSB_AVX512 void bf16_to_f32_avx512(const uint16_t* src, int64_t ld_src, int n, int len, float* dst, int64_t ld_dst) {
  for (int j = 0; j < n; ++j)
    for (int d = 0; d < len; d += 16) {
      const __mmask16 m = mask16(len - d);
      _mm512_mask_storeu_ps(dst + j * ld_dst + d, m, load16(src + j * ld_src + d, m));
    }
}

DSB_AVX512 inline __m512 e4m3x16(__m512i x) {  // as e4m3x8
  const __m512i mag = _mm512_and_si512(x, _mm512_set1_epi32(0x7f));
  const __m512i sign = _mm512_slli_epi32(_mm512_and_si512(x, _mm512_set1_epi32(0x80)), 24);
  const __m512i normal = _mm512_add_epi32(_mm512_slli_epi32(mag, 20), _mm512_set1_epi32(120 << 23));
  const __m512 sub = _mm512_mul_ps(_mm512_cvtepi32_ps(mag), _mm512_set1_ps(1.0f / 512));
  __m512 v = _mm512_mask_blend_ps(_mm512_cmplt_epi32_mask(mag, _mm512_set1_epi32(8)), _mm512_castsi512_ps(normal), sub);
  v = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(v), sign));
  return _mm512_mask_blend_ps(_mm512_cmpeq_epi32_mask(mag, _mm512_set1_epi32(0x7f)), v, _mm512_set1_ps(NAN));
}

DSB_AVX512 void fp8_to_f32_avx512(const uint8_t* src, int64_t ld_src, int n, float* dst, int64_t ld_dst) {
  for (int j = 0; j < n; ++j) {
    const uint8_t* tok = src + j * ld_src;
    float* out = dst + j * ld_dst;
    for (int g = 0; g < kMlaFp8Groups; ++g) {
      const __m512 s = _mm512_set1_ps(fp8_token_scale(tok, g));
      for (int d = g * kMlaFp8GroupDims; d < (g + 1) * kMlaFp8GroupDims; d += 16) {
        const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(tok + d));
        _mm512_storeu_ps(out + d, _mm512_mul_ps(e4m3x16(_mm512_cvtepu8_epi32(c)), s));
      }
    }
    const auto* rope = reinterpret_cast<const uint16_t*>(tok + kMlaFp8RopeOffset);
    for (int d = 0; d < kMlaFp8RopeDims; d += 16) _mm512_storeu_ps(out + kMlaFp8NopeDims + d, load16(rope + d));
  }
}

// Lane i of the result is the sum of the lanes of v[i]: pairs within 128-bit lanes, then pairs of
// 64-bit halves, then the four 128-bit lanes.
DSB_AVX512 inline __m512 reduce16(const __m512* v) {
  __m512 w[8], x[4];
  DSB_UNROLL
  for (int k = 0; k < 8; ++k)
    w[k] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * k], v[2 * k + 1]), _mm512_unpackhi_ps(v[2 * k], v[2 * k + 1]));
  DSB_UNROLL
  for (int k = 0; k < 4; ++k) {
    const __m512d a = _mm512_castps_pd(w[2 * k]), b = _mm512_castps_pd(w[2 * k + 1]);
    x[k] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
  }
  const __m512 y0 = _mm512_add_ps(_mm512_shuffle_f32x4(x[0], x[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                  _mm512_shuffle_f32x4(x[0], x[1], _MM_SHUFFLE(3, 1, 3, 1)));
  const __m512 y1 = _mm512_add_ps(_mm512_shuffle_f32x4(x[2], x[3], _MM_SHUFFLE(2, 0, 2, 0)),
                                  _mm512_shuffle_f32x4(x[2], x[3], _MM_SHUFFLE(3, 1, 3, 1)));
  return _mm512_add_ps(_mm512_shuffle_f32x4(y0, y1, _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(y0, y1, _MM_SHUFFLE(3, 1, 3, 1)));
}

template <int R, int N>
DSB_AVX512 inline void store_block(const __m512* acc, float* s, int64_t lds) {
  alignas(64) float sums[16];
  _mm512_store_ps(sums, reduce16(acc));
  DSB_UNROLL
  for (int r = 0; r < R; ++r)
    DSB_UNROLL
    for (int t = 0; t < N; ++t) s[r * lds + t] = sums[r * N + t];
}

// s[R x N], R * N <= 16: accumulator r * N + t holds (row r, key t); k FP32 or BF16.
template <class T, int R, int N>
DSB_AVX512 void qk_block_avx512(const float* q, int64_t ldq, const T* k, int64_t ldk, int d, float* s, int64_t lds) {
  __m512 acc[16];
  DSB_UNROLL
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_setzero_ps();
  for (int c = 0; c < d; c += 16) {
    const __mmask16 m = mask16(d - c);
    __m512 qv[R];
    DSB_UNROLL
    for (int r = 0; r < R; ++r) qv[r] = load16(q + r * ldq + c, m);
    DSB_UNROLL
    for (int t = 0; t < N; ++t) {
      const __m512 kv = load16(k + t * ldk + c, m);
      DSB_UNROLL
      for (int r = 0; r < R; ++r) acc[r * N + t] = _mm512_fmadd_ps(qv[r], kv, acc[r * N + t]);
    }
  }
  store_block<R, N>(acc, s, lds);
}

// The same with BF16 q: vdpbf16ps multiplies pairs exactly and adds them in FP32.
template <int R, int N>
DSB_AVX512BF16 void qk_block_bf16(const uint16_t* q, int64_t ldq, const uint16_t* k, int64_t ldk, int d, float* s,
                                  int64_t lds) {
  __m512 acc[16];
  DSB_UNROLL
  for (int i = 0; i < 16; ++i) acc[i] = _mm512_setzero_ps();
  for (int c = 0; c < d; c += 32) {
    const __mmask32 m = d - c >= 32 ? __mmask32(0xffffffffu) : static_cast<__mmask32>((1u << (d - c)) - 1);
    __m512i qv[R];
    DSB_UNROLL
    for (int r = 0; r < R; ++r) qv[r] = _mm512_maskz_loadu_epi16(m, q + r * ldq + c);
    DSB_UNROLL
    for (int t = 0; t < N; ++t) {
      const __m512i kv = _mm512_maskz_loadu_epi16(m, k + t * ldk + c);
      DSB_UNROLL
      for (int r = 0; r < R; ++r) acc[r * N + t] = _mm512_dpbf16_ps(acc[r * N + t], (__m512bh)qv[r], (__m512bh)kv);
    }
  }
  store_block<R, N>(acc, s, lds);
}

// Blocks of 1 x 16, 2 x 8 or 4 x 4 (rows x keys) fill the 16 accumulators; the key tail of a chunk
// takes the 4 x 4 table.
template <class Q, class T>
struct QkBlocks {
  using Block = void (*)(const Q*, int64_t, const T*, int64_t, int, float*, int64_t);
  Block one_by_16, two_by_8;
  Block small[4][4];  // [rows - 1][keys - 1]
};

template <class Q, class T>
void qk_blocks(const QkBlocks<Q, T>& b, const Q* q, int64_t ldq, int rows, const T* k, int64_t ldk, int n, int d,
               float* s, int64_t lds) {
  int j = 0;
  if (rows == 1)
    for (; j + 16 <= n; j += 16) b.one_by_16(q, ldq, k + j * ldk, ldk, d, s + j, lds);
  if (rows == 2)
    for (; j + 8 <= n; j += 8) b.two_by_8(q, ldq, k + j * ldk, ldk, d, s + j, lds);
  for (; j < n; j += 4)  // keys outer: a block of 4 keys stays in L1 while the rows pass
    for (int r = 0; r < rows; r += 4)
      b.small[std::min(4, rows - r) - 1][std::min(4, n - j) - 1](q + r * ldq, ldq, k + j * ldk, ldk, d,
                                                                s + r * lds + j, lds);
}

template <class T>
constexpr QkBlocks<float, T> kQkAvx512{
    qk_block_avx512<T, 1, 16>, qk_block_avx512<T, 2, 8>,
    {{qk_block_avx512<T, 1, 1>, qk_block_avx512<T, 1, 2>, qk_block_avx512<T, 1, 3>, qk_block_avx512<T, 1, 4>},
     {qk_block_avx512<T, 2, 1>, qk_block_avx512<T, 2, 2>, qk_block_avx512<T, 2, 3>, qk_block_avx512<T, 2, 4>},
     {qk_block_avx512<T, 3, 1>, qk_block_avx512<T, 3, 2>, qk_block_avx512<T, 3, 3>, qk_block_avx512<T, 3, 4>},
     {qk_block_avx512<T, 4, 1>, qk_block_avx512<T, 4, 2>, qk_block_avx512<T, 4, 3>, qk_block_avx512<T, 4, 4>}}};
constexpr QkBlocks<uint16_t, uint16_t> kQkBf16{
    qk_block_bf16<1, 16>, qk_block_bf16<2, 8>,
    {{qk_block_bf16<1, 1>, qk_block_bf16<1, 2>, qk_block_bf16<1, 3>, qk_block_bf16<1, 4>},
     {qk_block_bf16<2, 1>, qk_block_bf16<2, 2>, qk_block_bf16<2, 3>, qk_block_bf16<2, 4>},
     {qk_block_bf16<3, 1>, qk_block_bf16<3, 2>, qk_block_bf16<3, 3>, qk_block_bf16<3, 4>},
     {qk_block_bf16<4, 1>, qk_block_bf16<4, 2>, qk_block_bf16<4, 3>, qk_block_bf16<4, 4>}}};

template <class T>
void qk_avx512(const float* q, int64_t ldq, int rows, const T* k, int64_t ldk, int n, int d, float* s, int64_t lds) {
  qk_blocks(kQkAvx512<T>, q, ldq, rows, k, ldk, n, d, s, lds);
}
void qk_bf16_avx512(const uint16_t* q, int64_t ldq, int rows, const uint16_t* k, int64_t ldk, int n, int d, float* s,
                    int64_t lds) {
  qk_blocks(kQkBf16, q, ldq, rows, k, ldk, n, d, s, lds);
}

// R rows x 16X columns of accumulators over all n keys (the value slice stays in L1), then masked
// 16-column steps.
template <class T, int R, int X>
DSB_AVX512 void pv_rows_avx512(const float* p, int64_t ldp, int n, const T* v, int64_t ldv, int dv, float* o,
                               int64_t ldo) {
  int c = 0;
  for (; c + 16 * X <= dv; c += 16 * X) {
    __m512 acc[R][X];
    DSB_UNROLL
    for (int r = 0; r < R; ++r)
      DSB_UNROLL
      for (int x = 0; x < X; ++x) acc[r][x] = _mm512_loadu_ps(o + r * ldo + c + 16 * x);
    for (int j = 0; j < n; ++j) {
      __m512 vv[X];
      DSB_UNROLL
      for (int x = 0; x < X; ++x) vv[x] = load16(v + j * ldv + c + 16 * x);
      DSB_UNROLL
      for (int r = 0; r < R; ++r) {
        const __m512 w = _mm512_set1_ps(p[r * ldp + j]);
        DSB_UNROLL
        for (int x = 0; x < X; ++x) acc[r][x] = _mm512_fmadd_ps(w, vv[x], acc[r][x]);
      }
    }
    DSB_UNROLL
    for (int r = 0; r < R; ++r)
      DSB_UNROLL
      for (int x = 0; x < X; ++x) _mm512_storeu_ps(o + r * ldo + c + 16 * x, acc[r][x]);
  }
  for (; c < dv; c += 16) {
    const __mmask16 m = mask16(dv - c);
    __m512 acc[R];
    DSB_UNROLL
    for (int r = 0; r < R; ++r) acc[r] = _mm512_maskz_loadu_ps(m, o + r * ldo + c);
    for (int j = 0; j < n; ++j) {
      const __m512 vv = load16(v + j * ldv + c, m);
      DSB_UNROLL
      for (int r = 0; r < R; ++r) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(p[r * ldp + j]), vv, acc[r]);
    }
    DSB_UNROLL
    for (int r = 0; r < R; ++r) _mm512_mask_storeu_ps(o + r * ldo + c, m, acc[r]);
  }
}

// FP32 values: 4 rows x 64 columns. BF16 values: 8 rows x 32 columns, so each value is converted
// once per 8 rows.
template <class T, int RB = std::is_same<T, float>::value ? 4 : 8, int X = std::is_same<T, float>::value ? 4 : 2>
void pv_avx512(const float* p, int64_t ldp, int rows, int n, const T* v, int64_t ldv, int dv, float* o, int64_t ldo) {
  using Rows = void (*)(const float*, int64_t, int, const T*, int64_t, int, float*, int64_t);
  static constexpr Rows kRows[8] = {pv_rows_avx512<T, 1, X>, pv_rows_avx512<T, 2, X>, pv_rows_avx512<T, 3, X>,
                                    pv_rows_avx512<T, 4, X>, pv_rows_avx512<T, 5, X>, pv_rows_avx512<T, 6, X>,
                                    pv_rows_avx512<T, 7, X>, pv_rows_avx512<T, 8, X>};
  for (int r = 0; r < rows; r += RB) kRows[std::min(RB, rows - r) - 1](p + r * ldp, ldp, n, v, ldv, dv, o + r * ldo, ldo);
}

DSB_AVX512 inline __m512 exp2x16(__m512 y) {  // as exp2x8, with vscalefps for 2^n
  y = _mm512_max_ps(_mm512_set1_ps(-150.0f), y);  // NaN stays; 2^-150 rounds to 0
  const __m512 n = _mm512_roundscale_ps(y, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512 f = _mm512_sub_ps(y, n);
  __m512 p = _mm512_set1_ps(kExp2P[0]);
  DSB_UNROLL
  for (int i = 1; i < 6; ++i) p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(kExp2P[i]));
  p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(1.0f));
  return _mm512_scalef_ps(p, n);
}

DSB_AVX512 float exp2_sum_avx512(float* x, int n, float m) {
  const __m512 mv = _mm512_set1_ps(m);
  __m512 sum = _mm512_setzero_ps();
  for (int j = 0; j < n; j += 16) {
    const __mmask16 k = mask16(n - j);
    const __m512 e = exp2x16(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, x + j), mv));
    _mm512_mask_storeu_ps(x + j, k, e);
    sum = _mm512_mask_add_ps(sum, k, sum, e);
  }
  return _mm512_reduce_add_ps(sum);
}

}  // namespace

const MlaKernels kMlaAvx512{"avx512", bf16_to_f32_avx512, fp8_to_f32_avx512, qk_avx512<float>, qk_avx512<uint16_t>,
                            nullptr, pv_avx512<float>, pv_avx512<uint16_t>, exp2_sum_avx512};
const MlaKernels kMlaAvx512Bf16{"avx512bf16", bf16_to_f32_avx512, fp8_to_f32_avx512, qk_avx512<float>,
                                qk_avx512<uint16_t>, qk_bf16_avx512, pv_avx512<float>, pv_avx512<uint16_t>,
                                exp2_sum_avx512};

}  // namespace dsbench::cpu::mla_detail
#endif  // __x86_64__
