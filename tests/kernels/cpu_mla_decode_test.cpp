// The optimised CPU MLA decode against the FP64 reference, on every vector set this CPU runs
// (AVX-512 with BF16 dot products, AVX-512, AVX2, portable): each micro-routine against the portable
// one, whole problems with odd sizes, page sizes other than 64, h_kv > 1, causal MTP queries,
// empty sequences, the FP8 cache and split-KV; NaN in every slot it must not read; and the refusal
// of contract violations with the reference check's message, outputs untouched.
#include "kernels/cpu/mla_decode_cpu.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "dsbench/numerics/bf16.hpp"
#include "dsbench/numerics/fp8.hpp"
#include "kernels/cpu/cpu_backend.hpp"
#include "kernels/cpu/mla_decode_cpu_microkernel.hpp"
#include "reference/mla_decode_reference.hpp"
#include "reference/mla_kv_fp8.hpp"

namespace dsbench::cpu {
namespace {

using mla_detail::MlaKernels;

// Restores the automatic choice of vector set when a test ends.
struct ForceSet {
  explicit ForceSet(const MlaKernels* k) { mla_detail::force_mla_kernels(k); }
  ~ForceSet() { mla_detail::force_mla_kernels(nullptr); }
};

struct Shape {
  int32_t b, s_q, h_q, h_kv, d_qk, d_v, page;
  std::vector<int32_t> seqlens;
  bool causal = false, fp8 = false;
  float scale = 0.1352f;
};

std::string describe(const Shape& s) {
  std::string lens;
  for (int32_t l : s.seqlens) lens += (lens.empty() ? "" : ",") + std::to_string(l);
  return "b" + std::to_string(s.b) + " s_q" + std::to_string(s.s_q) + " h_q" + std::to_string(s.h_q) + " h_kv" +
         std::to_string(s.h_kv) + " d" + std::to_string(s.d_qk) + "/" + std::to_string(s.d_v) + " page" +
         std::to_string(s.page) + " seqlens[" + lens + "]" + (s.causal ? " causal" : "") + (s.fp8 ? " fp8" : "");
}

// Inputs as the harness makes them: random q (a magnitude per head) and keys, pages in random
// physical order, NaN in every slot past a length and in a spare page, unused table entries out of
// range. Every buffer has exactly its contract size, so AddressSanitizer sees any overrun.
struct Problem {
  Shape s;
  std::vector<uint16_t> q;
  std::vector<uint8_t> cache;
  std::vector<int32_t> table;
  int32_t num_blocks = 0, max_blocks = 0;

