// Packing (FP8 -> FP32 with the block scale folded in) and register-blocked micro-kernels for the
// CPU FP8 GEMM: an AVX2/FMA set compiled with a target attribute and picked at run time, and a
// portable set that is exact to the same bits (both compute fl32(decode(q) * scale)).
#include "kernels/cpu/gemm_fp8_cpu_microkernel.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>

#include "dsbench/numerics/bf16.hpp"
#include "dsbench/numerics/fp8.hpp"
#include "dsbench/ops.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace dsbench::cpu::gemm_detail {
namespace {

float load_scale(const void* s, int64_t i, dsb_dtype t) { return scale_value(s, i, t); }

// ---- portable -----------------------------------------------------------------------------------

const float* decode_table(dsb_dtype t) {
  static const auto make = [](dsb_dtype d) {
    std::array<float, 256> tab{};
    for (int c = 0; c < 256; ++c) tab[c] = fp8_decode(static_cast<uint8_t>(c), d);
    return tab;
  };
  static const std::array<float, 256> e4m3fn = make(DSB_DTYPE_E4M3FN), e5m2 = make(DSB_DTYPE_E5M2),
                                      e4m3fnuz = make(DSB_DTYPE_E4M3FNUZ), e5m2fnuz = make(DSB_DTYPE_E5M2FNUZ);
  switch (t) {
    case DSB_DTYPE_E5M2: return e5m2.data();
    case DSB_DTYPE_E4M3FNUZ: return e4m3fnuz.data();
    case DSB_DTYPE_E5M2FNUZ: return e5m2fnuz.data();
    default: return e4m3fn.data();
  }
}

void pack_a_portable(const uint8_t* a, int64_t lda, const void* sa, int64_t ldsa, dsb_dtype ab_dtype,
                     dsb_dtype scale_dtype, int rows, int kc, float* ap) {
  const float* tab = decode_table(ab_dtype);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < kc / DSB_FP8_BLOCK; ++j) {
      const float s = load_scale(sa, r * ldsa + j, scale_dtype);
      const uint8_t* src = a + r * lda + j * DSB_FP8_BLOCK;
      float* dst = ap + r * kAStride + j * DSB_FP8_BLOCK;
      for (int k = 0; k < DSB_FP8_BLOCK; ++k) dst[k] = tab[src[k]] * s;
    }
}

void pack_b_portable(const uint8_t* b, int64_t ldb, const void* sb, dsb_dtype ab_dtype, dsb_dtype scale_dtype,
                     int rows, int kc, float* bp) {
  const float* tab = decode_table(ab_dtype);
  for (int k = 0; k < kc; ++k) {
    const float s = load_scale(sb, k / DSB_FP8_BLOCK, scale_dtype);
    for (int j = 0; j < kNr; ++j) bp[k * kNr + j] = j < rows ? tab[b[j * ldb + k]] * s : 0.0f;
  }
}

template <int MR>
void micro_portable(int kc, const float* ap, const float* bp, float* c, int64_t ldc, int flags, uint16_t* d,
                    int64_t ldd, int nv) {
  float acc[MR][kNr] = {};
  for (int k = 0; k < kc; ++k)
    for (int r = 0; r < MR; ++r)
      for (int j = 0; j < kNr; ++j) acc[r][j] += ap[r * kAStride + k] * bp[k * kNr + j];
  for (int r = 0; r < MR; ++r) {
    if (!(flags & kFirst))
      for (int j = 0; j < kNr; ++j) acc[r][j] += c[r * ldc + j];
    if (flags & kLast) {
      for (int j = 0; j < nv; ++j) d[r * ldd + j] = bf16_from_f32(acc[r][j]);
    } else {
      for (int j = 0; j < kNr; ++j) c[r * ldc + j] = acc[r][j];
    }
  }
}

void dot_portable(int rows, int64_t k, const float* ap, const uint8_t* b, int64_t ldb, const void* sb,
                  dsb_dtype ab_dtype, dsb_dtype scale_dtype, int cols, uint16_t* d, int64_t ldd, bool) {
  const float* tab = decode_table(ab_dtype);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < cols; ++j) {
      float acc = 0.0f;
      for (int64_t i = 0; i < k; ++i)
        acc += ap[((i / kKc) * rows + r) * kAStride + i % kKc] *
               (tab[b[j * ldb + i]] * load_scale(sb, i / DSB_FP8_BLOCK, scale_dtype));
      d[r * ldd + j] = bf16_from_f32(acc);
    }
}

