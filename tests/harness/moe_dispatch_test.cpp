// MoE dispatch and combine: a hand-worked layout, FP8 rows against quantize_1x128 itself,
// combine(dispatch(x)) with unit weights = topk * x, the checks (row order free; a lost, repeated or
// corrupted row fails; padding rows must be written), and bad input (experts out of range, topk >
// experts, uneven expert split, hidden % 128 with FP8).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

#include "dsbench/numerics/bf16.hpp"
#include "harness/error.hpp"
#include "harness/metrics.hpp"
#include "harness/op_registry.hpp"
#include "harness/ops/moe_dispatch_problem.hpp"
#include "kernels/cpu/moe_dispatch_cpu.hpp"
#include "reference/moe_dispatch_reference.hpp"
#include "reference/quantize.hpp"

namespace dsbench {
namespace {

using DispatchFn = std::function<dsb_status(const dsb_moe_dispatch_params&)>;
using CombineFn = std::function<dsb_status(const dsb_moe_combine_params&)>;

const std::vector<std::pair<const char*, DispatchFn>>& dispatch_kernels() {
  static const std::vector<std::pair<const char*, DispatchFn>> k = {
      {"reference", [](const dsb_moe_dispatch_params& p) { return ref::moe_dispatch(p); }},
      {"optimized", [](const dsb_moe_dispatch_params& p) {
         std::vector<uint8_t> ws(cpu::moe_dispatch_optimized_workspace(p));
         return cpu::moe_dispatch_optimized(p, ws.data());
       }}};
  return k;
}
const std::vector<std::pair<const char*, CombineFn>>& combine_kernels() {
  static const std::vector<std::pair<const char*, CombineFn>> k = {
      {"reference", [](const dsb_moe_combine_params& p) { return ref::moe_combine(p); }},
      {"optimized", [](const dsb_moe_combine_params& p) {
         std::vector<uint8_t> ws(cpu::moe_combine_optimized_workspace(p));
         return cpu::moe_combine_optimized(p, ws.data());
       }}};
  return k;
}

// A problem's inputs generated and its outputs filled with `poison`, and the pointer map over them.
struct Case {
  std::unique_ptr<Problem> problem;
  TensorMap in, out;
  std::map<std::string, void*> ptrs;
};

Case make_case(dsb_op op, const nlohmann::json& params, uint64_t seed, uint8_t poison = 0x5a) {
  Case c;
  c.problem = find_driver(op)->make(params);
  for (const TensorSpec& s : c.problem->inputs()) c.in.emplace(s.name, HostTensor(s));
  c.problem->generate(seed, c.in);
  for (const TensorSpec& s : c.problem->outputs()) {
    c.out.emplace(s.name, HostTensor(s));
    std::fill(c.out.at(s.name).data.begin(), c.out.at(s.name).data.end(), poison);
  }
  for (auto& [n, t] : c.in) c.ptrs[n] = t.data.data();
  for (auto& [n, t] : c.out) c.ptrs[n] = t.data.data();
  return c;
}

template <class P>
P params_of(const Case& c) {
  P p;
  const std::vector<uint8_t> b = c.problem->params(c.ptrs);
  std::memcpy(&p, b.data(), sizeof p);
  return p;
}

// Runs the problem's checks over c.out; returns the failing outputs ("" when all pass).
std::string failures(const Case& c, const std::vector<OutputCheck>& checks, dsb_op op) {
  const auto tol = find_driver(op)->default_tolerances();
  std::string bad;
  for (const OutputCheck& k : checks) {
    const OutputAccuracy a = compare_output(k, tol.at(k.output), c.out.at(k.output));
    if (!a.passed) bad += k.output + " (" + a.rule + ") ";
  }
  return bad;
}

const nlohmann::json kSmall = {{"num_tokens", 50}, {"hidden", 256}, {"num_experts", 16}, {"num_groups", 4},
                               {"topk_groups", 2}, {"topk", 4}, {"unused_slots", 0.2}};

TEST(MoeDispatchReference, HandWorkedLayout) {
  // 2 tokens, 4 experts, top-2: token 0 -> experts 1 and 3, token 1 -> expert 3 and an unused slot.
  const int32_t idx[4] = {1, 3, 3, -1};
  std::vector<uint16_t> x(2 * 128);
  for (size_t i = 0; i < x.size(); ++i) x[i] = bf16_from_f32(static_cast<float>(i) - 100.5f);
  for (const auto& [name, run] : dispatch_kernels()) {
    std::vector<uint16_t> recv(384 * 128, 0x5a5a);
    std::vector<int32_t> src(384 * 3, 77), m(384, 77), count(4, 77), ntr(1, 77), nte(4, 77), itr(2, 77);
    int64_t rows = 77;
    dsb_moe_dispatch_params p{};
    p.num_tokens = 2;
    p.hidden = 128;
    p.num_experts = 4;
    p.topk = 2;
    p.world_size = 1;
    p.recv_dtype = DSB_DTYPE_BF16;
    p.recv_capacity = 384;
    p.x = x.data();
    p.topk_idx = idx;
    p.recv_x = recv.data();
    p.recv_src = src.data();
    p.recv_m_indices = m.data();
    p.recv_count = count.data();
    p.num_recv_rows = &rows;
    p.num_tokens_per_rank = ntr.data();
    p.num_tokens_per_expert = nte.data();
    p.is_token_in_rank = itr.data();
    ASSERT_EQ(run(p), DSB_STATUS_OK) << name;
    EXPECT_EQ(nte, (std::vector<int32_t>{0, 1, 0, 2})) << name;
    EXPECT_EQ(ntr, (std::vector<int32_t>{2})) << name;
    EXPECT_EQ(itr, (std::vector<int32_t>{1, 1})) << name;
    EXPECT_EQ(count, (std::vector<int32_t>{0, 1, 0, 2})) << name;
    EXPECT_EQ(rows, 256) << name << ": expert 1 pads to 128, expert 3 pads to 128";
    EXPECT_EQ(m[0], 1);
    EXPECT_EQ(m[1], -1) << name << ": padding";
    EXPECT_EQ(m[128], 3);
    EXPECT_EQ(m[129], 3);
    EXPECT_EQ(m[130], -1);
    EXPECT_EQ(m[300], -1) << name << ": past num_recv_rows";
    EXPECT_EQ(std::vector<int32_t>(src.begin(), src.begin() + 3), (std::vector<int32_t>{0, 0, 0}));
    EXPECT_EQ(std::vector<int32_t>(src.begin() + 3, src.begin() + 6), (std::vector<int32_t>{-1, -1, -1}));
    // Expert 3's two rows, in either order: (0, 0, 1) and (0, 1, 0).
    std::vector<std::vector<int32_t>> got = {{src[384], src[385], src[386]}, {src[387], src[388], src[389]}};
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, (std::vector<std::vector<int32_t>>{{0, 0, 1}, {0, 1, 0}})) << name;
    const int64_t row_of_t1 = src[385] == 1 ? 128 : 129;
    EXPECT_EQ(0, std::memcmp(recv.data() + row_of_t1 * 128, x.data() + 128, 256)) << name;
    EXPECT_EQ(0, std::memcmp(recv.data(), x.data(), 256)) << name;
  }
}

TEST(MoeDispatchReference, Fp8RowsAreQuantize1x128Itself) {
  std::vector<uint16_t> x(256);
  std::vector<float> xf(256);
  for (int i = 0; i < 256; ++i) {
    x[i] = bf16_from_f32((i % 7 - 3) * (i < 128 ? 0.01f : 300.0f) + 0.001f * i);
    xf[i] = bf16_to_f32(x[i]);
  }
  for (const bool ue8m0 : {false, true}) {
    ref::QuantRecipe recipe;
    recipe.ue8m0 = ue8m0;
    std::vector<uint8_t> q(256);
    float s[2];
    ref::quantize_1x128(xf.data(), 1, 256, recipe, q.data(), s);
    uint8_t want_scales[8];
    ref::store_scales(s, 2, ue8m0 ? DSB_DTYPE_UE8M0 : DSB_DTYPE_F32, want_scales);
    const int32_t idx[1] = {0};
    for (const auto& [name, run] : dispatch_kernels()) {
      std::vector<uint8_t> recv(128 * 256, 0), scales(128 * 8, 0);
      std::vector<int32_t> src(128 * 3), m(128), count(1), ntr(1), nte(1), itr(1);
      int64_t rows = 0;
      dsb_moe_dispatch_params p{};
      p.num_tokens = 1;
      p.hidden = 256;
      p.num_experts = 1;
      p.topk = 1;
      p.world_size = 1;
      p.recv_dtype = DSB_DTYPE_E4M3FN;
      p.scale_dtype = ue8m0 ? DSB_DTYPE_UE8M0 : DSB_DTYPE_F32;
      p.recv_capacity = 128;
      p.x = x.data();
      p.topk_idx = idx;
      p.recv_x = recv.data();
      p.recv_scale = scales.data();
      p.recv_src = src.data();
      p.recv_m_indices = m.data();
      p.recv_count = count.data();
      p.num_recv_rows = &rows;
      p.num_tokens_per_rank = ntr.data();
      p.num_tokens_per_expert = nte.data();
      p.is_token_in_rank = itr.data();
      ASSERT_EQ(run(p), DSB_STATUS_OK) << name;
      EXPECT_EQ(0, std::memcmp(recv.data(), q.data(), 256)) << name << (ue8m0 ? " ue8m0" : " f32");
      EXPECT_EQ(0, std::memcmp(scales.data(), want_scales, ue8m0 ? 2 : 8)) << name << (ue8m0 ? " ue8m0" : " f32");
    }
  }
}

// The finite floats the encoders are swept over: every bit pattern with a stride coprime to the
// mantissa (all exponents, varied low bits), plus every value within 64 ulps of each FP8 code and
// rounding boundary of f. About 16.7 M values.
std::vector<float> encoder_probes(const Fp8Format& f) {
  std::vector<float> xs;
  auto add = [&](uint32_t bits) {
    float x;
    std::memcpy(&x, &bits, 4);
    if (std::isfinite(x)) xs.push_back(x);
  };
  for (uint64_t b = 0; b <= 0xffffffffull; b += 257) add(static_cast<uint32_t>(b));
  for (int code = 0; code < 256; ++code) {
    const float v = fp8_decode(static_cast<uint8_t>(code), f);
    const float next = fp8_decode(static_cast<uint8_t>(code + 1 < 256 ? code + 1 : code), f);
    for (const float c : {v, (v + next) / 2}) {
      if (!std::isfinite(c)) continue;
      uint32_t cb;
      std::memcpy(&cb, &c, 4);
      for (int d = -64; d <= 64; ++d) add(cb + static_cast<uint32_t>(d));
    }
  }
  return xs;
}

// Counts the probes where `got` differs from fp8_encode (the first three are reported).
int64_t encoder_mismatches(dsb_dtype t, const std::vector<float>& xs, const uint8_t* got) {
  const Fp8Format f = fp8_format(t);
  int64_t wrong = 0;
  for (size_t i = 0; i < xs.size(); ++i)
    if (got[i] != fp8_encode(xs[i], f) && wrong++ < 3)
      ADD_FAILURE() << dsb_dtype_name(t) << ": x = " << xs[i] << " gives " << int{got[i]};
  return wrong;
}

TEST(MoeDispatchKernel, BranchFreeFp8EncoderMatchesTheCodecOnEveryFormat) {
  for (const dsb_dtype t : {DSB_DTYPE_E4M3FN, DSB_DTYPE_E5M2, DSB_DTYPE_E4M3FNUZ, DSB_DTYPE_E5M2FNUZ}) {
    const Fp8Format f = fp8_format(t);
    const std::vector<float> xs = encoder_probes(f);
    std::vector<uint8_t> got(xs.size());
    for (size_t i = 0; i < xs.size(); ++i) got[i] = cpu::fp8_encode_finite(xs[i], f);
    EXPECT_EQ(encoder_mismatches(t, xs, got.data()), 0) << dsb_dtype_name(t) << " of " << xs.size();
  }
}

TEST(MoeDispatchKernel, Avx512Fp8EncoderMatchesTheCodecOnEveryFormat) {
  std::vector<float> one(16);
  if (!cpu::fp8_encode_finite_avx512(one.data(), 16, DSB_DTYPE_E4M3FN, std::vector<uint8_t>(16).data()))
    GTEST_SKIP() << "this CPU has no AVX-512";
  for (const dsb_dtype t : {DSB_DTYPE_E4M3FN, DSB_DTYPE_E5M2, DSB_DTYPE_E4M3FNUZ, DSB_DTYPE_E5M2FNUZ}) {
    std::vector<float> xs = encoder_probes(fp8_format(t));
    while (xs.size() % 16 != 0) xs.push_back(0.0f);
    std::vector<uint8_t> got(xs.size());
    ASSERT_TRUE(cpu::fp8_encode_finite_avx512(xs.data(), static_cast<int64_t>(xs.size()), t, got.data()));
    EXPECT_EQ(encoder_mismatches(t, xs, got.data()), 0) << dsb_dtype_name(t) << " of " << xs.size();
  }
}

TEST(MoeDispatchKernel, QuantiserMatchesTheReferenceOnSpecialBlocks) {
  // Blocks: ordinary, one NaN, +Inf, -Inf, all zero, tiny (FP8 subnormals), the largest BF16.
  constexpr int kBlocks = 7, H = kBlocks * 128;
  std::vector<uint16_t> x(H);
  for (int i = 0; i < H; ++i) x[i] = bf16_from_f32(std::sin(0.37f * i) * (i / 128 == 5 ? 1e-30f : 3.0f));
  x[128 + 9] = 0x7fc1;
  x[256 + 100] = 0x7f80;
  x[384 + 1] = 0xff80;
  std::fill(x.begin() + 512, x.begin() + 640, uint16_t{0});
  x[768 + 64] = 0x7f7f;
  x[768 + 65] = 0xff7f;
  std::vector<float> xf(H);
  for (int i = 0; i < H; ++i) xf[i] = bf16_to_f32(x[i]);
  for (const dsb_dtype t : {DSB_DTYPE_E4M3FN, DSB_DTYPE_E5M2, DSB_DTYPE_E4M3FNUZ, DSB_DTYPE_E5M2FNUZ}) {
    for (const dsb_dtype sd : {DSB_DTYPE_F32, DSB_DTYPE_UE8M0}) {
      ref::QuantRecipe recipe;
      recipe.fp8 = t;
      recipe.ue8m0 = sd == DSB_DTYPE_UE8M0;
      std::vector<uint8_t> want(H), got(H, 0x5a), want_s(4 * kBlocks), got_s(4 * kBlocks, 0x5a);
      float s[kBlocks];
      ref::quantize_1x128(xf.data(), 1, H, recipe, want.data(), s);
      ref::store_scales(s, kBlocks, sd, want_s.data());
      cpu::quantize_bf16_1x128(x.data(), H, t, sd, got.data(), got_s.data());
      for (int b = 0; b < kBlocks; ++b)
        EXPECT_EQ(0, std::memcmp(want.data() + 128 * b, got.data() + 128 * b, 128))
            << dsb_dtype_name(t) << " " << dsb_dtype_name(sd) << " block " << b;
      EXPECT_EQ(0, std::memcmp(want_s.data(), got_s.data(), sd == DSB_DTYPE_UE8M0 ? kBlocks : 4 * kBlocks))
          << dsb_dtype_name(t) << " " << dsb_dtype_name(sd);
    }
  }
}

// Outputs of 8 MB and more are written with non-temporal stores: the same checks pass, and the
// combine is FP32 in slot order with each product rounded before its add, bit for bit.
TEST(MoeDispatchCombine, RunsLargeEnoughToStreamPassTheChecks) {
  nlohmann::json params = {{"num_tokens", 2048}, {"hidden", 2048}, {"num_experts", 16}, {"num_groups", 4},
                           {"topk_groups", 2}, {"topk", 8}, {"unused_slots", 0.1}};
  for (const char* dtype : {"e4m3fn", "bf16"}) {
    params["recv_dtype"] = dtype;
    Case c = make_case(DSB_OP_MOE_DISPATCH, params, 21);
    const auto p = params_of<dsb_moe_dispatch_params>(c);
    std::vector<uint8_t> ws(cpu::moe_dispatch_optimized_workspace(p));
    ASSERT_EQ(cpu::moe_dispatch_optimized(p, ws.data()), DSB_STATUS_OK);
    EXPECT_EQ(failures(c, c.problem->reference(c.in, VerifyPolicy{}, 0), DSB_OP_MOE_DISPATCH), "") << dtype;
  }
  params.erase("recv_dtype");
  Case c = make_case(DSB_OP_MOE_COMBINE, params, 22);
  const auto p = params_of<dsb_moe_combine_params>(c);
  std::vector<uint8_t> ws(cpu::moe_combine_optimized_workspace(p));
  ASSERT_EQ(cpu::moe_combine_optimized(p, ws.data()), DSB_STATUS_OK);
  EXPECT_EQ(failures(c, c.problem->reference(c.in, VerifyPolicy{}, 0), DSB_OP_MOE_COMBINE), "");
  // Row of each pair from the handle, then the sum as the kernels define it.
  const int64_t T = p.num_tokens, K = p.topk, H = p.hidden;
  std::vector<int64_t> row_of(static_cast<size_t>(T * K), -1);
  for (int64_t r = 0; r < p.recv_capacity; ++r)
    if (p.recv_src[3 * r] == 0) row_of[static_cast<size_t>(p.recv_src[3 * r + 1] * K + p.recv_src[3 * r + 2])] = r;
  const auto* y = static_cast<const uint16_t*>(p.expert_out);
  const auto* out = static_cast<const uint16_t*>(p.out);
  int64_t wrong = 0;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < H; ++i) {
      float acc = 0.0f;
      for (int64_t j = 0; j < K; ++j) {
        if (row_of[static_cast<size_t>(t * K + j)] < 0) continue;
        volatile float prod = p.topk_weights[t * K + j] * bf16_to_f32(y[row_of[static_cast<size_t>(t * K + j)] * H + i]);
        acc += prod;
      }
      wrong += out[t * H + i] != bf16_from_f32(acc);
    }
  EXPECT_EQ(wrong, 0) << "of " << T * H;
}

