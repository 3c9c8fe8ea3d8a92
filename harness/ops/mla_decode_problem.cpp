#include "harness/ops/mla_decode_problem.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <tuple>

#include "dsbench/numerics/bf16.hpp"
#include "harness/error.hpp"
#include "harness/rng.hpp"
#include "reference/mla_decode_reference.hpp"
#include "reference/mla_kv_fp8.hpp"

namespace dsbench {

int64_t MlaDecodeShape::used_blocks() const {
  int64_t n = 0;
  for (int32_t len : seqlens) n += (len + page_block_size - 1) / page_block_size;
  return n;
}

int32_t MlaDecodeShape::num_blocks() const { return static_cast<int32_t>(used_blocks() + b); }

namespace {

constexpr uint8_t kNanByte = 0xff;  // all-ones: NaN as BF16, E4M3FN code and FP32 scale alike

// Two uniform values in [-1, 1) from one 64-bit draw (24 bits each, exact in float).
void uniform_pair(const CounterRng& rng, uint64_t i, float* a, float* b) {
  const uint64_t x = rng.bits(i);
  constexpr float kUnit = 2.0f / 16777216.0f;
  *a = static_cast<float>(x >> 40) * kUnit - 1.0f;
  *b = static_cast<float>((x >> 16) & 0xffffffu) * kUnit - 1.0f;
}

class MlaDecodeProblem final : public Problem {
 public:
  explicit MlaDecodeProblem(const MlaDecodeShape& s) : s_(s), num_blocks_(s.num_blocks()) {
    const bool fp8 = s.kv_dtype == DSB_DTYPE_E4M3FN;
    in_ = {{"q", DSB_DTYPE_BF16, {s.b, s.s_q, s.h_q, s.d_qk}},
           {"kv_cache", s.kv_dtype, {num_blocks_, s.page_block_size, s.h_kv, fp8 ? DSB_MLA_FP8_TOKEN_BYTES : s.d_qk}},
           {"block_table", DSB_DTYPE_I32, {s.b, s.max_blocks_per_seq}},
           {"cache_seqlens", DSB_DTYPE_I32, {s.b}}};
    out_ = {{"out", DSB_DTYPE_BF16, {s.b, s.s_q, s.h_q, s.d_v}}, {"lse", DSB_DTYPE_F32, {s.b, s.h_q, s.s_q}}};
    for (int32_t i = 0; i < s.b; ++i)
      for (int32_t t = 0; t < s.s_q; ++t)
        visible_ += ref::mla_visible_keys(s.seqlens[i], s.s_q, t, s.causal);
  }

  const std::vector<TensorSpec>& inputs() const override { return in_; }
  const std::vector<TensorSpec>& outputs() const override { return out_; }

  void generate(uint64_t seed, TensorMap& t) const override {
    generate_q(seed, t.at("q").as<uint16_t>());
    // Logical page k (in sequence order) lives at physical page perm[k]; the rest of perm are spares.
    std::vector<int32_t> perm(num_blocks_);
    for (int32_t k = 0; k < num_blocks_; ++k) perm[k] = k;
    const CounterRng prng(seed, hash_name("block_table"));
    for (int32_t k = num_blocks_ - 1; k > 0; --k) std::swap(perm[k], perm[prng.integer(k, 0, k)]);
    int32_t* bt = t.at("block_table").as<int32_t>();
    std::vector<std::pair<int32_t, int32_t>> owner(num_blocks_, {-1, -1});  // physical -> (sequence, logical page)
    int64_t k = 0;
    for (int32_t i = 0; i < s_.b; ++i) {
      const int32_t pages = (s_.seqlens[i] + s_.page_block_size - 1) / s_.page_block_size;
      for (int32_t j = 0; j < s_.max_blocks_per_seq; ++j) {
        const int64_t cell = static_cast<int64_t>(i) * s_.max_blocks_per_seq + j;
        if (j >= pages) { bt[cell] = kMlaInvalidBlock; continue; }
        bt[cell] = perm[k++];
        owner[bt[cell]] = {i, j};
      }
    }
    std::memcpy(t.at("cache_seqlens").data.data(), s_.seqlens.data(), 4 * static_cast<size_t>(s_.b));
    uint8_t* cache = t.at("kv_cache").as<uint8_t>();
    const int64_t page_bytes = static_cast<int64_t>(s_.page_block_size) * s_.h_kv * token_bytes();
#pragma omp parallel for schedule(dynamic, 4)
    for (int32_t phys = 0; phys < num_blocks_; ++phys) {
      uint8_t* page = cache + phys * page_bytes;
      const auto [i, lp] = owner[phys];
      std::vector<uint16_t> token(s_.d_qk);
      for (int32_t slot = 0; slot < s_.page_block_size; ++slot) {
        const int64_t j = static_cast<int64_t>(lp) * s_.page_block_size + slot;
        for (int32_t g = 0; g < s_.h_kv; ++g) {
          uint8_t* dst = page + (static_cast<int64_t>(slot) * s_.h_kv + g) * token_bytes();
          if (i < 0 || j >= s_.seqlens[i]) {  // spare page, or a slot past the sequence: never read
            std::memset(dst, kNanByte, token_bytes());
            continue;
          }
          generate_token(seed, i, g, j, token.data());
          if (s_.kv_dtype == DSB_DTYPE_E4M3FN) ref::mla_fp8_quantize_token(token.data(), dst);
          else std::memcpy(dst, token.data(), token_bytes());
        }
      }
    }
  }