  Problem(Shape shape, uint32_t seed) : s(std::move(shape)) {
    std::mt19937 gen(seed);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f), e(-2.0f, 1.0f);
    q.resize(static_cast<size_t>(s.b) * s.s_q * s.h_q * s.d_qk);
    for (size_t r = 0; r < q.size() / s.d_qk; ++r) {
      const float m = std::exp2(e(gen));
      for (int32_t d = 0; d < s.d_qk; ++d) q[r * s.d_qk + d] = bf16_from_f32(u(gen) * m);
    }
    int32_t used = 0;
    for (int32_t len : s.seqlens) {
      max_blocks = std::max(max_blocks, (len + s.page - 1) / s.page);
      used += (len + s.page - 1) / s.page;
    }
    max_blocks += 1;
    num_blocks = used + 1;
    std::vector<int32_t> perm(num_blocks);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), gen);
    const int64_t tb = token_bytes(), page_bytes = static_cast<int64_t>(s.page) * s.h_kv * tb;
    cache.assign(static_cast<size_t>(num_blocks * page_bytes), 0xff);
    table.assign(static_cast<size_t>(s.b) * max_blocks, std::numeric_limits<int32_t>::max());
    std::vector<uint16_t> token(s.d_qk);
    int32_t k = 0;
    for (int32_t i = 0; i < s.b; ++i) {
      for (int32_t j = 0; j * s.page < s.seqlens[i]; ++j) table[i * max_blocks + j] = perm[k++];
      for (int32_t t = 0; t < s.seqlens[i]; ++t)
        for (int32_t g = 0; g < s.h_kv; ++g) {
          for (int32_t d = 0; d < s.d_qk; ++d) token[d] = bf16_from_f32(std::ldexp(u(gen), (d / 128) % 3 - 1));
          uint8_t* dst = cache.data() + table[i * max_blocks + t / s.page] * page_bytes +
                         (static_cast<int64_t>(t % s.page) * s.h_kv + g) * tb;
          if (s.fp8) ref::mla_fp8_quantize_token(token.data(), dst);
          else std::memcpy(dst, token.data(), 2 * static_cast<size_t>(s.d_qk));
        }
    }
  }
  int64_t token_bytes() const { return s.fp8 ? DSB_MLA_FP8_TOKEN_BYTES : 2 * static_cast<int64_t>(s.d_qk); }
  size_t rows() const { return static_cast<size_t>(s.b) * s.s_q * s.h_q; }

  dsb_mla_decode_params params(std::vector<uint16_t>& out, std::vector<float>& lse) const {
    out.assign(rows() * s.d_v, 0xdead);
    lse.assign(rows(), -1234.0f);
    dsb_mla_decode_params p{};
    p.b = s.b; p.s_q = s.s_q; p.h_q = s.h_q; p.h_kv = s.h_kv; p.d_qk = s.d_qk; p.d_v = s.d_v;
    p.page_block_size = s.page; p.num_blocks = num_blocks; p.max_blocks_per_seq = max_blocks;
    p.softmax_scale = s.scale; p.causal = s.causal ? 1 : 0;
    p.kv_dtype = s.fp8 ? DSB_DTYPE_E4M3FN : DSB_DTYPE_BF16;
    p.q = q.data(); p.kv_cache = cache.data(); p.block_table = table.data(); p.cache_seqlens = s.seqlens.data();
    p.out = out.data(); p.lse = lse.data();
    return p;
  }
};

// An FP32 kernel is held far tighter than the op's default tolerance (which admits BF16 softmax
// weights): each element within 1e-4 of the output RMS or one BF16 neighbour, cos_diff <= 1e-7,
// lse within 2e-6 relative; empty rows exactly 0 and +inf.
void expect_close(const std::vector<uint16_t>& out, const std::vector<float>& lse, const std::vector<uint16_t>& ref_out,
                  const std::vector<float>& ref_lse, const std::string& what) {
  double rms = 0, xy = 0, sq = 0;
  for (uint16_t r : ref_out) rms += static_cast<double>(bf16_to_f32(r)) * bf16_to_f32(r);
  rms = std::sqrt(rms / static_cast<double>(ref_out.size()));
  int64_t bad = 0;
  for (size_t i = 0; i < out.size(); ++i) {
    const double a = bf16_to_f32(out[i]), r = bf16_to_f32(ref_out[i]);
    if (!std::isfinite(a) || std::fabs(a - r) > std::max(1e-4 * rms, 2.01 / 256 * std::fabs(r))) {
      if (++bad <= 3) ADD_FAILURE() << what << ": out[" << i << "] = " << a << ", reference " << r;
    }
    xy += a * r;
    sq += a * a + r * r;
  }
  EXPECT_EQ(bad, 0) << what;
  EXPECT_LE(sq == 0 ? 0.0 : 1.0 - 2.0 * xy / sq, 1e-7) << what;
  for (size_t i = 0; i < lse.size(); ++i) {
    if (std::isinf(ref_lse[i])) {
      EXPECT_EQ(lse[i], ref_lse[i]) << what << ": lse[" << i << "]";
      continue;
    }
    EXPECT_NEAR(lse[i], ref_lse[i], 2e-6 * std::max(1.0f, std::fabs(ref_lse[i]))) << what << ": lse[" << i << "]";
  }
}