#if defined(__x86_64__)
// ---- AVX2 / FMA ---------------------------------------------------------------------------------
#define DSB_AVX2 __attribute__((target("avx2,fma")))

// Table-free FP8 decode: sign-extend the byte and shift it left so the exponent and mantissa land
// in float position; the sign bit falls out of the sign extension. The float read back is the FP8
// value times 2^-(127-bias) (FP8 subnormals become float subnormals, still exact), so one multiply
// by 2^(127-bias) * scale gives fl32(value * scale), the same bits as the portable table path.
// Codes with the top exponent (NaN, E5M2 inf) or FNUZ's 0x80 get an all-ones exponent patched in.
struct DecodeConsts {
  __m128i shift;
  __m256i keep, special_and, special_eq, special_or;
  __m256i byte_and, byte_eq;  // the same special codes, tested on raw bytes: (q & and) == eq
  float rebias;
};

DSB_AVX2 DecodeConsts decode_consts(dsb_dtype t) {
  const Fp8Format& f = fp8_format(t);
  const int shift = 23 - f.man_bits;
  const uint32_t keep = 0x80000000u | (0x7fu << shift);
  uint32_t s_and, s_eq, s_or;
  uint8_t b_and, b_eq;
  if (f.fnuz) {
    s_and = 0xffffffffu, s_eq = 0x80000000u, s_or = 0x7fc00000u;  // 0x80 (would be -0) is NaN
    b_and = 0xff, b_eq = 0x80;
  } else if (f.ieee_inf) {
    s_and = s_eq = ((1u << f.exp_bits) - 1u) << 23;  // E5M2: top exponent is inf (m = 0) or NaN
    s_or = 0x7f800000u;
    b_and = b_eq = 0x7c;
  } else {
    s_and = s_eq = 0x7fu << shift;  // E4M3FN: S.1111.111 is NaN
    s_or = 0x7f800000u;
    b_and = b_eq = 0x7f;
  }
  return {_mm_cvtsi32_si128(shift), _mm256_set1_epi32(static_cast<int>(keep)),
          _mm256_set1_epi32(static_cast<int>(s_and)), _mm256_set1_epi32(static_cast<int>(s_eq)),
          _mm256_set1_epi32(static_cast<int>(s_or)), _mm256_set1_epi8(static_cast<char>(b_and)),
          _mm256_set1_epi8(static_cast<char>(b_eq)), std::ldexp(1.0f, 127 - f.bias)};
}

// Whether any of n 32-byte vectors holds a special code. Real data almost never does, and checking
// bytes 32 at a time is much cheaper than patching every decoded lane.
DSB_AVX2 inline bool any_special(const __m256i* q, int n, const DecodeConsts& dc) {
  __m256i any = _mm256_setzero_si256();
  for (int i = 0; i < n; ++i)
    any = _mm256_or_si256(any, _mm256_cmpeq_epi8(_mm256_and_si256(q[i], dc.byte_and), dc.byte_eq));
  return !_mm256_testz_si256(any, any);
}

// Decodes the low 8 bytes of `bytes`. kTwoStep: when 2^(127-bias) * scale overflows, multiply by
// the two factors separately (still exact to the same bits). kSpecials: patch NaN / inf codes.
template <bool kTwoStep, bool kSpecials>
DSB_AVX2 inline __m256 decode8(__m128i bytes, const DecodeConsts& dc, __m256 c1, __m256 c2) {
  __m256i v = _mm256_and_si256(_mm256_sll_epi32(_mm256_cvtepi8_epi32(bytes), dc.shift), dc.keep);
  if (kSpecials) {
    const __m256i special = _mm256_cmpeq_epi32(_mm256_and_si256(v, dc.special_and), dc.special_eq);
    v = _mm256_or_si256(v, _mm256_and_si256(special, dc.special_or));
  }
  const __m256 x = _mm256_mul_ps(_mm256_castsi256_ps(v), c1);
  return kTwoStep ? _mm256_mul_ps(x, c2) : x;
}

