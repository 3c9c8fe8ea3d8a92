// FP8 codecs for the four variants (OCP E4M3FN / E5M2, AMD E4M3FNUZ / E5M2FNUZ) and UE8M0 scales.
// Encoding rounds to nearest, ties to even, and saturates: |x| >= max (infinities included) gives
// +-max; NaN gives the variant's NaN. FNUZ variants have no negative zero (0x80 is their only NaN).
#pragma once

#include <cmath>
#include <cstdint>

#include "dsbench/dtype.h"
#include "dsbench/numerics/bf16.hpp"
#include "dsbench/numerics/host_device.hpp"

namespace dsbench {

struct Fp8Format {
  int exp_bits, man_bits, bias;
  bool fnuz;       // single NaN 0x80, no negative zero, no infinity
  bool ieee_inf;   // E5M2: exponent all ones is inf (mantissa 0) or NaN
  uint8_t max_code;  // largest finite magnitude code
  uint8_t nan_code;  // canonical (positive) NaN code
  float max_value;
};

constexpr Fp8Format kE4M3FN{4, 3, 7, false, false, 0x7e, 0x7f, 448.0f};
constexpr Fp8Format kE5M2{5, 2, 15, false, true, 0x7b, 0x7e, 57344.0f};
constexpr Fp8Format kE4M3FNUZ{4, 3, 8, true, false, 0x7f, 0x80, 240.0f};
constexpr Fp8Format kE5M2FNUZ{5, 2, 16, true, false, 0x7f, 0x80, 57344.0f};

// The format of an FP8 dtype; E4M3FN for anything else (callers validate dtypes first). Returned by
// value: device code cannot refer to the host constants above.
DSB_HD Fp8Format fp8_format(dsb_dtype t) {
  if (t == DSB_DTYPE_E5M2) return Fp8Format{5, 2, 15, false, true, 0x7b, 0x7e, 57344.0f};
  if (t == DSB_DTYPE_E4M3FNUZ) return Fp8Format{4, 3, 8, true, false, 0x7f, 0x80, 240.0f};
  if (t == DSB_DTYPE_E5M2FNUZ) return Fp8Format{5, 2, 16, true, false, 0x7f, 0x80, 57344.0f};
  return Fp8Format{4, 3, 7, false, false, 0x7e, 0x7f, 448.0f};
}

DSB_HD float fp8_decode(uint8_t code, const Fp8Format& f) {
  const bool neg = (code & 0x80u) != 0;
  const int e = (code >> f.man_bits) & ((1 << f.exp_bits) - 1);
  const int m = code & ((1 << f.man_bits) - 1);
  if (f.fnuz) {
    if (code == 0x80u) return NAN;
  } else if (f.ieee_inf) {
    if (e == (1 << f.exp_bits) - 1) return m == 0 ? (neg ? -INFINITY : INFINITY) : NAN;
  } else if ((code & 0x7fu) == 0x7fu) {
    return NAN;  // E4M3FN: S.1111.111
  }
  float mag;
  if (e == 0) mag = ldexpf(static_cast<float>(m), 1 - f.bias - f.man_bits);
  else mag = ldexpf(static_cast<float>(m + (1 << f.man_bits)), e - f.bias - f.man_bits);
  return neg ? -mag : mag;
}

DSB_HD uint8_t fp8_encode(float x, const Fp8Format& f) {
  const uint32_t u = f32_bits(x);
  const uint8_t sign = static_cast<uint8_t>((u >> 24) & 0x80u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return f.fnuz ? f.nan_code : static_cast<uint8_t>(f.nan_code | sign);
  const float ax = fabsf(x);
  if (ax >= f.max_value) return static_cast<uint8_t>(f.max_code | sign);
  const int min_normal_exp = 1 - f.bias;
  const int e32 = static_cast<int>((u >> 23) & 0xffu) - 127;
  uint32_t mag;
  if (e32 >= min_normal_exp) {
    // Normal: keep man_bits of the 23-bit mantissa, rounding half to even. A carry out of the
    // mantissa bumps the exponent, which the code layout does by itself.
    const int shift = 23 - f.man_bits;
    const uint32_t man = u & 0x7fffffu;
    uint32_t kept = man >> shift;
    const uint32_t rest = man & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1);
    if (rest > half || (rest == half && (kept & 1u))) ++kept;
    mag = (static_cast<uint32_t>(e32 + f.bias) << f.man_bits) + kept;
  } else {
    // Subnormal: count units of the smallest subnormal; scaling by a power of two is exact, and
    // rintf rounds half to even. A result of 2^man_bits is exactly the smallest normal's code.
    mag = static_cast<uint32_t>(rintf(ldexpf(ax, f.man_bits - min_normal_exp)));
  }
  if (mag == 0 && f.fnuz) return 0;  // no negative zero
  return static_cast<uint8_t>(mag | sign);
}

DSB_HD float fp8_decode(uint8_t code, dsb_dtype t) { return fp8_decode(code, fp8_format(t)); }
DSB_HD uint8_t fp8_encode(float x, dsb_dtype t) { return fp8_encode(x, fp8_format(t)); }

// UE8M0: value 2^(code-127); 0xff is NaN.
DSB_HD float ue8m0_to_f32(uint8_t code) { return code == 0xffu ? NAN : ldexpf(1.0f, code - 127); }

// The smallest power of two >= s (s > 0, finite), as a UE8M0 code; clamps to the code range.
DSB_HD uint8_t ue8m0_from_f32_ceil(float s) {
  int e;
  const float m = frexpf(s, &e);  // s = m * 2^e, m in [0.5, 1)
  int p = (m == 0.5f) ? e - 1 : e;  // exact power of two stays, otherwise round up
  p += 127;
  return static_cast<uint8_t>(p < 0 ? 0 : (p > 254 ? 254 : p));
}

// DeepSeek's block scale for FP8 quantisation: max(amax, 1e-4) / the format's max, rounded up to a
// power of two when the scales are UE8M0. One definition for the reference quantiser
// (reference/quantize.cpp) and device kernels, so every backend quantises bit-identically
// (IEEE division on both: device code must not be built with fast math).
DSB_HD float fp8_block_scale(float amax, dsb_dtype fp8, bool ue8m0) {
  const float s = (amax < 1e-4f ? 1e-4f : amax) / fp8_format(fp8).max_value;  // std::max: NaN stays NaN
  return ue8m0 ? ue8m0_to_f32(ue8m0_from_f32_ceil(s)) : s;
}

// Decodes one scale stored as F32 or UE8M0.
DSB_HD float scale_value(const void* scales, int64_t i, dsb_dtype t) {
  return t == DSB_DTYPE_UE8M0 ? ue8m0_to_f32(static_cast<const uint8_t*>(scales)[i])
                              : static_cast<const float*>(scales)[i];
}

}  // namespace dsbench
