#include "harness/input_gen.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "dsbench/ops.h"
#include "reference/quantize.hpp"

namespace dsbench {

void generate_fp8_matrix(const CounterRng& rng, const Fp8MatrixSpec& s, uint8_t* q, void* scales) {
  const int64_t cb = (s.cols + DSB_FP8_BLOCK - 1) / DSB_FP8_BLOCK;
  const int64_t chunks = (s.rows + DSB_FP8_BLOCK - 1) / DSB_FP8_BLOCK;
  const ref::QuantRecipe recipe{s.fp8, s.scale_dtype == DSB_DTYPE_UE8M0};
  const size_t scale_bytes = s.scale_dtype == DSB_DTYPE_UE8M0 ? 1 : 4;
  const CounterRng magnitudes(rng.bits(~0ull), 0x6d61676eull);  // a separate stream per matrix
#pragma omp parallel
  {
    std::vector<float> x, sc;
#pragma omp for schedule(dynamic)
    for (int64_t ch = 0; ch < chunks; ++ch) {
      const int64_t r0 = ch * DSB_FP8_BLOCK, nr = std::min<int64_t>(DSB_FP8_BLOCK, s.rows - r0);
      x.resize(static_cast<size_t>(nr * s.cols));
      for (int64_t r = 0; r < nr; ++r) {
        for (int64_t b = 0; b < cb; ++b) {
          // The magnitude is per quantisation block: per row for 1x128, per 128 rows for 128x128.
          const int64_t mrow = s.block_128x128 ? ch : r0 + r;
          const uint64_t mi = static_cast<uint64_t>(mrow * cb + b);
          const float mag = std::ldexp(magnitudes.uniform(2 * mi, 0.5f, 2.0f),
                                       static_cast<int>(magnitudes.integer(2 * mi + 1, -s.octaves, s.octaves)));
          for (int64_t c = b * DSB_FP8_BLOCK; c < std::min(s.cols, (b + 1) * DSB_FP8_BLOCK); ++c) {
            const uint64_t i = static_cast<uint64_t>((r0 + r) * s.cols + c);
            x[r * s.cols + c] = rng.uniform(i, -1.0f, 1.0f) * mag;
          }
        }
      }
      const int64_t nscale = s.block_128x128 ? cb : nr * cb;
      sc.resize(static_cast<size_t>(nscale));
      if (s.block_128x128) ref::quantize_128x128(x.data(), nr, s.cols, recipe, q + r0 * s.cols, sc.data());
      else ref::quantize_1x128(x.data(), nr, s.cols, recipe, q + r0 * s.cols, sc.data());
      const int64_t first_scale = s.block_128x128 ? ch * cb : r0 * cb;
      ref::store_scales(sc.data(), nscale, s.scale_dtype,
                        static_cast<uint8_t*>(scales) + first_scale * static_cast<int64_t>(scale_bytes));
    }
  }
}

}  // namespace dsbench