// Scale factors for one 128-block: returns true when the single fused factor is exact.
inline bool block_factors(float s, float rebias, float* c1, float* c2) {
  const float fused = s * rebias;
  if (std::isfinite(fused) || !std::isfinite(s)) { *c1 = fused; *c2 = 1.0f; return true; }
  *c1 = rebias, *c2 = s;
  return false;
}

template <bool kTwoStep, bool kSpecials>
DSB_AVX2 void pack_a_block(const __m256i q[4], const DecodeConsts& dc, __m256 c1, __m256 c2, float* dst) {
  for (int i = 0; i < 4; ++i) {
    const __m128i lo = _mm256_castsi256_si128(q[i]), hi = _mm256_extracti128_si256(q[i], 1);
    _mm256_storeu_ps(dst + 32 * i, decode8<kTwoStep, kSpecials>(lo, dc, c1, c2));
    _mm256_storeu_ps(dst + 32 * i + 8, decode8<kTwoStep, kSpecials>(_mm_srli_si128(lo, 8), dc, c1, c2));
    _mm256_storeu_ps(dst + 32 * i + 16, decode8<kTwoStep, kSpecials>(hi, dc, c1, c2));
    _mm256_storeu_ps(dst + 32 * i + 24, decode8<kTwoStep, kSpecials>(_mm_srli_si128(hi, 8), dc, c1, c2));
  }
}

DSB_AVX2 void pack_a_avx2(const uint8_t* a, int64_t lda, const void* sa, int64_t ldsa, dsb_dtype ab_dtype,
                          dsb_dtype scale_dtype, int rows, int kc, float* ap) {
  const DecodeConsts dc = decode_consts(ab_dtype);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < kc / DSB_FP8_BLOCK; ++j) {
      const uint8_t* src = a + r * lda + j * DSB_FP8_BLOCK;
      float* dst = ap + r * kAStride + j * DSB_FP8_BLOCK;
      __m256i q[4];
      for (int i = 0; i < 4; ++i) q[i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + 32 * i));
      float c1f, c2f;
      const bool fused = block_factors(load_scale(sa, r * ldsa + j, scale_dtype), dc.rebias, &c1f, &c2f);
      const __m256 c1 = _mm256_set1_ps(c1f), c2 = _mm256_set1_ps(c2f);
      if (fused && !any_special(q, 4, dc)) pack_a_block<false, false>(q, dc, c1, c2, dst);
      else pack_a_block<true, true>(q, dc, c1, c2, dst);
    }
}

// Transposes two 16x16 byte tiles at once, in place: t[j] holds row j, bytes 0-15 of the low
// 128-bit lane for one tile and of the high lane for the other (unpacks never cross lanes).
// Afterwards t[i] holds column i of each tile. Four rounds of unpacks, 64 instructions per 512 B.
DSB_AVX2 inline void transpose16x16x2(__m256i t[16]) {
  __m256i u[16];
  for (int i = 0; i < 8; ++i) {
    u[2 * i] = _mm256_unpacklo_epi8(t[2 * i], t[2 * i + 1]);
    u[2 * i + 1] = _mm256_unpackhi_epi8(t[2 * i], t[2 * i + 1]);
  }
  for (int g = 0; g < 4; ++g) {  // rows 4g..4g+3
    const __m256i* x = u + 4 * g;
    t[4 * g + 0] = _mm256_unpacklo_epi16(x[0], x[2]);
    t[4 * g + 1] = _mm256_unpackhi_epi16(x[0], x[2]);
    t[4 * g + 2] = _mm256_unpacklo_epi16(x[1], x[3]);
    t[4 * g + 3] = _mm256_unpackhi_epi16(x[1], x[3]);
  }
  for (int h = 0; h < 2; ++h)  // rows 8h..8h+7: 32-bit units hold 4 rows of one column
    for (int i = 0; i < 4; ++i) {
      u[8 * h + 2 * i] = _mm256_unpacklo_epi32(t[8 * h + i], t[8 * h + 4 + i]);
      u[8 * h + 2 * i + 1] = _mm256_unpackhi_epi32(t[8 * h + i], t[8 * h + 4 + i]);
    }
  for (int i = 0; i < 8; ++i) {  // u[i] holds columns 2i, 2i+1 of rows 0-7; u[8+i] of rows 8-15
    t[2 * i] = _mm256_unpacklo_epi64(u[i], u[8 + i]);
    t[2 * i + 1] = _mm256_unpackhi_epi64(u[i], u[8 + i]);
  }
}