// Runs the optimised kernel with each vector set in `sets` against one reference run.
void run_against_reference(const Shape& shape, uint32_t seed, const std::vector<const MlaKernels*>& sets,
                           bool with_workspace = true) {
  const Problem prob(shape, seed);
  std::vector<uint16_t> out, ref_out;
  std::vector<float> lse, ref_lse;
  const auto pr = prob.params(ref_out, ref_lse);
  ASSERT_EQ(ref::mla_decode_check(pr), "");
  ref::mla_decode(pr);
  for (const MlaKernels* set : sets) {
    const ForceSet force(set);
    const auto p = prob.params(out, lse);
    std::vector<float> ws(with_workspace ? (mla_decode_optimized_workspace(p) + 3) / 4 : 0);
    const Status st = mla_decode_optimized_run(p, ws.empty() ? nullptr : ws.data());
    ASSERT_TRUE(st.ok()) << st.message;
    expect_close(out, lse, ref_out, ref_lse,
                 describe(shape) + " [" + set->name + (with_workspace ? "" : ", no workspace") + "]");
  }
}

const std::vector<Shape>& shapes() {
  static const std::vector<Shape> v = {
      {1, 1, 16, 1, 576, 512, 64, {140}},
      {2, 2, 16, 1, 576, 512, 64, {20, 140}, true},
      {3, 4, 3, 1, 576, 512, 64, {0, 2, 129}, true},      // empty, shorter than s_q, one past a page
      {2, 1, 63, 1, 576, 512, 64, {65, 64}},              // odd heads
      {2, 2, 8, 2, 576, 512, 64, {70, 3}, true},           // h_kv = 2
      {2, 1, 5, 1, 576, 512, 16, {50, 33}},               // small pages
      {1, 2, 4, 1, 576, 512, 100, {250}, true},            // a page larger than a chunk
      {2, 3, 6, 3, 77, 33, 7, {40, 9}, true},              // dims off every vector width, page 7
      {1, 1, 2, 1, 1, 1, 1, {5}},                          // d_qk = d_v = 1, page 1
      {2, 2, 16, 1, 576, 512, 64, {300, 45}, true, true},  // FP8 cache
      {1, 1, 128, 1, 576, 512, 64, {1100}},                // two head groups, split along the keys
      {1, 100, 1, 1, 576, 512, 64, {600}, true},           // splits where early queries see no key
      {1, 2, 64, 1, 576, 512, 64, {700}, true, true},      // FP8, split
  };
  return v;
}

TEST(CpuMlaDecode, MatchesTheReferenceOnEveryVectorSet) {
  uint32_t seed = 1;
  for (const Shape& s : shapes()) run_against_reference(s, seed++, mla_detail::mla_kernel_sets());
}

TEST(CpuMlaDecode, GivesTheSameAnswerWithoutAWorkspaceToSplitInto) {
  const Shape s{1, 2, 16, 1, 576, 512, 64, {3000}, true};
  std::vector<uint16_t> o;
  std::vector<float> l;
  const Problem prob(s, 9);
  EXPECT_GT(mla_decode_optimized_workspace(prob.params(o, l)), 0u);
  run_against_reference(s, 9, {&mla_detail::mla_kernels()}, /*with_workspace=*/false);
  Shape many = s;
  many.b = 64;
  many.seqlens.assign(64, 30);
  const Problem wide(many, 1);
  EXPECT_EQ(mla_decode_optimized_workspace(wide.params(o, l)), 0u) << "64 sequences need no split";
}

TEST(CpuMlaDecode, NeverReadsSlotsPastALengthNorFollowsUnusedTableEntries) {
  // The problems fill those slots with NaN and unused entries with INT32_MAX: finite outputs (and a
  // clean AddressSanitizer run) mean neither was touched.
  for (const MlaKernels* set : mla_detail::mla_kernel_sets()) {
    const ForceSet force(set);
    for (const Shape& s : shapes()) {
      const Problem prob(s, 3);
      std::vector<uint16_t> out;
      std::vector<float> lse;
      const auto p = prob.params(out, lse);
      std::vector<float> ws((mla_decode_optimized_workspace(p) + 3) / 4);
      ASSERT_TRUE(mla_decode_optimized_run(p, ws.empty() ? nullptr : ws.data()).ok());
      for (uint16_t x : out) ASSERT_TRUE(std::isfinite(bf16_to_f32(x))) << describe(s) << " " << set->name;
      for (float x : lse) ASSERT_FALSE(std::isnan(x)) << describe(s) << " " << set->name;
    }
  }
}