  void validate(const TensorMap& t) const override {
    std::map<std::string, void*> host;
    for (const auto& [name, tensor] : t) host[name] = const_cast<uint8_t*>(tensor.data.data());
    float unused[1];  // the check wants output pointers; it writes nothing
    host["out"] = host["lse"] = unused;
    const std::vector<uint8_t> pb = params(host);
    const std::string why = ref::mla_decode_check(*reinterpret_cast<const dsb_mla_decode_params*>(pb.data()));
    if (!why.empty()) DSB_THROW(why);
  }

  std::vector<uint8_t> params(const std::map<std::string, void*>& p) const override {
    auto ptr = [&](const char* name) { return tensor_ptr(p, name); };
    dsb_mla_decode_params q{};
    q.b = s_.b;
    q.s_q = s_.s_q;
    q.h_q = s_.h_q;
    q.h_kv = s_.h_kv;
    q.d_qk = s_.d_qk;
    q.d_v = s_.d_v;
    q.page_block_size = s_.page_block_size;
    q.num_blocks = num_blocks_;
    q.max_blocks_per_seq = s_.max_blocks_per_seq;
    q.softmax_scale = s_.softmax_scale;
    q.causal = s_.causal ? 1 : 0;
    q.kv_dtype = s_.kv_dtype;
    q.q = ptr("q");
    q.kv_cache = ptr("kv_cache");
    q.block_table = static_cast<const int32_t*>(ptr("block_table"));
    q.cache_seqlens = static_cast<const int32_t*>(ptr("cache_seqlens"));
    q.out = ptr("out");
    q.lse = static_cast<float*>(ptr("lse"));
    return params_bytes(q);
  }

  std::vector<OutputCheck> reference(const TensorMap& t, const VerifyPolicy& policy, uint64_t sample_seed) const override {
    std::map<std::string, void*> host;
    for (const auto& [name, tensor] : t) host[name] = const_cast<uint8_t*>(tensor.data.data());
    const std::vector<uint8_t> pb = params(host);
    const auto& p = *reinterpret_cast<const dsb_mla_decode_params*>(pb.data());
    const int32_t* seqlens = t.at("cache_seqlens").as<int32_t>();

    using Triple = std::tuple<int32_t, int32_t, int32_t>;  // (sequence, query, head)
    std::vector<Triple> rows;
    OutputCheck out, lse;
    out.output = "out";
    lse.output = "lse";
    out.total = static_cast<int64_t>(s_.b) * s_.s_q * s_.h_q * s_.d_v;
    lse.total = static_cast<int64_t>(s_.b) * s_.s_q * s_.h_q;
    if (policy.force_full || reference_macs() <= policy.full_max_macs) {
      out.rule = lse.rule = "full: every (sequence, query, head)";
      for (int32_t i = 0; i < s_.b; ++i)
        for (int32_t q = 0; q < s_.s_q; ++q)
          for (int32_t h = 0; h < s_.h_q; ++h) rows.emplace_back(i, q, h);
    } else {
      out.sampled = lse.sampled = true;
      const int64_t random_rows = 4 * policy.sample_rows;
      std::set<Triple> pick{{0, 0, 0}, {s_.b - 1, s_.s_q - 1, s_.h_q - 1}};
      const CounterRng rng(sample_seed, hash_name("mla-sample"));
      for (int32_t i = 0; i < s_.b; ++i)  // free to check: the no-visible-key path
        if (seqlens[i] == 0) pick.insert({i, static_cast<int32_t>(rng.integer(3 * i, 0, s_.s_q - 1)),
                                          static_cast<int32_t>(rng.integer(3 * i + 1, 0, s_.h_q - 1))});
      const uint64_t base = 3 * static_cast<uint64_t>(s_.b);
      for (int64_t r = 0; r < random_rows; ++r)
        pick.insert({static_cast<int32_t>(rng.integer(base + 3 * r, 0, s_.b - 1)),
                     static_cast<int32_t>(rng.integer(base + 3 * r + 1, 0, s_.s_q - 1)),
                     static_cast<int32_t>(rng.integer(base + 3 * r + 2, 0, s_.h_q - 1))});
      rows.assign(pick.begin(), pick.end());
      out.rule = lse.rule = "sampled: (sequence, query, head) rows {first, last, one in every zero-length sequence, " +
                            std::to_string(random_rows) + " random}; every out element and the lse of each row";
    }
    const int64_t n_rows = static_cast<int64_t>(rows.size());
    out.index.resize(n_rows * s_.d_v);
    out.expected.resize(n_rows * s_.d_v);
    lse.index.resize(n_rows);
    lse.expected.resize(n_rows);
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t r = 0; r < n_rows; ++r) {
      const auto [i, q, h] = rows[r];
      std::vector<double> o(s_.d_v);
      double l;
      ref::mla_decode_head(p, i, q, h, o.data(), &l);
      const int64_t base = ((static_cast<int64_t>(i) * s_.s_q + q) * s_.h_q + h) * s_.d_v;
      for (int32_t d = 0; d < s_.d_v; ++d) {
        out.index[r * s_.d_v + d] = base + d;
        out.expected[r * s_.d_v + d] = bf16_to_f32(bf16_from_f64(o[d]));  // the oracle rounds once
      }
      lse.index[r] = (static_cast<int64_t>(i) * s_.h_q + h) * s_.s_q + q;
      lse.expected[r] = static_cast<float>(l);
    }
    return {out, lse};
  }