// One 128-block of K for a 16-row strip, 32 k at a time: the low lanes give k .. k+15, the high
// lanes k+16 .. k+31.
template <bool kTwoStep, bool kSpecials>
DSB_AVX2 void pack_b_step(__m256i t[16], const DecodeConsts& dc, __m256 c1, __m256 c2, float* bp) {
  transpose16x16x2(t);
  for (int i = 0; i < 16; ++i) {
    const __m128i lo = _mm256_castsi256_si128(t[i]), hi = _mm256_extracti128_si256(t[i], 1);
    float* d0 = bp + i * kNr;
    float* d1 = bp + (16 + i) * kNr;
    _mm256_store_ps(d0, decode8<kTwoStep, kSpecials>(lo, dc, c1, c2));
    _mm256_store_ps(d0 + 8, decode8<kTwoStep, kSpecials>(_mm_srli_si128(lo, 8), dc, c1, c2));
    _mm256_store_ps(d1, decode8<kTwoStep, kSpecials>(hi, dc, c1, c2));
    _mm256_store_ps(d1 + 8, decode8<kTwoStep, kSpecials>(_mm_srli_si128(hi, 8), dc, c1, c2));
  }
}

DSB_AVX2 void pack_b_avx2(const uint8_t* b, int64_t ldb, const void* sb, dsb_dtype ab_dtype, dsb_dtype scale_dtype,
                          int rows, int kc, float* bp) {
  alignas(64) static const uint8_t kZeros[kKc] = {};  // code 0 is +0 in every variant
  const DecodeConsts dc = decode_consts(ab_dtype);
  const uint8_t* src[kNr];
  for (int j = 0; j < kNr; ++j) src[j] = j < rows ? b + j * ldb : kZeros;
  for (int kb = 0; kb < kc / DSB_FP8_BLOCK; ++kb) {
    float c1f, c2f;
    const bool fused = block_factors(load_scale(sb, kb, scale_dtype), dc.rebias, &c1f, &c2f);
    const __m256 c1 = _mm256_set1_ps(c1f), c2 = _mm256_set1_ps(c2f);
    for (int k = kb * DSB_FP8_BLOCK; k < (kb + 1) * DSB_FP8_BLOCK; k += 32) {
      __m256i t[16];
      for (int j = 0; j < kNr; ++j) t[j] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src[j] + k));
      if (fused && !any_special(t, 16, dc)) pack_b_step<false, false>(t, dc, c1, c2, bp + k * kNr);
      else pack_b_step<true, true>(t, dc, c1, c2, bp + k * kNr);
    }
  }
}

// 8 floats -> 8 BF16 in the low halves of 32-bit lanes, rounding to nearest even; NaN -> quiet NaN.
DSB_AVX2 inline __m256i bf16_rne8(__m256 x) {
  const __m256i u = _mm256_castps_si256(x);
  const __m256i hi = _mm256_srli_epi32(u, 16);
  const __m256i lsb = _mm256_and_si256(hi, _mm256_set1_epi32(1));
  const __m256i r = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
  const __m256i qnan = _mm256_or_si256(_mm256_and_si256(hi, _mm256_set1_epi32(0x8000)), _mm256_set1_epi32(0x7fc0));
  return _mm256_blendv_epi8(r, qnan, _mm256_castps_si256(_mm256_cmp_ps(x, x, _CMP_UNORD_Q)));
}

DSB_AVX2 inline void store_bf16x16(__m256 lo, __m256 hi, uint16_t* d, int nv) {
  const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(bf16_rne8(lo), bf16_rne8(hi)), 0xd8);
  if (nv == kNr) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(d), packed);
  } else {
    alignas(32) uint16_t tmp[kNr];
    _mm256_store_si256(reinterpret_cast<__m256i*>(tmp), packed);
    std::memcpy(d, tmp, static_cast<size_t>(nv) * sizeof(uint16_t));
  }
}