TEST(MoeDispatchCombine, CombineOfDispatchWithUnitWeightsIsTopkTimesX) {
  for (const char* layout : {"contiguous", "masked"}) {
    nlohmann::json params = kSmall;
    params["layout"] = layout;
    for (size_t d = 0; d < dispatch_kernels().size(); ++d) {
      Case c = make_case(DSB_OP_MOE_DISPATCH, params, 7 + d);
      const auto dp = params_of<dsb_moe_dispatch_params>(c);
      ASSERT_EQ(dispatch_kernels()[d].second(dp), DSB_STATUS_OK);
      const int64_t T = dp.num_tokens, K = dp.topk, H = dp.hidden;
      const std::vector<float> ones(static_cast<size_t>(T * K), 1.0f);
      for (const auto& [cname, combine] : combine_kernels()) {
        std::vector<uint16_t> out(static_cast<size_t>(T * H), 0x7fc0);
        dsb_moe_combine_params p{};
        p.num_tokens = dp.num_tokens;
        p.hidden = dp.hidden;
        p.num_experts = dp.num_experts;
        p.topk = dp.topk;
        p.world_size = 1;
        p.layout = dp.layout;
        p.recv_capacity = dp.recv_capacity;
        p.expert_out = dp.recv_x;
        p.recv_src = dp.recv_src;
        p.recv_count = dp.recv_count;
        p.topk_weights = ones.data();
        p.out = out.data();
        ASSERT_EQ(combine(p), DSB_STATUS_OK) << cname;
        const uint16_t* x = c.in.at("x").as<uint16_t>();
        const int32_t* idx = c.in.at("topk_idx").as<int32_t>();
        int64_t wrong = 0, partial = 0;
        for (int64_t t = 0; t < T; ++t) {
          int k = 0;
          for (int64_t j = 0; j < K; ++j) k += idx[t * K + j] >= 0;
          partial += k < K;
          for (int64_t i = 0; i < H; ++i)
            wrong += out[static_cast<size_t>(t * H + i)] != bf16_from_f64(k * static_cast<double>(bf16_to_f32(x[t * H + i])));
        }
        EXPECT_EQ(wrong, 0) << layout << " " << dispatch_kernels()[d].first << " dispatch, " << cname << " combine";
        EXPECT_GT(partial, 0) << "some tokens have unused slots";
      }
    }
  }
}

