// The FP8 MLA KV-cache token (FlashMLA's 656-byte layout) and its quantiser / dequantiser, shared by
// input generation, the reference and tests so that quantised caches are bit-identical everywhere.
//
// One token of one KV head, DSB_MLA_FP8_TOKEN_BYTES = 656 bytes:
//   bytes [  0, 512)  512 E4M3FN codes: latent dims 0..511 (the value, and the first 512 key dims)
//   bytes [512, 528)  4 FP32 scales, little-endian: scale g multiplies the codes of dims 128g..128g+127
//   bytes [528, 656)  64 BF16 values: RoPE dims 512..575 of the key, stored unquantised
// Dequantised latent dim d = e4m3(code[d]) * scale[d / 128]. The quantiser's scales are powers of two
// (the smallest with amax / scale <= 448), so every dequantised value is exactly a BF16 value.
#pragma once

#include <cstdint>

#include "dsbench/ops.h"

namespace dsbench::ref {

constexpr int kMlaFp8NopeDims = 512;    // E4M3 latent dims
constexpr int kMlaFp8RopeDims = 64;     // BF16 RoPE dims
constexpr int kMlaFp8GroupDims = 128;   // dims per scale
constexpr int kMlaFp8Groups = kMlaFp8NopeDims / kMlaFp8GroupDims;
constexpr int kMlaFp8ScaleOffset = kMlaFp8NopeDims;                       // 512
constexpr int kMlaFp8RopeOffset = kMlaFp8ScaleOffset + 4 * kMlaFp8Groups;  // 528
constexpr int kMlaFp8TokenDims = kMlaFp8NopeDims + kMlaFp8RopeDims;       // 576 = d_qk
static_assert(kMlaFp8RopeOffset + 2 * kMlaFp8RopeDims == DSB_MLA_FP8_TOKEN_BYTES, "656-byte token layout");

// Quantises one BF16 token [576] into the 656-byte layout: per 128 latent dims, scale = the
// power of two >= max(amax, 1e-4) / 448 (DeepSeek's recipe with UE8M0-style rounding, as FlashMLA's
// quantize_k_cache), code = e4m3(x / scale) rounded to nearest even; RoPE dims copied bit for bit.
void mla_fp8_quantize_token(const uint16_t* bf16_token, uint8_t* token);

// Scale g (0..3) of a token, the values of the 256 E4M3FN codes, and the dequantised value of dim d (0..575)
// in FP64, exactly.
float mla_fp8_scale(const uint8_t* token, int g);
const float* mla_fp8_code_table();  // [256]
double mla_fp8_value(const uint8_t* token, int d);

// All 576 dequantised dims as BF16 bits. Exact for power-of-two scales (what the quantiser writes);
// returns false, with every value rounded to nearest even, when some product is not a BF16 value.
bool mla_fp8_dequantize_token_bf16(const uint8_t* token, uint16_t* bf16_token);

}  // namespace dsbench::ref