// MR rows x 16 columns. The accumulators are named variables, not an array: GCC keeps arrays of
// vectors in memory here. Fewer than 4 rows cannot hide the FMA latency with MR x 2 chains, so
// those run kSets interleaved copies over k ("virtual rows" v: row v % MR, k offset v / MR).
template <int MR>
DSB_AVX2 void micro_avx2(int kc, const float* ap, const float* bp, float* c, int64_t ldc, int flags, uint16_t* d,
                         int64_t ldd, int nv) {
  constexpr int kSets = MR >= 4 ? 1 : (MR == 1 ? 4 : 2);
  constexpr int kV = MR * kSets;  // <= 6
  if (!(flags & kFirst))  // the accumulator tile may sit in L3: fetch it while the FMAs run
    for (int r = 0; r < MR; ++r) _mm_prefetch(reinterpret_cast<const char*>(c + r * ldc), _MM_HINT_T0);
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
#define DSB_VROW(v)                                                                     \
  if constexpr (v < kV) {                                                               \
    const float* bk = bp + (k + v / MR) * kNr;                                          \
    const __m256 av = _mm256_broadcast_ss(ap + (v % MR) * kAStride + k + v / MR);       \
    c##v##0 = _mm256_fmadd_ps(av, _mm256_load_ps(bk), c##v##0);                         \
    c##v##1 = _mm256_fmadd_ps(av, _mm256_load_ps(bk + 8), c##v##1);                     \
  }
#pragma GCC unroll 4
  for (int k = 0; k < kc; k += kSets) {  // kc is a multiple of 128, hence of kSets
    DSB_VROW(0) DSB_VROW(1) DSB_VROW(2) DSB_VROW(3) DSB_VROW(4) DSB_VROW(5)
  }
#undef DSB_VROW
  __m256 lo[6] = {c00, c10, c20, c30, c40, c50}, hi[6] = {c01, c11, c21, c31, c41, c51};
  for (int v = MR; v < kV; ++v) {
    lo[v % MR] = _mm256_add_ps(lo[v % MR], lo[v]);
    hi[v % MR] = _mm256_add_ps(hi[v % MR], hi[v]);
  }
  for (int r = 0; r < MR; ++r) {
    if (!(flags & kFirst)) {
      lo[r] = _mm256_add_ps(lo[r], _mm256_load_ps(c + r * ldc));
      hi[r] = _mm256_add_ps(hi[r], _mm256_load_ps(c + r * ldc + 8));
    }
    if (flags & kLast) {
      store_bf16x16(lo[r], hi[r], d + r * ldd, nv);
    } else {
      _mm256_store_ps(c + r * ldc, lo[r]);
      _mm256_store_ps(c + r * ldc + 8, hi[r]);
    }
  }
}

// One 128-block of K for the few-row path: kDotCols B rows decoded 8 codes at a time and multiplied
// into ROWS A rows; accumulators stay in registers across the whole of K.
template <int ROWS, bool kTwoStep, bool kSpecials>
DSB_AVX2 __attribute__((always_inline)) inline void dot_block(const float* a0, const float* a1,
                                                              const uint8_t* const br[kDotCols],
                                                              const DecodeConsts& dc, __m256 c1, __m256 c2,
                                                              __m256 acc[2][kDotCols]) {
  for (int k = 0; k < DSB_FP8_BLOCK; k += 8) {
    const __m256 x0 = _mm256_loadu_ps(a0 + k);
    const __m256 x1 = ROWS > 1 ? _mm256_loadu_ps(a1 + k) : x0;
    for (int j = 0; j < kDotCols; ++j) {
      const __m128i q = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(br[j] + k));
      const __m256 w = decode8<kTwoStep, kSpecials>(q, dc, c1, c2);
      acc[0][j] = _mm256_fmadd_ps(x0, w, acc[0][j]);
      if (ROWS > 1) acc[1][j] = _mm256_fmadd_ps(x1, w, acc[1][j]);
    }
  }
}

// Sums each of four 8-lane vectors: {sum x0, sum x1, sum x2, sum x3}.
DSB_AVX2 inline __m128 hsum4(__m256 x0, __m256 x1, __m256 x2, __m256 x3) {
  const __m256 s = _mm256_hadd_ps(_mm256_hadd_ps(x0, x1), _mm256_hadd_ps(x2, x3));
  return _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
}