TEST(MoeDispatchCheck, PassesInAnyRowOrderAndNeedsPaddingWritten) {
  nlohmann::json params = kSmall;
  params["recv_dtype"] = "e4m3fn";
  Case c = make_case(DSB_OP_MOE_DISPATCH, params, 3);
  const auto p = params_of<dsb_moe_dispatch_params>(c);
  std::vector<uint8_t> ws(cpu::moe_dispatch_optimized_workspace(p));
  ASSERT_EQ(cpu::moe_dispatch_optimized(p, ws.data()), DSB_STATUS_OK);
  const auto checks = c.problem->reference(c.in, VerifyPolicy{}, 0);
  EXPECT_EQ(failures(c, checks, DSB_OP_MOE_DISPATCH), "");
  // Reverse the rows of every expert block: same rows, another order.
  const int64_t H = p.hidden, S = H / 128 * 4;
  int64_t row = 0;
  for (int64_t le = 0; le < 16; ++le) {
    const int64_t n = p.recv_count[le];
    for (int64_t a = row, b = row + n - 1; a < b; ++a, --b) {
      std::swap_ranges(p.recv_src + 3 * a, p.recv_src + 3 * a + 3, p.recv_src + 3 * b);
      auto* x = static_cast<uint8_t*>(p.recv_x);
      std::swap_ranges(x + a * H, x + a * H + H, x + b * H);
      auto* s = static_cast<uint8_t*>(p.recv_scale);
      std::swap_ranges(s + a * S, s + a * S + S, s + b * S);
    }
    row += ref::moe_align(n);
  }
  EXPECT_EQ(failures(c, checks, DSB_OP_MOE_DISPATCH), "");
  // A padding row left as it was (not -1) fails, in recv_src and m_indices.
  const int64_t pad = p.recv_count[0];  // the first padding row, after expert 0's rows
  ASSERT_GT(pad, 0) << "expert 0 received rows (fixed routing_seed)";
  ASSERT_LT(pad, 128);
  p.recv_src[3 * pad] = 0x5a5a5a5a;
  p.recv_m_indices[pad] = 0x5a5a5a5a;
  const std::string f = failures(c, checks, DSB_OP_MOE_DISPATCH);
  EXPECT_NE(f.find("recv_src"), std::string::npos) << f;
  EXPECT_NE(f.find("recv_m_indices"), std::string::npos) << f;
}

