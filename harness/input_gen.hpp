// Deterministic inputs shaped like the model's: FP8 matrices whose blocks carry different scales, so
// a kernel that applies the wrong scale, or none, is caught. Values are never all zeros.
#pragma once

#include <cstdint>

#include "dsbench/dtype.h"
#include "harness/rng.hpp"

namespace dsbench {

struct Fp8MatrixSpec {
  int64_t rows = 0, cols = 0;   // cols % 128 == 0 is not required (tails get a short block)
  dsb_dtype fp8 = DSB_DTYPE_E4M3FN;
  dsb_dtype scale_dtype = DSB_DTYPE_F32;  // F32, or UE8M0 (power-of-two scales)
  bool block_128x128 = false;   // weight recipe (128x128 blocks); otherwise 1x128 per row
  int octaves = 3;              // block magnitudes 2^j * f with j in [-octaves, octaves]
};

// Source values: uniform in [-1, 1) times a per-block magnitude 2^j * f (j in [-octaves, octaves], f in
// [0.5, 2)), quantised with the DeepSeek recipe. q: rows*cols codes; scales: the recipe's scale
// grid stored as scale_dtype. Rows are processed in parallel chunks of 128.
void generate_fp8_matrix(const CounterRng& rng, const Fp8MatrixSpec& spec, uint8_t* q, void* scales);

}  // namespace dsbench
