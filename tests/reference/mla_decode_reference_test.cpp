// The FP64 MLA decode oracle against independent facts: hand-computed softmax cases, the causal
// window, the no-visible-key convention, a dense unpaged attention written here from scratch,
// invariance under random page permutation, the FP8 cache against its dequantised BF16 twin, the
// 656-byte quantiser layout, and the contract check's messages. Never against itself.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "dsbench/numerics/bf16.hpp"
#include "dsbench/numerics/fp8.hpp"
#include "reference/mla_decode_reference.hpp"
#include "reference/mla_kv_fp8.hpp"

namespace dsbench {
namespace {

uint16_t bf(float x) { return bf16_from_f32(x); }
float fl(uint16_t h) { return bf16_to_f32(h); }

// A paged MLA problem built from dense per-sequence keys: pages in a random physical order, NaN in
// every slot past a sequence's length, unused block_table entries far out of range.
struct Paged {
  int32_t b = 1, s_q = 1, h_q = 1, h_kv = 1, d_qk = 576, d_v = 512, page = 64;
  float scale = 0.0f;
  bool causal = false;
  bool fp8 = false;
  std::vector<int32_t> seqlens;
  std::vector<uint16_t> q;                       // [b, s_q, h_q, d_qk]
  std::vector<std::vector<uint16_t>> keys;       // per sequence: [len, h_kv, d_qk]
  std::vector<uint8_t> cache;                    // built by build()
  std::vector<int32_t> table;
  int32_t num_blocks = 0, max_blocks = 0;
  std::vector<uint16_t> out;
  std::vector<float> lse;

  int64_t token_bytes() const { return fp8 ? DSB_MLA_FP8_TOKEN_BYTES : 2 * d_qk; }

  void build(uint32_t perm_seed, int extra_columns = 1) {
    max_blocks = 0;
    int32_t used = 0;
    for (int32_t len : seqlens) {
      const int32_t pages = (len + page - 1) / page;
      max_blocks = std::max(max_blocks, pages);
      used += pages;
    }
    max_blocks += extra_columns;
    num_blocks = used + 1;  // one spare page nobody references
    std::vector<int32_t> perm(num_blocks);
    std::iota(perm.begin(), perm.end(), 0);
    std::mt19937 gen(perm_seed);
    std::shuffle(perm.begin(), perm.end(), gen);
    const int64_t page_bytes = static_cast<int64_t>(page) * h_kv * token_bytes();
    cache.assign(num_blocks * page_bytes, 0xff);  // NaN everywhere nothing is written
    table.assign(static_cast<size_t>(b) * max_blocks, std::numeric_limits<int32_t>::max());
    int32_t k = 0;
    for (int32_t i = 0; i < b; ++i) {
      for (int32_t j = 0; j * page < seqlens[i]; ++j) table[i * max_blocks + j] = perm[k++];
      for (int32_t t = 0; t < seqlens[i]; ++t)
        for (int32_t g = 0; g < h_kv; ++g) {
          const uint16_t* src = keys[i].data() + (static_cast<int64_t>(t) * h_kv + g) * d_qk;
          uint8_t* dst = cache.data() + table[i * max_blocks + t / page] * page_bytes +
                         (static_cast<int64_t>(t % page) * h_kv + g) * token_bytes();
          if (fp8) ref::mla_fp8_quantize_token(src, dst);
          else std::memcpy(dst, src, 2 * static_cast<size_t>(d_qk));
        }
    }
  }