TEST(MoeDispatchCheck, ALostARepeatedOrACorruptedRowFails) {
  Case c = make_case(DSB_OP_MOE_DISPATCH, kSmall, 5);
  const auto p = params_of<dsb_moe_dispatch_params>(c);
  ASSERT_EQ(ref::moe_dispatch(p), DSB_STATUS_OK);
  const auto checks = c.problem->reference(c.in, VerifyPolicy{}, 0);
  ASSERT_EQ(failures(c, checks, DSB_OP_MOE_DISPATCH), "");
  int64_t le = 0;
  while (p.recv_count[le] < 2) ++le;
  int64_t first = 0;
  for (int64_t e = 0; e < le; ++e) first += ref::moe_align(p.recv_count[e]);
  // Row 1 of the block claims row 0's pair: one pair twice, one lost.
  const std::vector<int32_t> keep(p.recv_src + 3 * (first + 1), p.recv_src + 3 * (first + 2));
  std::copy(p.recv_src + 3 * first, p.recv_src + 3 * first + 3, p.recv_src + 3 * (first + 1));
  EXPECT_NE(failures(c, checks, DSB_OP_MOE_DISPATCH).find("repeats a pair"), std::string::npos);
  std::copy(keep.begin(), keep.end(), p.recv_src + 3 * (first + 1));
  ASSERT_EQ(failures(c, checks, DSB_OP_MOE_DISPATCH), "");
  // One payload bit flipped.
  static_cast<uint8_t*>(p.recv_x)[(first + 1) * p.hidden * 2 + 17] ^= 0x01;
  const std::string f = failures(c, checks, DSB_OP_MOE_DISPATCH);
  EXPECT_NE(f.find("recv_x"), std::string::npos) << f;
}

