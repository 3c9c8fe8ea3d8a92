#include "reference/mla_decode_reference.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "dsbench/numerics/bf16.hpp"
#include "reference/mla_kv_fp8.hpp"

namespace dsbench::ref {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

int64_t token_bytes(const dsb_mla_decode_params& p) {
  return p.kv_dtype == DSB_DTYPE_E4M3FN ? DSB_MLA_FP8_TOKEN_BYTES : 2 * static_cast<int64_t>(p.d_qk);
}

// Address of token j of sequence i, KV head g (the sequence has at least j + 1 tokens).
const uint8_t* token_ptr(const dsb_mla_decode_params& p, int32_t i, int32_t g, int64_t j) {
  const int64_t page = p.block_table[static_cast<int64_t>(i) * p.max_blocks_per_seq + j / p.page_block_size];
  const int64_t slot = (page * p.page_block_size + j % p.page_block_size) * p.h_kv + g;
  return static_cast<const uint8_t*>(p.kv_cache) + slot * token_bytes(p);
}

}  // namespace

std::string mla_decode_check(const dsb_mla_decode_params& p) {
  if (p.b < 0) return "b: " + str(p.b) + " is negative";
  if (p.s_q < 0) return "s_q: " + str(p.s_q) + " is negative";
  if (p.h_q < 1) return "h_q: " + str(p.h_q) + " is not positive";
  if (p.h_kv < 1) return "h_kv: " + str(p.h_kv) + " is not positive";
  if (p.h_q % p.h_kv != 0) return "h_q: " + str(p.h_q) + " is not a multiple of h_kv = " + str(p.h_kv);
  if (p.d_qk < 1) return "d_qk: " + str(p.d_qk) + " is not positive";
  if (p.d_v < 1 || p.d_v > p.d_qk) return "d_v: " + str(p.d_v) + " is not in [1, d_qk = " + str(p.d_qk) + "]";
  if (p.page_block_size < 1) return "page_block_size: " + str(p.page_block_size) + " is not positive";
  if (p.num_blocks < 0) return "num_blocks: " + str(p.num_blocks) + " is negative";
  if (p.max_blocks_per_seq < 0) return "max_blocks_per_seq: " + str(p.max_blocks_per_seq) + " is negative";
  if (p.causal != 0 && p.causal != 1) return "causal: " + str(p.causal) + " is not 0 or 1";
  if (!std::isfinite(p.softmax_scale)) return "softmax_scale: " + std::to_string(p.softmax_scale) + " is not finite";
  if (p.kv_dtype != DSB_DTYPE_BF16 && p.kv_dtype != DSB_DTYPE_E4M3FN)
    return std::string("kv_dtype: ") + dsb_dtype_name(p.kv_dtype) + " is not bf16 or e4m3fn";
  if (p.kv_dtype == DSB_DTYPE_E4M3FN && (p.d_qk != kMlaFp8TokenDims || p.d_v != kMlaFp8NopeDims))
    return "kv_dtype e4m3fn: the 656-byte token layout needs d_qk = 576 and d_v = 512, got d_qk = " + str(p.d_qk) +
           ", d_v = " + str(p.d_v);
  const bool rows = p.b > 0 && p.s_q > 0;
  if (rows && (p.q == nullptr || p.out == nullptr || p.lse == nullptr)) return "q, out and lse must not be null";
  if (p.b > 0 && p.cache_seqlens == nullptr) return "cache_seqlens must not be null";
  const int64_t capacity = static_cast<int64_t>(p.max_blocks_per_seq) * p.page_block_size;
  for (int32_t i = 0; i < p.b; ++i) {
    const int64_t len = p.cache_seqlens[i];
    if (len < 0) return "cache_seqlens[" + str(i) + "]: " + str(len) + " is negative";
    if (len > capacity)
      return "cache_seqlens[" + str(i) + "]: " + str(len) + " exceeds the block table's capacity of " + str(capacity) +
             " tokens (max_blocks_per_seq " + str(p.max_blocks_per_seq) + " x page_block_size " +
             str(p.page_block_size) + ")";
    const int64_t pages = (len + p.page_block_size - 1) / p.page_block_size;
    if (pages > 0 && (p.block_table == nullptr || p.kv_cache == nullptr))
      return "block_table and kv_cache must not be null";
    for (int64_t j = 0; j < pages; ++j) {
      const int64_t page = p.block_table[static_cast<int64_t>(i) * p.max_blocks_per_seq + j];
      if (page < 0 || page >= p.num_blocks)
        return "block_table[" + str(i) + ", " + str(j) + "]: " + str(page) + " is not a page index in [0, num_blocks = " +
               str(p.num_blocks) + ") (sequence " + str(i) + " of length " + str(len) + " uses its first " +
               str(pages) + " entries)";
    }
  }
  return "";
}