TEST(CpuMlaDecode, RefusesContractViolationsWithTheCheckMessageAndWritesNothing) {
  const Problem prob({2, 1, 4, 1, 576, 512, 64, {70, 10}}, 5);
  std::vector<uint16_t> out;
  std::vector<float> lse;
  const auto base = prob.params(out, lse);
  std::vector<int32_t> table = prob.table, lens = prob.s.seqlens;
  struct Bad {
    const char* what;
    dsb_mla_decode_params p;
  };
  std::vector<Bad> bad;
  auto p = base;
  p.h_kv = 3;
  bad.push_back({"h_q not a multiple of h_kv", p});
  p = base;
  lens[1] = prob.max_blocks * 64 + 1;
  p.cache_seqlens = lens.data();
  bad.push_back({"seqlen beyond the table's capacity", p});
  p = base;
  table[0] = -1;
  p.block_table = table.data();
  bad.push_back({"negative block index", p});
  std::vector<int32_t> table2 = prob.table;
  table2[prob.max_blocks] = prob.num_blocks;
  p.block_table = table2.data();
  bad.push_back({"block index past num_blocks", p});
  for (const Bad& b : bad) {
    for (auto run : {mla_decode_optimized_run, mla_decode_reference_run}) {
      const Status st = run(b.p, nullptr);
      EXPECT_EQ(st.code, DSB_STATUS_INVALID_ARGUMENT) << b.what;
      EXPECT_EQ(st.message, ref::mla_decode_check(b.p)) << b.what;
      EXPECT_FALSE(st.message.empty()) << b.what;
    }
    for (uint16_t x : out) ASSERT_EQ(x, 0xdead) << b.what;
  }
}

TEST(CpuMlaDecode, TheKernelTableEntriesNameThemselvesInErrors) {
  auto backend = make_cpu_backend();
  Device* device = backend->device(0);
  std::unique_ptr<Stream> stream;
  ASSERT_TRUE(device->create_stream(&stream).ok());
  const Problem prob({1, 1, 4, 1, 576, 512, 64, {10}}, 5);
  std::vector<uint16_t> out;
  std::vector<float> lse;
  auto p = prob.params(out, lse);
  p.h_kv = 3;
  int found = 0;
  for (const Kernel* k : cpu_kernels()) {
    if (k->op() != DSB_OP_MLA_DECODE) continue;
    ++found;
    EXPECT_TRUE(k->supports(&p, *device).ok) << k->id();
    const Status st = k->run(&p, nullptr, *stream);
    EXPECT_EQ(st.message, k->id() + ": h_q: 4 is not a multiple of h_kv = 3");
  }
  EXPECT_EQ(found, 2);
}

// ---- the micro-routines of every set against the portable ones -----------------------------------

std::vector<float> random_floats(size_t n, std::mt19937& gen) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(gen);
  return v;
}