TEST(MoeCombineCheck, PassesTheKernelsAndFailsALostRow) {
  for (const char* layout : {"contiguous", "masked"}) {
    nlohmann::json params = kSmall;
    params["layout"] = layout;
    for (const auto& [name, run] : combine_kernels()) {
      Case c = make_case(DSB_OP_MOE_COMBINE, params, 9);
      const auto checks = c.problem->reference(c.in, VerifyPolicy{}, 0);
      auto p = params_of<dsb_moe_combine_params>(c);
      ASSERT_EQ(run(p), DSB_STATUS_OK) << name;
      EXPECT_EQ(failures(c, checks, DSB_OP_MOE_COMBINE), "") << layout << " " << name;
      // Drop one row from the handle (contiguous: mark it padding; masked: shorten the count).
      auto* src = c.in.at("recv_src").as<int32_t>();
      auto* count = c.in.at("recv_count").as<int32_t>();
      if (std::string(layout) == "contiguous") src[0] = -1;
      else count[0] -= 1;
      ASSERT_EQ(run(p), DSB_STATUS_OK) << name;
      EXPECT_NE(failures(c, checks, DSB_OP_MOE_COMBINE), "") << layout << " " << name;
    }
  }
}

TEST(MoeDispatchBadInput, ExpertOutOfRangeIsAnErrorNotACrash) {
  Case c = make_case(DSB_OP_MOE_DISPATCH, kSmall, 1);
  c.in.at("topk_idx").as<int32_t>()[5] = 16;
  try {
    c.problem->validate(c.in);
    ADD_FAILURE() << "validate accepted expert 16 of 16";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("topk_idx[1, 1]: 16 is outside [-1, 16)"), std::string::npos) << e.what();
  }
  const auto p = params_of<dsb_moe_dispatch_params>(c);
  for (const auto& [name, run] : dispatch_kernels()) EXPECT_EQ(run(p), DSB_STATUS_INVALID_ARGUMENT) << name;
  c.in.at("topk_idx").as<int32_t>()[5] = -7;
  for (const auto& [name, run] : dispatch_kernels()) EXPECT_EQ(run(p), DSB_STATUS_INVALID_ARGUMENT) << name;
}

