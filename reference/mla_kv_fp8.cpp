#include "reference/mla_kv_fp8.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "dsbench/numerics/bf16.hpp"
#include "dsbench/numerics/fp8.hpp"
#include "reference/quantize.hpp"

namespace dsbench::ref {
namespace {

// Every E4M3FN code decoded once (the verification of large FP8 cases decodes billions of codes).
const float* e4m3_table() {
  static const struct Table {
    float v[256];
    Table() { for (int c = 0; c < 256; ++c) v[c] = fp8_decode(static_cast<uint8_t>(c), kE4M3FN); }
  } table;
  return table.v;
}

}  // namespace

void mla_fp8_quantize_token(const uint16_t* x, uint8_t* token) {
  const QuantRecipe recipe{DSB_DTYPE_E4M3FN, /*ue8m0=*/true};
  for (int g = 0; g < kMlaFp8Groups; ++g) {
    const uint16_t* src = x + g * kMlaFp8GroupDims;
    float amax = 0.0f;
    for (int d = 0; d < kMlaFp8GroupDims; ++d) amax = std::max(amax, std::fabs(bf16_to_f32(src[d])));
    const float scale = block_scale(amax, recipe);  // a power of two: x / scale is exact
    for (int d = 0; d < kMlaFp8GroupDims; ++d)
      token[g * kMlaFp8GroupDims + d] = fp8_encode(bf16_to_f32(src[d]) / scale, kE4M3FN);
    std::memcpy(token + kMlaFp8ScaleOffset + 4 * g, &scale, 4);
  }
  std::memcpy(token + kMlaFp8RopeOffset, x + kMlaFp8NopeDims, 2 * kMlaFp8RopeDims);
}

float mla_fp8_scale(const uint8_t* token, int g) {
  float s;
  std::memcpy(&s, token + kMlaFp8ScaleOffset + 4 * g, 4);
  return s;
}

const float* mla_fp8_code_table() { return e4m3_table(); }

double mla_fp8_value(const uint8_t* token, int d) {
  if (d >= kMlaFp8NopeDims) {
    uint16_t h;
    std::memcpy(&h, token + kMlaFp8RopeOffset + 2 * (d - kMlaFp8NopeDims), 2);
    return bf16_to_f32(h);
  }
  // An E4M3 value has 4 significant bits and a scale 24: their product is exact in FP64.
  return static_cast<double>(e4m3_table()[token[d]]) * mla_fp8_scale(token, d / kMlaFp8GroupDims);
}

bool mla_fp8_dequantize_token_bf16(const uint8_t* token, uint16_t* out) {
  bool exact = true;
  for (int d = 0; d < kMlaFp8NopeDims; ++d) {
    const double v = mla_fp8_value(token, d);
    out[d] = bf16_from_f64(v);
    exact = exact && (std::isnan(v) || static_cast<double>(bf16_to_f32(out[d])) == v);
  }
  std::memcpy(out + kMlaFp8NopeDims, token + kMlaFp8RopeOffset, 2 * kMlaFp8RopeDims);
  return exact;
}

}  // namespace dsbench::ref
