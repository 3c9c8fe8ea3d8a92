#include "reference/quantize.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "dsbench/numerics/fp8.hpp"

namespace dsbench::ref {

float block_scale(float amax, const QuantRecipe& recipe) {
  static_assert(kAmaxFloor == 1e-4f, "fp8_block_scale's floor");
  return fp8_block_scale(amax, recipe.fp8, recipe.ue8m0);
}

void quantize_1x128(const float* x, int64_t rows, int64_t cols, const QuantRecipe& recipe,
                    uint8_t* q, float* scales) {
  const Fp8Format& f = fp8_format(recipe.fp8);
  const int64_t blocks = (cols + DSB_FP8_BLOCK - 1) / DSB_FP8_BLOCK;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t c0 = b * DSB_FP8_BLOCK, c1 = std::min(cols, c0 + DSB_FP8_BLOCK);
      float amax = 0.0f;
      for (int64_t c = c0; c < c1; ++c) amax = std::max(amax, std::fabs(x[r * cols + c]));
      const float s = block_scale(amax, recipe);
      scales[r * blocks + b] = s;
      for (int64_t c = c0; c < c1; ++c) q[r * cols + c] = fp8_encode(x[r * cols + c] / s, f);
    }
  }
}

void quantize_128x128(const float* w, int64_t rows, int64_t cols, const QuantRecipe& recipe,
                      uint8_t* q, float* scales) {
  const Fp8Format& f = fp8_format(recipe.fp8);
  const int64_t rb = (rows + DSB_FP8_BLOCK - 1) / DSB_FP8_BLOCK;
  const int64_t cb = (cols + DSB_FP8_BLOCK - 1) / DSB_FP8_BLOCK;
  for (int64_t i = 0; i < rb; ++i) {
    const int64_t r0 = i * DSB_FP8_BLOCK, r1 = std::min(rows, r0 + DSB_FP8_BLOCK);
    for (int64_t j = 0; j < cb; ++j) {
      const int64_t c0 = j * DSB_FP8_BLOCK, c1 = std::min(cols, c0 + DSB_FP8_BLOCK);
      float amax = 0.0f;
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) amax = std::max(amax, std::fabs(w[r * cols + c]));
      const float s = block_scale(amax, recipe);
      scales[i * cb + j] = s;
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) q[r * cols + c] = fp8_encode(w[r * cols + c] / s, f);
    }
  }
}

void store_scales(const float* scales, int64_t n, dsb_dtype scale_dtype, void* out) {
  if (scale_dtype == DSB_DTYPE_UE8M0) {
    auto* o = static_cast<uint8_t*>(out);
    for (int64_t i = 0; i < n; ++i) o[i] = ue8m0_from_f32_ceil(scales[i]);
  } else {
    std::memcpy(out, scales, static_cast<size_t>(n) * sizeof(float));
  }
}

}  // namespace dsbench::ref