TEST(MoeDispatchBadInput, ACapacityTooSmallIsAnErrorNotAnOverflow) {
  for (const char* layout : {"contiguous", "masked"}) {
    nlohmann::json params = kSmall;
    params["layout"] = layout;
    Case c = make_case(DSB_OP_MOE_DISPATCH, params, 1);
    auto p = params_of<dsb_moe_dispatch_params>(c);
    p.recv_capacity = std::string(layout) == "contiguous" ? 128 : 1;  // smaller than the buffers: nothing past is written
    for (const auto& [name, run] : dispatch_kernels())
      EXPECT_EQ(run(p), DSB_STATUS_INVALID_ARGUMENT) << layout << " " << name;
  }
}

TEST(MoeDispatchBadInput, ImpossibleParamsArePreciseErrors) {
  auto error_of = [](dsb_op op, const nlohmann::json& params, int world = 1) -> std::string {
    try {
      RankContext ctx;
      ctx.world_size = world;
      find_driver(op)->make_on(params, ctx);
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  };
  nlohmann::json p = {{"num_tokens", 4}, {"num_experts", 8}, {"num_groups", 1}, {"topk_groups", 1}, {"topk", 9}};
  EXPECT_NE(error_of(DSB_OP_MOE_DISPATCH, p).find("params.topk: 9 is larger than num_experts = 8"), std::string::npos);
  EXPECT_NE(error_of(DSB_OP_MOE_COMBINE, p).find("params.topk: 9 is larger than num_experts = 8"), std::string::npos);
  p["topk"] = 2;
  EXPECT_NE(error_of(DSB_OP_MOE_DISPATCH, p, 3).find("do not split evenly over 3 ranks"), std::string::npos);
  p["recv_dtype"] = "f32";
  EXPECT_NE(error_of(DSB_OP_MOE_DISPATCH, p).find("params.recv_dtype"), std::string::npos);
  p["recv_dtype"] = "e4m3fn";
  p["hidden"] = 200;
  const auto prob = find_driver(DSB_OP_MOE_DISPATCH)->make(p);
  std::vector<uint8_t> b = prob->params({});
  dsb_moe_dispatch_params dp;
  std::memcpy(&dp, b.data(), sizeof dp);
  EXPECT_NE(cpu::moe_dispatch_unsupported(dp).find("not a multiple of 128"), std::string::npos);
}

TEST(MoeDispatchBadInput, NoTokensGiveEmptyResults) {
  nlohmann::json params = kSmall;
  params["num_tokens"] = 0;
  for (size_t d = 0; d < dispatch_kernels().size(); ++d) {
    Case c = make_case(DSB_OP_MOE_DISPATCH, params, 2);
    const auto p = params_of<dsb_moe_dispatch_params>(c);
    ASSERT_EQ(dispatch_kernels()[d].second(p), DSB_STATUS_OK);
    EXPECT_EQ(*p.num_recv_rows, 0);
    EXPECT_EQ(failures(c, c.problem->reference(c.in, VerifyPolicy{}, 0), DSB_OP_MOE_DISPATCH), "");
  }
}

}  // namespace
}  // namespace dsbench