template <int ROWS>
DSB_AVX2 void dot_rows(int64_t k, const float* ap, const uint8_t* b, int64_t ldb, const void* sb,
                       dsb_dtype ab_dtype, dsb_dtype scale_dtype, int cols, uint16_t* d, int64_t ldd,
                       bool prefetch_next) {
  const DecodeConsts dc = decode_consts(ab_dtype);
  const uint8_t* br[kDotCols];
  for (int j = 0; j < kDotCols; ++j) br[j] = b + std::min(j, cols - 1) * ldb;  // extra columns: discarded
  __m256 acc[2][kDotCols];
  for (auto& row : acc)
    for (__m256& v : row) v = _mm256_setzero_ps();
  for (int64_t kb = 0; kb < k / DSB_FP8_BLOCK; ++kb) {
    const int64_t k0 = kb * DSB_FP8_BLOCK;
    const float* a0 = ap + (k0 / kKc) * ROWS * kAStride + k0 % kKc;
    const uint8_t* blk[kDotCols];
    __m256i q[kDotCols * 4];
    for (int j = 0; j < kDotCols; ++j) {
      blk[j] = br[j] + k0;
      for (int i = 0; i < 4; ++i) q[4 * j + i] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk[j] + 32 * i));
      // The next call reads the next kDotCols rows: short rows (k = 1536) are too brief a stream
      // for the hardware prefetcher, so fetch them one call ahead.
      if (prefetch_next) {
        const char* next = reinterpret_cast<const char*>(blk[j] + kDotCols * ldb);
        _mm_prefetch(next, _MM_HINT_T0);
        _mm_prefetch(next + 64, _MM_HINT_T0);
      }
    }
    float c1f, c2f;
    const bool fused = block_factors(load_scale(sb, kb, scale_dtype), dc.rebias, &c1f, &c2f);
    const __m256 c1 = _mm256_set1_ps(c1f), c2 = _mm256_set1_ps(c2f);
    if (fused && !any_special(q, kDotCols * 4, dc)) dot_block<ROWS, false, false>(a0, a0 + kAStride, blk, dc, c1, c2, acc);
    else dot_block<ROWS, true, true>(a0, a0 + kAStride, blk, dc, c1, c2, acc);
  }
  for (int r = 0; r < ROWS; ++r) {
    alignas(16) float sums[kDotCols];
    _mm_store_ps(sums, hsum4(acc[r][0], acc[r][1], acc[r][2], acc[r][3]));
    for (int j = 0; j < cols; ++j) d[r * ldd + j] = bf16_from_f32(sums[j]);
  }
}

DSB_AVX2 void dot_avx2(int rows, int64_t k, const float* ap, const uint8_t* b, int64_t ldb, const void* sb,
                       dsb_dtype ab_dtype, dsb_dtype scale_dtype, int cols, uint16_t* d, int64_t ldd,
                       bool prefetch_next) {
  if (rows == 1) dot_rows<1>(k, ap, b, ldb, sb, ab_dtype, scale_dtype, cols, d, ldd, prefetch_next);
  else dot_rows<2>(k, ap, b, ldb, sb, ab_dtype, scale_dtype, cols, d, ldd, prefetch_next);
}

bool cpu_has_avx2_fma() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#endif  // __x86_64__

}  // namespace

const GemmKernels& gemm_kernels_portable() {
  static const GemmKernels k{"portable", pack_a_portable, pack_b_portable,
                             {nullptr, micro_portable<1>, micro_portable<2>, micro_portable<3>,
                              micro_portable<4>, micro_portable<5>, micro_portable<6>},
                             dot_portable};
  return k;
}

namespace {
std::atomic<const GemmKernels*> g_forced{nullptr};
}  // namespace

void force_gemm_kernels(const GemmKernels* k) { g_forced.store(k); }

const GemmKernels& gemm_kernels() {
  if (const GemmKernels* forced = g_forced.load(std::memory_order_relaxed)) return *forced;
#if defined(__x86_64__)
  static const GemmKernels avx2{"avx2", pack_a_avx2, pack_b_avx2,
                                {nullptr, micro_avx2<1>, micro_avx2<2>, micro_avx2<3>, micro_avx2<4>,
                                 micro_avx2<5>, micro_avx2<6>},
                                dot_avx2};
  static const bool use_avx2 = cpu_has_avx2_fma();
  if (use_avx2) return avx2;
#endif
  return gemm_kernels_portable();
}

}  // namespace dsbench::cpu::gemm_detail