  double reference_macs() const override { return static_cast<double>(visible_) * s_.h_q * (s_.d_qk + s_.d_v); }

  double flops() const override {
    double keys = 0;  // FlashMLA's convention: every query counts the whole sequence, causal or not
    for (int32_t len : s_.seqlens) keys += len;
    return 2.0 * keys * s_.s_q * s_.h_q * (s_.d_qk + s_.d_v);
  }

  double bytes() const override {
    double tokens = 0;
    for (int32_t len : s_.seqlens) tokens += len;
    const double rows = static_cast<double>(s_.b) * s_.s_q * s_.h_q;
    return tokens * s_.h_kv * token_bytes()              // each visible cache token read once
           + rows * (2.0 * s_.d_qk + 2.0 * s_.d_v + 4.0)  // q read, out and lse written
           + 4.0 * (s_.used_blocks() + s_.b);            // used block_table entries and cache_seqlens
  }

 private:
  int64_t token_bytes() const {
    return s_.kv_dtype == DSB_DTYPE_E4M3FN ? DSB_MLA_FP8_TOKEN_BYTES : 2 * static_cast<int64_t>(s_.d_qk);
  }

  // q: uniform [-1, 1) times a magnitude per head, 2^x with x uniform in [-2, 1): heads range from
  // nearly flat attention to a few dominant keys.
  void generate_q(uint64_t seed, uint16_t* q) const {
    const CounterRng rng(seed, hash_name("q")), mag(seed, hash_name("q_magnitude"));
    const int64_t rows = static_cast<int64_t>(s_.b) * s_.s_q * s_.h_q, pairs = (s_.d_qk + 1) / 2;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const float m = std::exp2(mag.uniform(static_cast<uint64_t>(r % s_.h_q), -2.0f, 1.0f));
      for (int32_t d = 0; d < s_.d_qk; d += 2) {
        float a, b;
        uniform_pair(rng, static_cast<uint64_t>(r * pairs + d / 2), &a, &b);
        q[r * s_.d_qk + d] = bf16_from_f32(a * m);
        if (d + 1 < s_.d_qk) q[r * s_.d_qk + d + 1] = bf16_from_f32(b * m);
      }
    }
  }

  // Token j of sequence i, KV head g, as BF16: uniform [-1, 1) times 2^e per group of 128 dims (the
  // last group holds the RoPE dims), e in {-2, -1, 0, 1} from 2 random bits, so the FP8 scales of a token differ and a
  // misapplied scale shows. A function of (i, g, j) alone: the physical page does not matter.
  void generate_token(uint64_t seed, int32_t i, int32_t g, int64_t j, uint16_t* token) const {
    const CounterRng rng(seed, hash_name("kv_cache")), mag(seed, hash_name("kv_magnitude"));
    const uint64_t id = (static_cast<uint64_t>(i) * s_.max_blocks_per_seq * s_.page_block_size + j) * s_.h_kv + g;
    static constexpr float kPow2[4] = {0.25f, 0.5f, 1.0f, 2.0f};  // exact scalings, no libm call per value
    const uint64_t bits = mag.bits(id), pairs = (s_.d_qk + 1) / 2;
    for (int32_t d = 0; d < s_.d_qk; d += 2) {
      float a, b;
      uniform_pair(rng, id * pairs + d / 2, &a, &b);
      const float m = kPow2[(bits >> (2 * ((d / 128) % 32))) & 3u];
      token[d] = bf16_from_f32(a * m);
      if (d + 1 < s_.d_qk) token[d + 1] = bf16_from_f32(b * m);
    }
  }

  MlaDecodeShape s_;
  int32_t num_blocks_;
  int64_t visible_ = 0;  // sum over (sequence, query) of the keys the query sees
  std::vector<TensorSpec> in_, out_;
};

}  // namespace

std::unique_ptr<Problem> make_mla_decode_problem(const MlaDecodeShape& shape) {
  return std::make_unique<MlaDecodeProblem>(shape);
}

}  // namespace dsbench
