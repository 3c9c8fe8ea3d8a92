// The MLA decode problem: param validation messages, tensor shapes, inputs generated as FlashMLA's
// tests do (deterministic, never zero, NaN past every length, pages permuted, unused table entries
// invalid), cost formulas, the sampled check, replay validation, independence from the physical page
// order, and the default tolerances against simulated kernels: FlashMLA's design (BF16 softmax
// weights) and FP32 pass; a BF16 accumulator, BF16 scores, a read past the length, an off-by-one
// causal window and a misapplied FP8 scale fail.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>

#include "dsbench/numerics/bf16.hpp"
#include "harness/error.hpp"
#include "harness/metrics.hpp"
#include "harness/op_registry.hpp"
#include "harness/ops/mla_decode_problem.hpp"
#include "kernels/cpu/mla_decode_cpu.hpp"
#include "reference/mla_decode_reference.hpp"
#include "reference/mla_kv_fp8.hpp"

namespace dsbench {
namespace {

const OpDriver& driver() { return *find_driver(DSB_OP_MLA_DECODE); }

std::string make_error(const nlohmann::json& params) {
  try {
    driver().make(params);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TensorMap generate(const Problem& p, uint64_t seed) {
  TensorMap t;
  for (const TensorSpec& s : p.inputs()) t.emplace(s.name, HostTensor(s));
  p.generate(seed, t);
  return t;
}

TensorMap blank_outputs(const Problem& p) {
  TensorMap t;
  for (const TensorSpec& s : p.outputs()) t.emplace(s.name, HostTensor(s));
  return t;
}

dsb_mla_decode_params params_over(const Problem& p, TensorMap& in, TensorMap& out) {
  std::map<std::string, void*> ptrs;
  for (auto& [name, t] : in) ptrs[name] = t.data.data();
  for (auto& [name, t] : out) ptrs[name] = t.data.data();
  const std::vector<uint8_t> bytes = p.params(ptrs);
  dsb_mla_decode_params q;
  std::memcpy(&q, bytes.data(), sizeof q);
  return q;
}

TEST(MlaDriver, NamesTheOffendingFieldOfImpossibleParams) {
  const nlohmann::json ok = {{"b", 2}, {"s_q", 1}, {"h_q", 16}, {"seqlen", 100}};
  EXPECT_EQ(make_error(ok), "");
  auto with = [&](const char* key, nlohmann::json v) { nlohmann::json j = ok; j[key] = v; return make_error(j); };
  EXPECT_EQ(with("h_kv", 3), "params.h_q: 16 is not a multiple of h_kv = 3");
  EXPECT_EQ(with("seqlen", {1, 2, 3}), "params.seqlen: has 3 entries, expected b = 2");
  EXPECT_EQ(with("seqlen", {1, -2}), "params.seqlen[1]: -2 is negative");
  EXPECT_EQ(with("max_blocks_per_seq", 1), "params.max_blocks_per_seq: 1 pages of 64 tokens cannot hold seqlen[0] = 100 (needs 2)");
  EXPECT_EQ(with("d_v", 600), "params.d_v: 600 exceeds d_qk = 576 (the value is the first d_v dims of each key)");
  EXPECT_EQ(with("kv_dtype", "e5m2"), "params.kv_dtype: e5m2 is not bf16 or e4m3fn");
  nlohmann::json fp8 = ok;
  fp8["kv_dtype"] = "e4m3fn";
  fp8["d_qk"] = 192;
  fp8["d_v"] = 128;
  EXPECT_EQ(make_error(fp8), "params.kv_dtype: e4m3fn (the 656-byte token layout) needs d_qk = 576 and d_v = 512, got d_qk = 192, d_v = 128");
  EXPECT_EQ(with("softmax_scale", "big"), "params.softmax_scale: expected a number, got \"big\"");
  EXPECT_EQ(with("softmax_scale", -0.5), "params.softmax_scale: -0.5 is not a positive finite float");
  EXPECT_EQ(with("causal", 2), "params.causal: expected true, false, 0 or 1, got 2");
  EXPECT_EQ(with("page_block_size", 0), "params.page_block_size: 0 is below the minimum 1");
  EXPECT_EQ(with("causel", true), "params.causel: unknown parameter");
  EXPECT_EQ(make_error(nlohmann::json::array()), "params: expected an object, got array");
  EXPECT_EQ(make_error({{"b", 2}, {"s_q", 1}, {"h_q", 16}}), "params.seqlen: missing");
}

TEST(MlaProblem, NamesItsTensorsAsTheContractAndTheDumpFormatDo) {
  auto p = driver().make({{"b", 3}, {"s_q", 2}, {"h_q", 16}, {"seqlen", {0, 64, 65}}, {"kv_dtype", "e4m3fn"}});
  // Pages: 0 + 1 + 2 used, plus one spare per sequence; 2 + 1 columns.
  const std::vector<TensorSpec> want_in = {{"q", DSB_DTYPE_BF16, {3, 2, 16, 576}},
                                           {"kv_cache", DSB_DTYPE_E4M3FN, {6, 64, 1, 656}},
                                           {"block_table", DSB_DTYPE_I32, {3, 3}},
                                           {"cache_seqlens", DSB_DTYPE_I32, {3}}};
  ASSERT_EQ(p->inputs().size(), want_in.size());
  for (size_t i = 0; i < want_in.size(); ++i) {
    EXPECT_EQ(p->inputs()[i].name, want_in[i].name);
    EXPECT_EQ(p->inputs()[i].dtype, want_in[i].dtype) << want_in[i].name;
    EXPECT_EQ(p->inputs()[i].shape, want_in[i].shape) << want_in[i].name;
  }
  ASSERT_EQ(p->outputs().size(), 2u);
  EXPECT_EQ(p->outputs()[0].name, "out");
  EXPECT_EQ(p->outputs()[0].shape, (std::vector<int64_t>{3, 2, 16, 512}));
  EXPECT_EQ(p->outputs()[1].name, "lse");
  EXPECT_EQ(p->outputs()[1].dtype, DSB_DTYPE_F32);
  EXPECT_EQ(p->outputs()[1].shape, (std::vector<int64_t>{3, 16, 2}));
  const auto q = *reinterpret_cast<const dsb_mla_decode_params*>(p->params({}).data());
  EXPECT_EQ(q.num_blocks, 6);
  EXPECT_EQ(q.max_blocks_per_seq, 3);
  EXPECT_FLOAT_EQ(q.softmax_scale, 1.0f / 24.0f);  // the default 576^-0.5
  EXPECT_EQ(q.causal, 0);
}

TEST(MlaProblem, GeneratesPermutedPagesWithNanPastEveryLengthAndInvalidUnusedEntries) {
  for (const char* dtype : {"bf16", "e4m3fn"}) {
    auto p = driver().make({{"b", 4}, {"s_q", 1}, {"h_q", 2}, {"seqlen", {70, 0, 128, 5}}, {"kv_dtype", dtype}});
    const TensorMap t = generate(*p, 17);
    const bool fp8 = std::string(dtype) == "e4m3fn";
    const int64_t tb = fp8 ? 656 : 1152, pages = 2 + 0 + 2 + 1, num_blocks = pages + 4;
    const int32_t* bt = t.at("block_table").as<int32_t>();
    const int32_t cols = 3;
    std::set<int32_t> seen;
    int32_t identity = 0;
    const std::vector<int32_t> lens = {70, 0, 128, 5};
    for (int32_t i = 0; i < 4; ++i)
      for (int32_t j = 0; j < cols; ++j) {
        const int32_t e = bt[i * cols + j];
        if (j * 64 >= lens[i]) {
          EXPECT_EQ(e, kMlaInvalidBlock) << i << "," << j;
          continue;
        }
        ASSERT_GE(e, 0);
        ASSERT_LT(e, num_blocks);
        EXPECT_TRUE(seen.insert(e).second) << "page " << e << " used twice";
        identity += e == static_cast<int32_t>(seen.size()) - 1;
        // Slots before the length hold numbers, the rest of the page NaN bytes.
        const uint8_t* page = t.at("kv_cache").as<uint8_t>() + e * 64 * tb;
        for (int32_t slot = 0; slot < 64; ++slot) {
          const uint8_t* tok = page + slot * tb;
          const bool used = j * 64 + slot < lens[i];
          int64_t nan_bytes = 0, zero_codes = 0;
          for (int64_t k = 0; k < tb; ++k) nan_bytes += tok[k] == 0xff;
          if (!used) {
            ASSERT_EQ(nan_bytes, tb) << dtype << " slot " << j * 64 + slot << " of sequence " << i;
            continue;
          }
          for (int32_t d = 0; d < 576; ++d) {
            const double v = fp8 ? ref::mla_fp8_value(tok, d) : bf16_to_f32(reinterpret_cast<const uint16_t*>(tok)[d]);
            ASSERT_TRUE(std::isfinite(v)) << dtype << " token " << j * 64 + slot << " dim " << d;
            zero_codes += v == 0.0;
          }
          EXPECT_LT(zero_codes, 10) << "token mostly zeros";
        }
      }
    EXPECT_LT(identity, pages) << "physical pages in logical order: not permuted";
    // Spare pages (referenced by nobody) are all NaN.
    for (int32_t e = 0; e < num_blocks; ++e) {
      if (seen.count(e)) continue;
      const uint8_t* page = t.at("kv_cache").as<uint8_t>() + e * 64 * tb;
      for (int64_t k = 0; k < 64 * tb; ++k) ASSERT_EQ(page[k], 0xff) << "spare page " << e;
    }
    EXPECT_EQ(std::vector<int32_t>(t.at("cache_seqlens").as<int32_t>(), t.at("cache_seqlens").as<int32_t>() + 4), lens);
    int64_t q_zeros = 0;
    for (int64_t k = 0; k < 4 * 2 * 576; ++k) q_zeros += (t.at("q").as<uint16_t>()[k] & 0x7fff) == 0;
    EXPECT_LT(q_zeros, 3);
  }
}

TEST(MlaProblem, GeneratesIdenticalInputsForASeedAndDifferentOnesOtherwise) {
  auto p = driver().make({{"b", 2}, {"s_q", 2}, {"h_q", 4}, {"seqlen", {100, 7}}, {"causal", true}});
  const TensorMap a = generate(*p, 5), b = generate(*p, 5), c = generate(*p, 6);
  for (const char* name : {"q", "kv_cache", "block_table"}) {
    EXPECT_EQ(a.at(name).data, b.at(name).data) << name;
    EXPECT_NE(a.at(name).data, c.at(name).data) << name;
  }
}

TEST(MlaProblem, StatesFlopsAndBytesByTheDocumentedFormulas) {
  auto p = driver().make({{"b", 2}, {"s_q", 2}, {"h_q", 16}, {"seqlen", {100, 7}}, {"causal", true}});
  EXPECT_DOUBLE_EQ(p->flops(), 2.0 * 2 * 16 * (100 + 7) * (576 + 512));  // causal or not
  // cache 107 tokens x 1152 B; q, out, lse per row (2 x 2 x 16 rows); 3 table entries + 2 lengths.
  EXPECT_DOUBLE_EQ(p->bytes(), 107.0 * 1152 + 64.0 * (1152 + 1024 + 4) + 4.0 * (3 + 2));
  auto f = driver().make({{"b", 1}, {"s_q", 1}, {"h_q", 16}, {"seqlen", 64}, {"kv_dtype", "e4m3fn"}});
  EXPECT_DOUBLE_EQ(f->bytes(), 64.0 * 656 + 16.0 * (1152 + 1024 + 4) + 4.0 * (1 + 1));
  // Verification work counts only the keys each query sees: (99 + 100) + (6 + 7).
  EXPECT_DOUBLE_EQ(p->reference_macs(), (199.0 + 13.0) * 16 * 1088);
}

TEST(MlaProblem, SamplesLargeChecksByWholeRowsAndAlwaysCoversEmptySequences) {
  auto p = driver().make({{"b", 5}, {"s_q", 2}, {"h_q", 64}, {"seqlen", {300, 0, 20, 1, 0}}, {"causal", true}});
  const TensorMap t = generate(*p, 3);
  VerifyPolicy small;
  small.full_max_macs = 1e5;
  small.sample_rows = 2;
  const auto checks = p->reference(t, small, 99);
  ASSERT_EQ(checks.size(), 2u);
  const OutputCheck &out = checks[0], &lse = checks[1];
  EXPECT_TRUE(out.sampled);
  EXPECT_EQ(out.total, 5 * 2 * 64 * 512);
  EXPECT_EQ(lse.total, 5 * 2 * 64);
  EXPECT_EQ(out.index.size(), lse.index.size() * 512) << "every element of a sampled row";
  std::set<int64_t> rows, sequences;
  for (size_t k = 0; k < out.index.size(); ++k) {
    rows.insert(out.index[k] / 512);
    if (k % 512 == 0) {
      ASSERT_EQ(out.index[k] % 512, 0);
    }
  }
  EXPECT_EQ(rows.size(), lse.index.size());
  for (int64_t r : rows) sequences.insert(r / (2 * 64));
  EXPECT_TRUE(rows.count(0)) << "first row";
  EXPECT_TRUE(rows.count(5 * 2 * 64 - 1)) << "last row";
  EXPECT_TRUE(sequences.count(1) && sequences.count(4)) << "the empty sequences";
  EXPECT_LE(lse.index.size(), 2u + 2u + 8u);
  for (size_t k = 0; k < lse.index.size(); ++k) {
    const int64_t i = lse.index[k] / (64 * 2);
    if (i == 1 || i == 4) {
      EXPECT_EQ(lse.expected[k], INFINITY);
    }
  }
  VerifyPolicy full;
  EXPECT_EQ(p->reference(t, full, 99)[0].index.size(), static_cast<size_t>(out.total));
}

TEST(MlaProblem, ValidateNamesTheBadEntryOfReplayedInputs) {
  auto p = driver().make({{"b", 2}, {"s_q", 1}, {"h_q", 4}, {"seqlen", {70, 10}}});
  TensorMap t = generate(*p, 1);
  EXPECT_NO_THROW(p->validate(t));
  auto expect_error = [&](const std::string& want) {
    try {
      p->validate(t);
      ADD_FAILURE() << "no error, expected " << want;
    } catch (const Error& e) {
      EXPECT_EQ(e.what(), want);
    }
  };
  int32_t* bt = t.at("block_table").as<int32_t>();
  const int32_t saved = bt[1];
  bt[1] = 99;
  expect_error("block_table[0, 1]: 99 is not a page index in [0, num_blocks = 5) (sequence 0 of length 70 uses its "
               "first 2 entries)");
  bt[1] = saved;
  t.at("cache_seqlens").as<int32_t>()[1] = 200;
  expect_error("cache_seqlens[1]: 200 exceeds the block table's capacity of 192 tokens (max_blocks_per_seq 3 x "
               "page_block_size 64)");
}

TEST(MlaProblem, ItsCheckDoesNotDependOnThePhysicalPageOrder) {
  auto p = driver().make({{"b", 2}, {"s_q", 2}, {"h_q", 8}, {"seqlen", {150, 64}}, {"causal", true}});
  TensorMap t = generate(*p, 4);
  VerifyPolicy full;
  const auto before = p->reference(t, full, 1);
  // Reverse the physical pages and rewrite the table to match.
  const int64_t pages = p->inputs()[1].shape[0], page_bytes = 64 * 1152;
  std::vector<uint8_t>& cache = t.at("kv_cache").data;
  std::vector<uint8_t> moved(cache.size());
  for (int64_t e = 0; e < pages; ++e)
    std::memcpy(moved.data() + (pages - 1 - e) * page_bytes, cache.data() + e * page_bytes, page_bytes);
  cache = moved;
  int32_t* bt = t.at("block_table").as<int32_t>();
  for (int64_t k = 0; k < t.at("block_table").spec.numel(); ++k)
    if (bt[k] != kMlaInvalidBlock) bt[k] = static_cast<int32_t>(pages - 1 - bt[k]);
  const auto after = p->reference(t, full, 1);
  for (size_t c = 0; c < 2; ++c) {
    EXPECT_EQ(after[c].index, before[c].index);
    EXPECT_EQ(after[c].expected, before[c].expected) << before[c].output;
  }
}

// ---- tolerances against simulated kernels ------------------------------------------------------

enum class Sim {
  kFp32,               // FP32 scores, weights and sums
  kBf16Weights,        // FlashMLA's design: weights rounded to BF16 for the PV product
  kBf16Accumulator,    // O kept in BF16
  kBf16Scores,         // scores rounded to BF16 before the softmax
  kReadsPastLength,    // one key too many: the NaN slot after the sequence
  kCausalOffByOne,     // query i sees one key fewer than the contract says
  kFirstFp8Scale,      // FP8 cache: the first group's scale used for every group
};

float r16(float x) { return bf16_to_f32(bf16_from_f32(x)); }

// An online-softmax kernel over chunks of 64 keys in FP32, with one deliberate variation.
void simulate(const dsb_mla_decode_params& p, Sim sim) {
  std::vector<double> k(p.d_qk);
  for (int32_t i = 0; i < p.b; ++i)
    for (int32_t t = 0; t < p.s_q; ++t)
      for (int32_t h = 0; h < p.h_q; ++h) {
        const int32_t g = h / (p.h_q / p.h_kv);
        int64_t n = ref::mla_visible_keys(p.cache_seqlens[i], p.s_q, t, p.causal != 0);
        if (sim == Sim::kReadsPastLength) ++n;
        if (sim == Sim::kCausalOffByOne && p.causal) n = std::max<int64_t>(0, n - 1);
        const auto* q = static_cast<const uint16_t*>(p.q) + ((static_cast<int64_t>(i) * p.s_q + t) * p.h_q + h) * p.d_qk;
        std::vector<float> o(p.d_v, 0.0f);
        float m = -INFINITY, l = 0.0f;
        const float scale2 = static_cast<float>(p.softmax_scale * 1.4426950408889634);
        for (int64_t c0 = 0; c0 < n; c0 += 64) {
          const int64_t c1 = std::min<int64_t>(n, c0 + 64);
          std::vector<float> s(c1 - c0);
          std::vector<std::vector<float>> v(c1 - c0);
          float mx = m;
          for (int64_t j = c0; j < c1; ++j) {
            ref::mla_load_key(p, i, g, j, p.d_qk, k.data());
            float dot = 0.0f;
            for (int32_t d = 0; d < p.d_qk; ++d) dot += bf16_to_f32(q[d]) * static_cast<float>(k[d]);
            if (sim == Sim::kBf16Scores) dot = r16(dot);
            s[j - c0] = dot * scale2;
            mx = std::max(mx, s[j - c0]);
            v[j - c0].assign(k.begin(), k.begin() + p.d_v);
          }
          const float alpha = m == -INFINITY ? 0.0f : std::exp2(m - mx);
          for (float& x : o) x *= alpha;
          l *= alpha;
          for (int64_t j = c0; j < c1; ++j) {
            const float w = std::exp2(s[j - c0] - mx);
            l += w;
            const float wv = sim == Sim::kBf16Weights || sim == Sim::kBf16Accumulator ? r16(w) : w;
            for (int32_t d = 0; d < p.d_v; ++d) {
              o[d] += wv * v[j - c0][d];
              if (sim == Sim::kBf16Accumulator) o[d] = r16(o[d]);
            }
          }
          m = mx;
        }
        auto* out = static_cast<uint16_t*>(p.out) + ((static_cast<int64_t>(i) * p.s_q + t) * p.h_q + h) * p.d_v;
        float* lse = p.lse + (static_cast<int64_t>(i) * p.h_q + h) * p.s_q + t;
        for (int32_t d = 0; d < p.d_v; ++d) out[d] = n == 0 ? 0 : bf16_from_f32(o[d] / l);
        *lse = n == 0 ? INFINITY : static_cast<float>((m + std::log2(static_cast<double>(l))) * 0.6931471805599453);
      }
}

struct Verdict {
  bool passed = true;
  double out_cos = 0, lse_max_rel = 0;
};

Verdict check(const nlohmann::json& params, uint64_t seed, Sim sim, bool use_optimized = false) {
  auto p = driver().make(params);
  TensorMap in = generate(*p, seed), out = blank_outputs(*p);
  VerifyPolicy full;
  full.force_full = true;
  const auto checks = p->reference(in, full, seed);
  auto q = params_over(*p, in, out);
  if (sim == Sim::kFirstFp8Scale) {
    // Rewrite every token's scales to its first one: what a kernel that indexes scales wrongly sees.
    auto* cache = static_cast<uint8_t*>(const_cast<void*>(q.kv_cache));
    for (int64_t tok = 0; tok < static_cast<int64_t>(q.num_blocks) * 64; ++tok) {
      uint8_t* s = cache + tok * DSB_MLA_FP8_TOKEN_BYTES + ref::kMlaFp8ScaleOffset;
      for (int g = 1; g < 4; ++g) std::memcpy(s + 4 * g, s, 4);
    }
  }
  if (use_optimized) {
    std::vector<float> ws((cpu::mla_decode_optimized_workspace(q) + 3) / 4);
    EXPECT_TRUE(cpu::mla_decode_optimized_run(q, ws.empty() ? nullptr : ws.data()).ok());
  } else {
    simulate(q, sim == Sim::kFirstFp8Scale ? Sim::kFp32 : sim);
  }
  const auto tol = driver().default_tolerances();
  Verdict v;
  for (const OutputCheck& c : checks) {
    const OutputAccuracy a = compare_output(c, tol.at(c.output), out.at(c.output));
    v.passed = v.passed && a.passed;
    if (c.output == "out") v.out_cos = a.cos_diff;
    else v.lse_max_rel = a.max_rel_err;
  }
  return v;
}

const std::vector<nlohmann::json>& study_cases() {
  static const std::vector<nlohmann::json> v = {
      {{"b", 2}, {"s_q", 1}, {"h_q", 16}, {"seqlen", 20}},
      {{"b", 2}, {"s_q", 2}, {"h_q", 16}, {"seqlen", 140}, {"causal", true}},
      {{"b", 2}, {"s_q", 2}, {"h_q", 16}, {"seqlen", {1500, 700}}, {"causal", true}, {"softmax_scale", 0.1352}},
      {{"b", 1}, {"s_q", 1}, {"h_q", 64}, {"seqlen", 140}, {"softmax_scale", 0.1352}},
      {{"b", 2}, {"s_q", 2}, {"h_q", 16}, {"seqlen", {300, 45}}, {"causal", true}, {"kv_dtype", "e4m3fn"}},
  };
  return v;
}

TEST(MlaTolerance, AcceptsFp32KernelsAndFlashMlasBf16SoftmaxWeights) {
  for (const auto& params : study_cases())
    for (uint64_t seed : {1u, 2u, 3u}) {
      const Verdict opt = check(params, seed, Sim::kFp32, /*use_optimized=*/true);
      EXPECT_TRUE(opt.passed) << params.dump() << " seed " << seed;
      EXPECT_LT(opt.out_cos, 1e-7) << params.dump();
      const Verdict flash = check(params, seed, Sim::kBf16Weights);
      EXPECT_TRUE(flash.passed) << params.dump() << " seed " << seed << " cos_diff " << flash.out_cos;
    }
}

TEST(MlaTolerance, RejectsNarrowArithmeticAndWrongKeys) {
  for (const auto& params : study_cases()) {
    EXPECT_FALSE(check(params, 1, Sim::kBf16Accumulator).passed) << "BF16 accumulator " << params.dump();
    const Verdict scores = check(params, 1, Sim::kBf16Scores);
    EXPECT_FALSE(scores.passed) << "BF16 scores " << params.dump();
    EXPECT_GT(scores.lse_max_rel, 1e-5) << params.dump();
    // Every study case ends its sequences inside a page, so the slot after them is NaN.
    EXPECT_FALSE(check(params, 1, Sim::kReadsPastLength).passed) << "read past the length " << params.dump();
  }
  const nlohmann::json causal = {{"b", 2}, {"s_q", 2}, {"h_q", 16}, {"seqlen", 140}, {"causal", true}};
  EXPECT_FALSE(check(causal, 1, Sim::kCausalOffByOne).passed);
  const nlohmann::json fp8 = study_cases().back();
  EXPECT_FALSE(check(fp8, 1, Sim::kFirstFp8Scale).passed);
}

}  // namespace
}  // namespace dsbench