TEST(CpuMlaMicroKernels, ConvertBf16AndEveryFp8CodeExactlyLikeThePortableSet) {
  const MlaKernels& portable = *mla_detail::mla_kernel_sets().back();
  std::mt19937 gen(7);
  std::vector<uint16_t> h(70 * 3);
  for (auto& x : h) x = static_cast<uint16_t>(gen());
  // 656-byte tokens covering all 256 codes, scales both powers of two and not.
  std::vector<uint8_t> tokens(3 * DSB_MLA_FP8_TOKEN_BYTES + 5);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<uint8_t>(i * 7 + 3);
  const float scales[3][4] = {{1, 0.5f, 0.0078125f, 4}, {0.3f, 1.7f, 1e-3f, 3.3e-5f}, {-2, 1e6f, 1, 0.25f}};
  for (int j = 0; j < 3; ++j) {
    std::memcpy(tokens.data() + j * (DSB_MLA_FP8_TOKEN_BYTES + 2) + 512, scales[j], 16);
    for (int c = 0; c < 256; ++c) tokens[j * (DSB_MLA_FP8_TOKEN_BYTES + 2) + c * 2 % 512] = static_cast<uint8_t>(c);
  }
  for (const MlaKernels* set : mla_detail::mla_kernel_sets()) {
    for (int len : {1, 7, 8, 15, 16, 17, 33, 70}) {
      std::vector<float> a(3 * 80, -1), b(3 * 80, -1);
      set->bf16_to_f32(h.data(), 70, 3, len, a.data(), 80);
      portable.bf16_to_f32(h.data(), 70, 3, len, b.data(), 80);
      ASSERT_EQ(std::memcmp(a.data(), b.data(), 4 * a.size()), 0) << set->name << " len " << len;
    }
    std::vector<float> a(3 * 600, -1), b(3 * 600, -1);
    set->fp8_to_f32(tokens.data(), DSB_MLA_FP8_TOKEN_BYTES + 2, 3, a.data(), 600);
    portable.fp8_to_f32(tokens.data(), DSB_MLA_FP8_TOKEN_BYTES + 2, 3, b.data(), 600);
    for (size_t i = 0; i < a.size(); ++i) {
      if (std::isnan(b[i])) ASSERT_TRUE(std::isnan(a[i])) << set->name << " " << i;
      else ASSERT_EQ(f32_bits(a[i]), f32_bits(b[i])) << set->name << " " << i;
    }
  }
  // And the portable set decodes like the codec.
  for (int c = 0; c < 256; ++c) {
    uint8_t tok[DSB_MLA_FP8_TOKEN_BYTES] = {};
    tok[0] = static_cast<uint8_t>(c);
    const float one = 1.0f;
    for (int g = 0; g < 4; ++g) std::memcpy(tok + 512 + 4 * g, &one, 4);
    float out[576];
    portable.fp8_to_f32(tok, DSB_MLA_FP8_TOKEN_BYTES, 1, out, 576);
    const float want = fp8_decode(static_cast<uint8_t>(c), DSB_DTYPE_E4M3FN);
    if (std::isnan(want)) EXPECT_TRUE(std::isnan(out[0])) << c;
    else EXPECT_EQ(f32_bits(out[0]), f32_bits(want)) << c;
  }
}