  dsb_mla_decode_params params() {
    out.assign(static_cast<size_t>(b) * s_q * h_q * d_v, 0xffff);
    lse.assign(static_cast<size_t>(b) * s_q * h_q, NAN);
    dsb_mla_decode_params p{};
    p.b = b; p.s_q = s_q; p.h_q = h_q; p.h_kv = h_kv; p.d_qk = d_qk; p.d_v = d_v;
    p.page_block_size = page; p.num_blocks = num_blocks; p.max_blocks_per_seq = max_blocks;
    p.softmax_scale = scale; p.causal = causal ? 1 : 0;
    p.kv_dtype = fp8 ? DSB_DTYPE_E4M3FN : DSB_DTYPE_BF16;
    p.q = q.data(); p.kv_cache = cache.data(); p.block_table = table.data(); p.cache_seqlens = seqlens.data();
    p.out = out.data(); p.lse = lse.data();
    return p;
  }
  float out_at(int32_t i, int32_t t, int32_t h, int32_t d) const {
    return fl(out[((static_cast<size_t>(i) * s_q + t) * h_q + h) * d_v + d]);
  }
  float lse_at(int32_t i, int32_t t, int32_t h) const { return lse[(static_cast<size_t>(i) * h_q + h) * s_q + t]; }
};

// Random BF16 values in [-1, 1), never zero in bulk.
void fill_random(std::vector<uint16_t>& v, size_t n, std::mt19937& gen, float magnitude = 1.0f) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  v.resize(n);
  for (auto& x : v) x = bf(u(gen) * magnitude);
}

Paged random_case(int32_t b, int32_t s_q, int32_t h_q, int32_t h_kv, std::vector<int32_t> seqlens, bool causal,
                  uint32_t seed, float q_magnitude = 1.0f) {
  Paged c;
  c.b = b; c.s_q = s_q; c.h_q = h_q; c.h_kv = h_kv; c.causal = causal; c.seqlens = std::move(seqlens);
  c.scale = 0.1352f;
  std::mt19937 gen(seed);
  fill_random(c.q, static_cast<size_t>(b) * s_q * h_q * c.d_qk, gen, q_magnitude);
  c.keys.resize(b);
  for (int32_t i = 0; i < b; ++i) fill_random(c.keys[i], static_cast<size_t>(c.seqlens[i]) * h_kv * c.d_qk, gen);
  return c;
}

TEST(MlaReference, OneKeyGivesItsValueAndItsScaledScore) {
  Paged c = random_case(1, 1, 2, 1, {1}, false, 1);
  c.build(0);
  auto p = c.params();
  ref::mla_decode(p);
  for (int32_t h = 0; h < 2; ++h) {
    for (int32_t d = 0; d < c.d_v; ++d) ASSERT_EQ(c.out_at(0, 0, h, d), fl(c.keys[0][d])) << "h " << h << " d " << d;
    double dot = 0;
    for (int32_t d = 0; d < c.d_qk; ++d) dot += static_cast<double>(fl(c.q[h * c.d_qk + d])) * fl(c.keys[0][d]);
    EXPECT_EQ(c.lse_at(0, 0, h), static_cast<float>(static_cast<double>(c.scale) * dot));  // ln(e^s) = s
  }
}

TEST(MlaReference, WeighsTwoKeysByTheSoftmaxOfTheirScores) {
  // q = (1, 0, ...); key 0 has k[0] = 0, key 1 has k[0] = 2: scores 0 and 2 * scale. Values 1 and
  // -1 in dim 1 (and 4 and 2 in dim 2).
  Paged c;
  c.scale = 0.5f;
  c.seqlens = {2};
  c.q.assign(c.d_qk, bf(0));
  c.q[0] = bf(1);
  c.keys = {std::vector<uint16_t>(2 * c.d_qk, bf(0))};
  c.keys[0][1] = bf(1); c.keys[0][2] = bf(4);
  c.keys[0][c.d_qk + 0] = bf(2); c.keys[0][c.d_qk + 1] = bf(-1); c.keys[0][c.d_qk + 2] = bf(2);
  c.build(3);
  auto p = c.params();
  ref::mla_decode(p);
  const double w1 = std::exp(1.0) / (1.0 + std::exp(1.0)), w0 = 1.0 - w1;  // scores 0 and 1
  EXPECT_EQ(c.out_at(0, 0, 0, 0), fl(bf16_from_f64(w1 * 2.0)));
  EXPECT_EQ(c.out_at(0, 0, 0, 1), fl(bf16_from_f64(w0 - w1)));
  EXPECT_EQ(c.out_at(0, 0, 0, 2), fl(bf16_from_f64(4 * w0 + 2 * w1)));
  EXPECT_EQ(c.out_at(0, 0, 0, 3), 0.0f);
  EXPECT_EQ(c.lse_at(0, 0, 0), static_cast<float>(std::log(1.0 + std::exp(1.0))));
}

TEST(MlaReference, EqualScoresAverageTheValuesAndAddLnN) {
  // q = 0: every score is 0, weights are 1/n, lse = ln n.
  Paged c = random_case(1, 1, 1, 1, {5}, false, 2);
  std::fill(c.q.begin(), c.q.end(), bf(0));
  c.build(1);
  auto p = c.params();
  ref::mla_decode(p);
  for (int32_t d = 0; d < c.d_v; ++d) {
    double sum = 0;  // exact: five BF16 values
    for (int32_t j = 0; j < 5; ++j) sum += fl(c.keys[0][j * c.d_qk + d]);
    ASSERT_EQ(c.out_at(0, 0, 0, d), fl(bf16_from_f64(sum / 5))) << d;
  }
  EXPECT_EQ(c.lse_at(0, 0, 0), static_cast<float>(std::log(5.0)));
}

TEST(MlaReference, CausalQueryISeesKeysUpToLengthMinusSqPlusI) {
  // Equal scores again; value dim 0 of key j is j, so out[.., 0] is the mean index of what is seen.
  Paged c = random_case(1, 3, 1, 1, {5}, true, 3);
  std::fill(c.q.begin(), c.q.end(), bf(0));
  for (int32_t j = 0; j < 5; ++j) c.keys[0][j * c.d_qk] = bf(static_cast<float>(j));
  c.build(2);
  auto p = c.params();
  ref::mla_decode(p);
  EXPECT_EQ(c.out_at(0, 0, 0, 0), 1.0f);  // keys 0..2
  EXPECT_EQ(c.out_at(0, 1, 0, 0), 1.5f);  // keys 0..3
  EXPECT_EQ(c.out_at(0, 2, 0, 0), 2.0f);  // keys 0..4
  EXPECT_EQ(c.lse_at(0, 0, 0), static_cast<float>(std::log(3.0)));
  EXPECT_EQ(c.lse_at(0, 2, 0), static_cast<float>(std::log(5.0)));
  c.causal = false;
  p = c.params();
  ref::mla_decode(p);
  for (int32_t t = 0; t < 3; ++t) EXPECT_EQ(c.out_at(0, t, 0, 0), 2.0f) << t;
  EXPECT_EQ(ref::mla_visible_keys(5, 3, 0, true), 3);
  EXPECT_EQ(ref::mla_visible_keys(1, 4, 2, true), 0);
  EXPECT_EQ(ref::mla_visible_keys(1, 4, 3, true), 1);
  EXPECT_EQ(ref::mla_visible_keys(1, 4, 0, false), 1);
}

TEST(MlaReference, NoVisibleKeyGivesZeroOutAndPlusInfinityLse) {
  // Sequence 0 is empty; sequence 1 has 2 keys and 4 causal queries, the first two of which see none.
  Paged c = random_case(2, 4, 2, 1, {0, 2}, true, 4);
  c.build(5);
  auto p = c.params();
  ref::mla_decode(p);
  for (int32_t t = 0; t < 4; ++t)
    for (int32_t h = 0; h < 2; ++h) {
      const bool empty = t < 2;
      EXPECT_EQ(c.lse_at(0, t, h), INFINITY);
      EXPECT_EQ(c.lse_at(1, t, h) == INFINITY, empty) << t;
      for (int32_t d = 0; d < c.d_v; ++d) {
        ASSERT_EQ(c.out_at(0, t, h, d), 0.0f);
        if (empty) {
          ASSERT_EQ(c.out_at(1, t, h, d), 0.0f);
        } else {
          ASSERT_TRUE(std::isfinite(c.out_at(1, t, h, d)));
        }
      }
    }
}

// Dense attention over the unpaged keys, written without the reference's helpers: scores in long
// double, softmax through a log-sum-exp, one rounding at the end.
void dense_attention(const Paged& c, int32_t i, int32_t t, int32_t h, std::vector<long double>* out,
                     long double* lse) {
  const int32_t g = h / (c.h_q / c.h_kv);
  int64_t n = c.seqlens[i];
  if (c.causal) n = std::max<int64_t>(0, std::min<int64_t>(n, c.seqlens[i] - c.s_q + t + 1));
  out->assign(c.d_v, 0.0L);
  if (n == 0) { *lse = INFINITY; return; }
  // The keys as long double: BF16 decoded, or the FP8 token's codes times their group's scale.
  std::vector<long double> k(n * c.d_qk);
  for (int64_t j = 0; j < n; ++j) {
    const uint16_t* src = c.keys[i].data() + (j * c.h_kv + g) * c.d_qk;
    uint8_t tok[DSB_MLA_FP8_TOKEN_BYTES] = {};
    if (c.fp8) ref::mla_fp8_quantize_token(src, tok);
    for (int32_t d = 0; d < c.d_qk; ++d) {
      if (!c.fp8 || d >= 512) {
        k[j * c.d_qk + d] = fl(src[d]);
        continue;
      }
      float sc;
      std::memcpy(&sc, tok + 512 + 4 * (d / 128), 4);
      k[j * c.d_qk + d] = static_cast<long double>(fp8_decode(tok[d], DSB_DTYPE_E4M3FN)) * sc;
    }
  }
  auto key = [&](int64_t j, int32_t d) { return k[j * c.d_qk + d]; };
  std::vector<long double> s(n);
  const uint16_t* q = c.q.data() + ((static_cast<int64_t>(i) * c.s_q + t) * c.h_q + h) * c.d_qk;
  for (int64_t j = 0; j < n; ++j) {
    long double dot = 0;
    for (int32_t d = 0; d < c.d_qk; ++d) dot += static_cast<long double>(fl(q[d])) * key(j, d);
    s[j] = dot * static_cast<long double>(c.scale);
  }
  const long double mx = *std::max_element(s.begin(), s.end());
  long double z = 0;
  for (int64_t j = 0; j < n; ++j) z += std::exp(s[j] - mx);
  *lse = mx + std::log(z);
  for (int64_t j = 0; j < n; ++j) {
    const long double w = std::exp(s[j] - *lse);
    for (int32_t d = 0; d < c.d_v; ++d) (*out)[d] += w * key(j, d);
  }
}

void expect_matches_dense(Paged& c) {
  auto p = c.params();
  ref::mla_decode(p);
  int64_t exact = 0, total = 0;
  std::vector<long double> o;
  long double l;
  for (int32_t i = 0; i < c.b; ++i)
    for (int32_t t = 0; t < c.s_q; ++t)
      for (int32_t h = 0; h < c.h_q; ++h) {
        dense_attention(c, i, t, h, &o, &l);
        const float lse = c.lse_at(i, t, h);
        if (std::isinf(static_cast<double>(l))) {
          EXPECT_EQ(lse, INFINITY);
        } else {
          EXPECT_NEAR(lse, static_cast<double>(l), 2e-7 * std::fabs(static_cast<double>(l)) + 1e-30);
        }
        for (int32_t d = 0; d < c.d_v; ++d) {
          const float want = fl(bf16_from_f64(static_cast<double>(o[d]))), got = c.out_at(i, t, h, d);
          ++total;
          if (want == got) { ++exact; continue; }
          // A different summation order can only flip a rounding that is within ~1e-15 of a tie.
          ASSERT_LE(std::fabs(got - want), std::ldexp(std::fabs(want), -7)) << i << " " << t << " " << h << " " << d;
        }
      }
  EXPECT_GE(exact, total - total / 10000) << "of " << total;
}

TEST(MlaReference, MatchesADenseUnpagedAttention) {
  // Varlen batch with an empty sequence, a partial last page, h_kv = 2 and causal MTP queries.
  Paged c = random_case(3, 2, 4, 2, {0, 70, 129}, true, 11, 4.0f);
  c.build(7);
  expect_matches_dense(c);
  Paged flat = random_case(2, 1, 3, 1, {20, 140}, false, 12, 0.25f);  // nearly uniform weights
  flat.build(8, 3);
  expect_matches_dense(flat);
}

TEST(MlaReference, Fp8CacheMatchesADenseAttentionOnItsDequantisedKeys) {
  Paged c = random_case(2, 2, 3, 1, {65, 5}, true, 13);
  c.fp8 = true;
  c.build(9);
  expect_matches_dense(c);
}

TEST(MlaReference, PermutingThePhysicalPagesChangesNoBit) {
  Paged c = random_case(3, 2, 5, 1, {200, 64, 1}, false, 21);
  c.page = 16;
  c.build(100);
  auto p = c.params();
  ref::mla_decode(p);
  const std::vector<uint16_t> out = c.out;
  const std::vector<float> lse = c.lse;
  for (uint32_t seed : {101u, 102u, 103u}) {
    c.build(seed);
    p = c.params();
    ref::mla_decode(p);
    EXPECT_EQ(c.out, out) << seed;
    EXPECT_EQ(std::memcmp(c.lse.data(), lse.data(), 4 * lse.size()), 0) << seed;
  }
}

TEST(MlaReference, Fp8CacheGivesTheSameBitsAsItsDequantisedBf16Cache) {
  Paged f = random_case(2, 1, 4, 1, {100, 30}, false, 31);
  f.fp8 = true;
  f.build(5);
  auto pf = f.params();
  ref::mla_decode(pf);
  // The BF16 twin: every token dequantised (exactly: the scales are powers of two).
  Paged b = f;
  b.fp8 = false;
  for (int32_t i = 0; i < b.b; ++i)
    for (int32_t t = 0; t < b.seqlens[i]; ++t) {
      uint8_t tok[DSB_MLA_FP8_TOKEN_BYTES];
      ref::mla_fp8_quantize_token(f.keys[i].data() + t * 576, tok);
      ASSERT_TRUE(ref::mla_fp8_dequantize_token_bf16(tok, b.keys[i].data() + t * 576));
    }
  b.build(6);
  auto pb = b.params();
  ref::mla_decode(pb);
  EXPECT_EQ(b.out, f.out);
  EXPECT_EQ(std::memcmp(b.lse.data(), f.lse.data(), 4 * f.lse.size()), 0);
}

TEST(MlaKvFp8, QuantisesEach128DimGroupWithAPowerOfTwoScaleAtItsByteOffsets) {
  std::vector<uint16_t> x(576);
  std::mt19937 gen(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const float mags[4] = {1.0f, 300.0f, 1e-3f, 0.0f};  // group 3 all zeros
  for (int d = 0; d < 576; ++d) x[d] = d >= 512 ? bf(u(gen)) : mags[d / 128] == 0.0f ? bf(0.0f) : bf(u(gen) * mags[d / 128]);
  x[128] = bf(448.0f);  // group 1 amax 448 exactly: scale 1, code 448
  uint8_t tok[DSB_MLA_FP8_TOKEN_BYTES];
  std::memset(tok, 0xab, sizeof tok);
  ref::mla_fp8_quantize_token(x.data(), tok);
  float scales[4];
  std::memcpy(scales, tok + 512, 16);
  for (int g = 0; g < 4; ++g) {
    int e;
    EXPECT_EQ(std::frexp(scales[g], &e), 0.5f) << "scale " << g << " = " << scales[g] << " is not a power of two";
    EXPECT_EQ(scales[g], ref::mla_fp8_scale(tok, g));
  }
  EXPECT_EQ(scales[1], 1.0f);
  EXPECT_EQ(tok[128], fp8_encode(448.0f, DSB_DTYPE_E4M3FN));
  EXPECT_EQ(scales[3], std::ldexp(1.0f, -22));  // amax floor 1e-4: 2^ceil(log2(1e-4 / 448))
  EXPECT_EQ(std::memcmp(tok + 528, x.data() + 512, 128), 0);  // RoPE dims copied bit for bit
  for (int d = 0; d < 512; ++d) {
    const float s = scales[d / 128], v = fl(x[d]);
    // The scale is the smallest power of two with amax / s <= 448, so codes use the top binade...
    const double got = ref::mla_fp8_value(tok, d);
    EXPECT_EQ(got, static_cast<double>(fp8_decode(tok[d], DSB_DTYPE_E4M3FN)) * s);
    // ...and each value is within half an E4M3 step (2^-4 relative, or the subnormal step 2^-10 * s).
    EXPECT_LE(std::fabs(got - v), std::max(std::fabs(v) / 16.0, std::ldexp(1.0, -10) * s)) << d;
  }
  for (int d = 384; d < 512; ++d) EXPECT_EQ(tok[d], 0) << d;
}

TEST(MlaReference, CheckNamesTheOffendingFieldOrElement) {
  Paged c = random_case(2, 1, 4, 1, {70, 10}, false, 41);
  c.build(1);
  auto base = c.params();
  EXPECT_EQ(ref::mla_decode_check(base), "");
  auto p = base;
  p.h_kv = 3;
  EXPECT_EQ(ref::mla_decode_check(p), "h_q: 4 is not a multiple of h_kv = 3");
  p = base;
  p.d_v = 600;
  EXPECT_EQ(ref::mla_decode_check(p), "d_v: 600 is not in [1, d_qk = 576]");
  p = base;
  p.kv_dtype = DSB_DTYPE_E4M3FN;
  p.d_qk = 192;
  p.d_v = 128;
  EXPECT_EQ(ref::mla_decode_check(p),
            "kv_dtype e4m3fn: the 656-byte token layout needs d_qk = 576 and d_v = 512, got d_qk = 192, d_v = 128");
  std::vector<int32_t> lens = {70, 129};  // 129 > 2 pages x 64 (max_blocks_per_seq is 2 + 1 spare = 3)
  lens[1] = 3 * 64 + 1;
  p = base;
  p.cache_seqlens = lens.data();
  EXPECT_EQ(ref::mla_decode_check(p),
            "cache_seqlens[1]: 193 exceeds the block table's capacity of 192 tokens (max_blocks_per_seq 3 x "
            "page_block_size 64)");
  lens[1] = -1;
  EXPECT_EQ(ref::mla_decode_check(p), "cache_seqlens[1]: -1 is negative");
  std::vector<int32_t> table = c.table;
  p = base;
  p.block_table = table.data();
  table[1] = -1;  // sequence 0 uses entries 0 and 1
  EXPECT_EQ(ref::mla_decode_check(p),
            "block_table[0, 1]: -1 is not a page index in [0, num_blocks = 4) (sequence 0 of length 70 uses its "
            "first 2 entries)");
  table[1] = c.table[1];
  table[c.max_blocks] = 4;
  EXPECT_EQ(ref::mla_decode_check(p),
            "block_table[1, 0]: 4 is not a page index in [0, num_blocks = 4) (sequence 1 of length 10 uses its "
            "first 1 entries)");
  table[c.max_blocks] = c.table[c.max_blocks];
  table[2] = -7;  // unused entries are neither read nor judged
  EXPECT_EQ(ref::mla_decode_check(p), "");
  p = base;
  p.out = nullptr;
  EXPECT_EQ(ref::mla_decode_check(p), "q, out and lse must not be null");
  p = base;
  p.causal = 2;
  EXPECT_EQ(ref::mla_decode_check(p), "causal: 2 is not 0 or 1");
  p = base;
  p.kv_dtype = DSB_DTYPE_E5M2;
  EXPECT_EQ(ref::mla_decode_check(p), "kv_dtype: e5m2 is not bf16 or e4m3fn");
}

}  // namespace
}  // namespace dsbench
