// The oracle for MLA decode (absorbed form over a paged latent cache, ../shared/DEEPSEEK.md §4):
// decode every visible key exactly (BF16, or the FP8 656-byte token dequantised), scores, softmax and
// the weighted sum of values in FP64, rounded once (out to BF16, lse to FP32). Plain loops, obviously
// right; slow by design. Host pointers only. Also the contract check every CPU kernel runs first.
#pragma once

#include <cstdint>
#include <string>

#include "dsbench/ops.h"

namespace dsbench::ref {

// "" when p satisfies the contract, otherwise what is wrong, naming the field or the element
// ("cache_seqlens[2]: 300 exceeds the block table's capacity ..."). Reads cache_seqlens and the
// used entries of block_table (host memory); unused entries (past a sequence's pages) are not read.
std::string mla_decode_check(const dsb_mla_decode_params& p);

// Keys visible to query t (0 <= t < s_q) of a sequence of length seqlen: all of them, or with
// causal the first seqlen - s_q + t + 1 (never negative).
int64_t mla_visible_keys(int64_t seqlen, int32_t s_q, int32_t t, bool causal);

// Dims [0, count) of key token j of sequence i, KV head g, decoded exactly into k.
void mla_load_key(const dsb_mla_decode_params& p, int32_t i, int32_t g, int64_t j, int32_t count, double* k);

// One query row (sequence i, query t, head h) in FP64 before rounding: out[d_v] and the natural
// log-sum-exp of the scaled scores. No visible key: out = 0, lse = +inf (the contract's convention).
void mla_decode_head(const dsb_mla_decode_params& p, int32_t i, int32_t t, int32_t h, double* out, double* lse);

// Rounds one row's FP64 result into p.out (BF16, once) and p.lse (FP32, once).
void mla_store_head(const dsb_mla_decode_params& p, int32_t i, int32_t t, int32_t h, const double* out, double lse);

// Every row, serially. The params must pass mla_decode_check.
void mla_decode(const dsb_mla_decode_params& p);

}  // namespace dsbench::ref
