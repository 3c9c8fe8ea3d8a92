// AVX-512 pieces of the CPU MoE dispatch and combine (kernels/cpu/moe_dispatch_cpu.cpp), written
// with intrinsics because the auto-vectorised loops left the prefill cases below half of copy
// bandwidth: BF16 <-> FP32 in 16 lanes, the branch-free FP8 encoder of fp8_encode_finite in 16 lanes
// (bit-identical to it; tests/harness/moe_dispatch_test.cpp sweeps both), and one 1x128 block
// quantised into two 64-byte vectors that the dispatch streams straight to every row of the token.
// Callers check __builtin_cpu_supports first; nothing here runs on a CPU without AVX-512F/BW.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "dsbench/numerics/bf16.hpp"
#include "dsbench/numerics/fp8.hpp"

#define DSB_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"), always_inline)) inline

namespace dsbench::cpu::avx512 {

// 16 BF16 values (32 bytes, any alignment) widened to FP32: the BF16 bits are the float's top half.
DSB_AVX512 __m512 load_bf16x16(const uint16_t* p) {
  const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

// bf16_from_f32 in 16 lanes (round to nearest even; NaN keeps its sign and becomes 0x7fc0), the
// results in the low 16 bits of each 32-bit lane.
DSB_AVX512 __m512i bf16_bits_x16(__m512 x) {
  const __m512i u = _mm512_castps_si512(x);
  const __m512i hi = _mm512_srli_epi32(u, 16);
  const __m512i rounded =
      _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), _mm512_and_si512(hi, _mm512_set1_epi32(1)))), 16);
  const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  const __m512i quiet = _mm512_or_si512(_mm512_and_si512(hi, _mm512_set1_epi32(0x8000)), _mm512_set1_epi32(0x7fc0));
  return _mm512_mask_mov_epi32(rounded, nan, quiet);
}

// 32 BF16 results from two 16-lane FP32 vectors, as one 64-byte vector (a then b).
DSB_AVX512 __m512i pack_bf16x32(__m512 a, __m512 b) {
  const __m256i lo = _mm512_cvtepi32_epi16(bf16_bits_x16(a));
  const __m256i hi = _mm512_cvtepi32_epi16(bf16_bits_x16(b));
  return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

// fp8_encode_finite (kernels/cpu/moe_dispatch_cpu.hpp) in 16 lanes: the same integer steps, with
// masks for its selects. Codes in the low byte of each lane. Finite inputs only.
template <const Fp8Format& F>
DSB_AVX512 __m128i fp8_encode_finite_x16(__m512 x) {
  constexpr int kShift = 23 - F.man_bits;
  const __m512i u = _mm512_castps_si512(x);
  const __m512i sign = _mm512_and_si512(_mm512_srli_epi32(u, 24), _mm512_set1_epi32(0x80));
  const __m512i a = _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff));
  const __m512i r = _mm512_add_epi32(_mm512_add_epi32(a, _mm512_set1_epi32((1 << (kShift - 1)) - 1)),
                                     _mm512_and_si512(_mm512_srli_epi32(a, kShift), _mm512_set1_epi32(1)));
  const __m512i normal = _mm512_sub_epi32(_mm512_srli_epi32(r, kShift), _mm512_set1_epi32((127 - F.bias) << F.man_bits));
  // Subnormal: units of the smallest subnormal, rounded half to even by adding 2^23. The product is
  // by a power of two, so exact: a fused multiply-add rounds it the same way.
  const float sub_scale = __builtin_bit_cast(float, static_cast<uint32_t>(127 + F.man_bits + F.bias - 1) << 23);
  const __m512 units = _mm512_add_ps(_mm512_mul_ps(_mm512_castsi512_ps(a), _mm512_set1_ps(sub_scale)), _mm512_set1_ps(8388608.0f));
  const __m512i sub = _mm512_sub_epi32(_mm512_castps_si512(units), _mm512_set1_epi32(0x4b000000));
  const __mmask16 is_normal = _mm512_cmpge_epu32_mask(a, _mm512_set1_epi32((128 - F.bias) << 23));
  const __mmask16 saturate = _mm512_cmpge_epu32_mask(a, _mm512_set1_epi32(static_cast<int>(__builtin_bit_cast(uint32_t, F.max_value))));
  __m512i mag = _mm512_mask_mov_epi32(sub, is_normal, normal);
  mag = _mm512_mask_mov_epi32(mag, saturate, _mm512_set1_epi32(F.max_code));
  // FNUZ has no negative zero: a zero magnitude drops the sign.
  const __mmask16 keep_sign = F.fnuz ? _mm512_test_epi32_mask(mag, mag) : static_cast<__mmask16>(0xffff);
  return _mm512_cvtepi32_epi8(_mm512_mask_or_epi32(mag, keep_sign, mag, sign));
}

// The largest |bits| of a 128-value BF16 block (for finite values, the largest |value|).
DSB_AVX512 uint32_t block_amax_bits(const uint16_t* xb) {
  const __m512i mask = _mm512_set1_epi16(0x7fff);
  __m512i m = _mm512_and_si512(_mm512_loadu_si512(xb), mask);
  for (int i = 1; i < 4; ++i) m = _mm512_max_epu16(m, _mm512_and_si512(_mm512_loadu_si512(xb + 32 * i), mask));
  const __m512i lo = _mm512_and_si512(m, _mm512_set1_epi32(0xffff));
  return _mm512_reduce_max_epu32(_mm512_max_epu32(lo, _mm512_srli_epi32(m, 16)));
}

// One finite block's 128 codes (x / s encoded; the division is IEEE's, as the reference's) as two
// 64-byte vectors.
template <const Fp8Format& F>
DSB_AVX512 void encode_block(const uint16_t* xb, float s, __m512i* lo, __m512i* hi) {
  const __m512 vs = _mm512_set1_ps(s);
  __m128i c[8];
  for (int i = 0; i < 8; ++i) c[i] = fp8_encode_finite_x16<F>(_mm512_div_ps(load_bf16x16(xb + 16 * i), vs));
  *lo = _mm512_inserti32x4(_mm512_inserti32x4(_mm512_inserti32x4(_mm512_castsi128_si512(c[0]), c[1], 1), c[2], 2), c[3], 3);
  *hi = _mm512_inserti32x4(_mm512_inserti32x4(_mm512_inserti32x4(_mm512_castsi128_si512(c[4]), c[5], 1), c[6], 2), c[7], 3);
}

}  // namespace dsbench::cpu::avx512
