// BF16 codec: round-to-nearest-even from FP32 and (without double rounding) from FP64.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "dsbench/numerics/host_device.hpp"

namespace dsbench {

#if defined(__CUDA_ARCH__) || defined(__HIP_DEVICE_COMPILE__)
DSB_HD uint32_t f32_bits(float x) { return __float_as_uint(x); }
DSB_HD float f32_from_bits(uint32_t u) { return __uint_as_float(u); }
#else
DSB_HD uint32_t f32_bits(float x) { uint32_t u; std::memcpy(&u, &x, 4); return u; }
DSB_HD float f32_from_bits(uint32_t u) { float x; std::memcpy(&x, &u, 4); return x; }
#endif

DSB_HD float bf16_to_f32(uint16_t h) { return f32_from_bits(static_cast<uint32_t>(h) << 16); }

// NaN keeps its sign and becomes the quiet NaN 0x7fc0; overflow rounds to infinity as IEEE does.
DSB_HD uint16_t bf16_from_f32(float x) {
  uint32_t u = f32_bits(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>(((u >> 16) & 0x8000u) | 0x7fc0u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

// Rounds a double straight to BF16 (one rounding), as the FP64 reference requires: going through
// float first would round twice.
inline uint16_t bf16_from_f64(double x) {
  if (std::isnan(x)) return std::signbit(x) ? 0xffc0u : 0x7fc0u;
  const double ax = std::fabs(x);
  double r;
  if (ax == 0.0 || std::isinf(ax)) {
    r = ax;
  } else {
    int e;
    const double m = std::frexp(ax, &e);  // ax = m * 2^e, m in [0.5, 1)
    if (e - 1 >= -126) {
      r = std::ldexp(std::nearbyint(std::ldexp(m, 8)), e - 8);  // 8 significant bits
    } else {
      r = std::ldexp(std::nearbyint(std::ldexp(ax, 133)), -133);  // subnormal grid 2^-133
    }
  }
  const float f = static_cast<float>(std::signbit(x) ? -r : r);  // exact, or overflows to inf
  return static_cast<uint16_t>(f32_bits(f) >> 16);
}

}  // namespace dsbench