int64_t mla_visible_keys(int64_t seqlen, int32_t s_q, int32_t t, bool causal) {
  if (!causal) return seqlen;
  return std::clamp<int64_t>(seqlen - s_q + t + 1, 0, seqlen);
}

void mla_load_key(const dsb_mla_decode_params& p, int32_t i, int32_t g, int64_t j, int32_t count, double* k) {
  const uint8_t* tok = token_ptr(p, i, g, j);
  if (p.kv_dtype == DSB_DTYPE_E4M3FN) {
    const float* code = mla_fp8_code_table();
    int32_t d = 0;
    for (int grp = 0; grp < kMlaFp8Groups && d < count; ++grp) {
      const double scale = mla_fp8_scale(tok, grp);
      for (; d < count && d < (grp + 1) * kMlaFp8GroupDims; ++d) k[d] = code[tok[d]] * scale;
    }
    for (; d < count; ++d) k[d] = mla_fp8_value(tok, d);  // the BF16 RoPE dims
  } else {
    const auto* h = reinterpret_cast<const uint16_t*>(tok);
    for (int32_t d = 0; d < count; ++d) k[d] = bf16_to_f32(h[d]);
  }
}

void mla_decode_head(const dsb_mla_decode_params& p, int32_t i, int32_t t, int32_t h, double* out, double* lse) {
  const int32_t g = h / (p.h_q / p.h_kv);
  const int64_t n = mla_visible_keys(p.cache_seqlens[i], p.s_q, t, p.causal != 0);
  if (n == 0) {
    std::fill(out, out + p.d_v, 0.0);
    *lse = std::numeric_limits<double>::infinity();
    return;
  }
  const auto* q16 = static_cast<const uint16_t*>(p.q) + ((static_cast<int64_t>(i) * p.s_q + t) * p.h_q + h) * p.d_qk;
  std::vector<double> q(p.d_qk), k(p.d_qk), s(n);
  for (int32_t d = 0; d < p.d_qk; ++d) q[d] = bf16_to_f32(q16[d]);
  // Pass 1: scaled scores and their maximum. Products of BF16 values are exact in FP64; the sums
  // carry ~1e-16 relative error.
  double smax = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < n; ++j) {
    mla_load_key(p, i, g, j, p.d_qk, k.data());
    // Four partial sums: the FP64 rounding of any order is far below what the check resolves, and
    // one running sum would make the oracle latency-bound.
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    int32_t d = 0;
    for (; d + 4 <= p.d_qk; d += 4) {
      s0 += q[d] * k[d];
      s1 += q[d + 1] * k[d + 1];
      s2 += q[d + 2] * k[d + 2];
      s3 += q[d + 3] * k[d + 3];
    }
    for (; d < p.d_qk; ++d) s0 += q[d] * k[d];
    s[j] = static_cast<double>(p.softmax_scale) * ((s0 + s1) + (s2 + s3));
    smax = std::max(smax, s[j]);
  }
  // Pass 2: weights exp(s - max) in (0, 1], their sum, and the weighted values (first d_v dims).
  double sum = 0.0;
  std::vector<double> acc(p.d_v, 0.0);
  for (int64_t j = 0; j < n; ++j) {
    const double w = std::exp(s[j] - smax);
    sum += w;
    mla_load_key(p, i, g, j, p.d_v, k.data());
    for (int32_t d = 0; d < p.d_v; ++d) acc[d] += w * k[d];
  }
  for (int32_t d = 0; d < p.d_v; ++d) out[d] = acc[d] / sum;
  *lse = smax + std::log(sum);
}

void mla_store_head(const dsb_mla_decode_params& p, int32_t i, int32_t t, int32_t h, const double* out, double lse) {
  const int64_t row = (static_cast<int64_t>(i) * p.s_q + t) * p.h_q + h;
  auto* o = static_cast<uint16_t*>(p.out) + row * p.d_v;
  for (int32_t d = 0; d < p.d_v; ++d) o[d] = bf16_from_f64(out[d]);
  p.lse[(static_cast<int64_t>(i) * p.h_q + h) * p.s_q + t] = static_cast<float>(lse);
}

void mla_decode(const dsb_mla_decode_params& p) {
  std::vector<double> out(p.d_v);
  double lse;
  for (int32_t i = 0; i < p.b; ++i)
    for (int32_t t = 0; t < p.s_q; ++t)
      for (int32_t h = 0; h < p.h_q; ++h) {
        mla_decode_head(p, i, t, h, out.data(), &lse);
        mla_store_head(p, i, t, h, out.data(), lse);
      }
}

}  // namespace dsbench::ref