TEST(CpuMlaMicroKernels, DotProductsWeightedSumsAndExp2MatchDoublePrecision) {
  std::mt19937 gen(11);
  for (const MlaKernels* set : mla_detail::mla_kernel_sets()) {
    for (int d : {1, 15, 16, 17, 31, 33, 77, 576}) {
      for (int rows : {1, 2, 3, 4, 5, 9}) {
        const int n = 1 + static_cast<int>(gen() % 64);
        const std::vector<float> qf = random_floats(static_cast<size_t>(rows) * (d + 3), gen);
        const std::vector<float> kf = random_floats(static_cast<size_t>(n) * (d + 5), gen);
        std::vector<uint16_t> qb(qf.size()), kb(kf.size());
        for (size_t i = 0; i < qf.size(); ++i) qb[i] = bf16_from_f32(qf[i]);
        for (size_t i = 0; i < kf.size(); ++i) kb[i] = bf16_from_f32(kf[i]);
        std::vector<float> s(static_cast<size_t>(rows) * 70, NAN), sb(s), sm(s);
        std::vector<float> qbf(qb.size());  // q rounded to BF16, in FP32, for the mixed form
        for (size_t i = 0; i < qb.size(); ++i) qbf[i] = bf16_to_f32(qb[i]);
        set->qk_f32(qf.data(), d + 3, rows, kf.data(), d + 5, n, d, s.data(), 70);
        set->qk_f32_bf16(qbf.data(), d + 3, rows, kb.data(), d + 5, n, d, sm.data(), 70);
        if (set->qk_bf16) set->qk_bf16(qb.data(), d + 3, rows, kb.data(), d + 5, n, d, sb.data(), 70);
        for (int r = 0; r < rows; ++r)
          for (int j = 0; j < n; ++j) {
            double want = 0, wantb = 0, mag = 0;
            for (int c = 0; c < d; ++c) {
              want += static_cast<double>(qf[r * (d + 3) + c]) * kf[j * (d + 5) + c];
              wantb += static_cast<double>(bf16_to_f32(qb[r * (d + 3) + c])) * bf16_to_f32(kb[j * (d + 5) + c]);
              mag += std::fabs(static_cast<double>(qf[r * (d + 3) + c]) * kf[j * (d + 5) + c]);
            }
            ASSERT_NEAR(s[r * 70 + j], want, 1e-6 * mag + 1e-30) << set->name << " d " << d << " rows " << rows;
            ASSERT_NEAR(sm[r * 70 + j], wantb, 1e-6 * mag + 1e-30) << set->name << " f32 x bf16 d " << d;
            if (set->qk_bf16) {
              ASSERT_NEAR(sb[r * 70 + j], wantb, 1e-6 * mag + 1e-30) << set->name << " bf16 d " << d;
            }
          }
        for (int j = n; j < 70; ++j) ASSERT_TRUE(std::isnan(s[j]) && std::isnan(sm[j])) << set->name << ": wrote past n";
      }
    }
    for (int dv : {1, 15, 16, 17, 64, 100, 512}) {
      for (int rows : {1, 2, 4, 5, 7, 8, 9, 17}) {
        const int n = 1 + static_cast<int>(gen() % 64);
        const std::vector<float> p = random_floats(static_cast<size_t>(rows) * 64, gen);
        const std::vector<float> v = random_floats(static_cast<size_t>(n) * (dv + 1), gen);
        std::vector<uint16_t> vb(v.size());
        for (size_t i = 0; i < v.size(); ++i) vb[i] = bf16_from_f32(v[i]);
        std::vector<float> o = random_floats(static_cast<size_t>(rows) * (dv + 2), gen), o0 = o, ob = o;
        set->pv_f32(p.data(), 64, rows, n, v.data(), dv + 1, dv, o.data(), dv + 2);
        set->pv_bf16(p.data(), 64, rows, n, vb.data(), dv + 1, dv, ob.data(), dv + 2);
        for (int r = 0; r < rows; ++r) {
          for (int c = 0; c < dv; ++c) {
            double want = o0[r * (dv + 2) + c], wantb = want, mag = std::fabs(want);
            for (int j = 0; j < n; ++j) {
              want += static_cast<double>(p[r * 64 + j]) * v[j * (dv + 1) + c];
              wantb += static_cast<double>(p[r * 64 + j]) * bf16_to_f32(vb[j * (dv + 1) + c]);
              mag += std::fabs(static_cast<double>(p[r * 64 + j]) * v[j * (dv + 1) + c]);
            }
            ASSERT_NEAR(o[r * (dv + 2) + c], want, 1e-6 * mag) << set->name << " dv " << dv << " rows " << rows;
            ASSERT_NEAR(ob[r * (dv + 2) + c], wantb, 1e-6 * mag) << set->name << " bf16 dv " << dv << " rows " << rows;
          }
          for (int c = dv; c < dv + 2; ++c) {
            ASSERT_EQ(o[r * (dv + 2) + c], o0[r * (dv + 2) + c]) << "wrote past dv";
            ASSERT_EQ(ob[r * (dv + 2) + c], o0[r * (dv + 2) + c]) << "wrote past dv";
          }
        }
      }
    }
    for (int n : {1, 7, 8, 15, 16, 17, 64}) {
      std::vector<float> x(n + 1, 123.0f);
      std::uniform_real_distribution<float> u(-160.0f, 0.0f);
      for (int j = 0; j < n; ++j) x[j] = j == 0 ? 3.0f : 3.0f + (j % 3 == 0 ? u(gen) : u(gen) / 20);
      const std::vector<float> x0 = x;
      const float sum = set->exp2_sum(x.data(), n, 3.0f);
      double want_sum = 0;
      for (int j = 0; j < n; ++j) {
        const double want = std::exp2(static_cast<double>(x0[j]) - 3.0);
        want_sum += want;
        ASSERT_NEAR(x[j], want, 2e-7 * want + 1e-37) << set->name << " x " << x0[j];
      }
      EXPECT_NEAR(sum, want_sum, 1e-6 * want_sum) << set->name;
      EXPECT_EQ(x[n], 123.0f) << set->name << ": wrote past n";
    }
  }
}

}  // namespace
}  // namespace dsbench::cpu
