// MoE routing: the reference against hand-worked tokens (group limit, tie-break, weights), bad
// params, and the check (a wrong choice fails, a near-tie swap is accepted and counted).
#include <gtest/gtest.h>

#include <cstring>

#include "harness/error.hpp"
#include "harness/metrics.hpp"
#include "harness/op_registry.hpp"
#include "reference/moe_route_reference.hpp"

namespace dsbench {
namespace {

// 8 experts in 4 groups of 2, keep 2 groups, pick 2 experts; sigmoid scores, no bias unless given.
dsb_moe_route_params small(const float* logits, const float* bias, int32_t tokens = 1) {
  dsb_moe_route_params p{};
  p.num_tokens = tokens;
  p.num_experts = 8;
  p.num_groups = 4;
  p.topk_groups = 2;
  p.topk = 2;
  p.scoring = DSB_MOE_SCORING_SIGMOID;
  p.normalize = 1;
  p.routed_scale = 2.5f;
  p.logits = logits;
  p.bias = bias;
  return p;
}

TEST(MoeRouteReference, GroupLimitDecidesBeforeTheExpertRanking) {
  // Expert 0 alone is the best expert, but its group (0, 1) sums lower than groups 1 and 2, whose
  // members are all good: the group limit must exclude it.
  const float logits[8] = {3.0f, -3.0f, 2.0f, 2.0f, 1.9f, 1.9f, -1.0f, -1.0f};
  const float bias[8] = {};
  const ref::MoeRouteToken t = ref::moe_route_token(small(logits, bias), 0);
  EXPECT_EQ(t.groups, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(t.idx, (std::vector<int32_t>{2, 3})) << "tie between 2 and 3: best first, lower index first";
  EXPECT_NEAR(t.weight[0], 1.25, 1e-12);  // equal scores, normalised, x2.5
}

TEST(MoeRouteReference, BiasSelectsButDoesNotWeigh) {
  const float logits[8] = {0, 0, 0, 0, 0, 0, 1.0f, 0.5f};
  float bias[8] = {0.9f, 0.9f, 0, 0, 0, 0, 0, 0};  // lifts group 0 above group 3 for selection only
  const ref::MoeRouteToken t = ref::moe_route_token(small(logits, bias), 0);
  EXPECT_EQ(t.idx, (std::vector<int32_t>{0, 1}));
  EXPECT_NEAR(t.weight[0], 1.25, 1e-12) << "weights come from the unbiased sigmoid(0) = 0.5 each";
}

std::string error_of(const nlohmann::json& params) {
  try {
    find_driver(DSB_OP_MOE_ROUTE)->make(params);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(MoeRouteDriver, RefusesImpossibleConfigsPrecisely) {
  EXPECT_NE(error_of({{"num_tokens", 4}, {"num_experts", 10}, {"num_groups", 4}}).find("does not divide num_experts"),
            std::string::npos);
  EXPECT_NE(error_of({{"num_tokens", 4}, {"num_experts", 8}, {"num_groups", 4}, {"topk_groups", 1}, {"topk", 3}})
                .find("params.topk: 3 exceeds the 2 experts"),
            std::string::npos);
  EXPECT_NE(error_of({{"num_tokens", 4}, {"topk", 300}}).find("params.topk: 300 exceeds the maximum 256"), std::string::npos);
  EXPECT_NE(error_of({{"num_tokens", -1}}).find("negative"), std::string::npos);
  EXPECT_NE(error_of({{"num_tokens", 4}, {"scoring", "relu"}}).find("params.scoring"), std::string::npos);
  EXPECT_NE(error_of({{"num_tokens", 4}, {"experts", 256}}).find("params.experts: unknown parameter"), std::string::npos);
  EXPECT_EQ(error_of({{"num_tokens", 0}}), "") << "no tokens is an empty result, not an error";
}

struct Checked {
  OutputAccuracy idx, weights;
};

// Runs the problem's checks on outputs produced by `fill` from the reference outputs.
template <class Fill>
Checked check_with(const nlohmann::json& params, uint64_t seed, Fill fill, TensorMap* inputs_out = nullptr) {
  auto problem = find_driver(DSB_OP_MOE_ROUTE)->make(params);
  TensorMap in;
  for (const TensorSpec& s : problem->inputs()) in.emplace(s.name, HostTensor(s));
  problem->generate(seed, in);
  if (inputs_out) *inputs_out = in;
  const auto checks = problem->reference(in, VerifyPolicy{}, 0);
  HostTensor idx(problem->outputs()[0]), w(problem->outputs()[1]);
  dsb_moe_route_params p{};
  std::memcpy(&p, problem->params({{"logits", in.at("logits").data.data()}, {"bias", in.at("bias").data.data()},
                                   {"topk_idx", idx.data.data()}, {"topk_weights", w.data.data()}}).data(), sizeof p);
  ref::moe_route(p);
  fill(p, idx.as<int32_t>(), w.as<float>());
  const auto tol = find_driver(DSB_OP_MOE_ROUTE)->default_tolerances();
  Checked c;
  c.idx = compare_output(checks[0], tol.at("topk_idx"), idx);
  c.weights = compare_output(checks[1], tol.at("topk_weights"), w);
  return c;
}

TEST(MoeRouteCheck, AcceptsAnyOrderAndRejectsAWrongExpert) {
  const nlohmann::json params = {{"num_tokens", 64}};
  const Checked same = check_with(params, 5, [](const dsb_moe_route_params& p, int32_t* idx, float* w) {
    for (int32_t t = 0; t < p.num_tokens; ++t) {  // reverse each token's slots: order is free
      std::reverse(idx + t * p.topk, idx + (t + 1) * p.topk);
      std::reverse(w + t * p.topk, w + (t + 1) * p.topk);
    }
  });
  EXPECT_TRUE(same.idx.passed) << same.idx.rule;
  EXPECT_TRUE(same.weights.passed) << same.weights.rule;

  const Checked wrong = check_with(params, 5, [](const dsb_moe_route_params& p, int32_t* idx, float*) {
    // Token 3 gets an expert no rounding could explain: the reference's worst-scoring one.
    const ref::MoeRouteToken t = ref::moe_route_token(p, 3);
    int32_t worst = 0;
    for (int32_t e = 0; e < p.num_experts; ++e)
      if (t.biased[static_cast<size_t>(e)] < t.biased[static_cast<size_t>(worst)]) worst = e;
    idx[3 * p.topk + 7] = worst;
  });
  EXPECT_FALSE(wrong.idx.passed);
  EXPECT_EQ(wrong.idx.mismatches, 8);
  EXPECT_NE(wrong.idx.rule.find("token 3: chose expert"), std::string::npos) << wrong.idx.rule;
  EXPECT_FALSE(wrong.weights.passed) << "a wrong choice is counted in the weights too";

  const Checked dup = check_with(params, 5, [](const dsb_moe_route_params& p, int32_t* idx, float*) {
    idx[0] = idx[1];
    idx[p.topk] = p.num_experts;
  });
  EXPECT_NE(dup.idx.rule.find("chosen twice"), std::string::npos) << dup.idx.rule;
  EXPECT_EQ(dup.idx.mismatches, 16);
}

TEST(MoeRouteCheck, AcceptsASwapAtANearTieAndSaysSo) {
  // Make token 0's 8th and 9th best experts (same kept group set) nearly equal, then pick the 9th.
  const nlohmann::json params = {{"num_tokens", 4}, {"num_experts", 16}, {"num_groups", 1}, {"topk_groups", 1}, {"topk", 2}};
  auto problem = find_driver(DSB_OP_MOE_ROUTE)->make(params);
  TensorMap in;
  for (const TensorSpec& s : problem->inputs()) in.emplace(s.name, HostTensor(s));
  problem->generate(9, in);
  float* l = in.at("logits").as<float>();
  float* b = in.at("bias").as<float>();
  for (int e = 0; e < 16; ++e) {
    l[e] = -4.0f + 0.1f * static_cast<float>(e % 7);
    b[e] = 0.0f;
  }
  l[3] = 2.0f;         // the best
  l[5] = 1.0f;         // second
  l[11] = 1.0000001f;  // a hair above: within 1e-6 after the sigmoid
  const auto checks = problem->reference(in, VerifyPolicy{}, 0);
  HostTensor idx(problem->outputs()[0]), w(problem->outputs()[1]);
  dsb_moe_route_params p{};
  std::memcpy(&p, problem->params({{"logits", l}, {"bias", b}, {"topk_idx", idx.data.data()},
                                   {"topk_weights", w.data.data()}}).data(), sizeof p);
  ref::moe_route(p);
  ASSERT_EQ(idx.as<int32_t>()[1], 11);
  idx.as<int32_t>()[1] = 5;  // the near-tie loser
  const ref::MoeRouteToken t = ref::moe_route_token(p, 0);
  const auto wk = ref::moe_route_weights(p, t, {3, 5});
  w.as<float>()[0] = static_cast<float>(wk[0]);
  w.as<float>()[1] = static_cast<float>(wk[1]);
  const auto tol = find_driver(DSB_OP_MOE_ROUTE)->default_tolerances();
  const OutputAccuracy a = compare_output(checks[0], tol.at("topk_idx"), idx);
  EXPECT_TRUE(a.passed) << a.rule;
  EXPECT_NE(a.rule.find("1 of 4 tokens differ only at near-ties"), std::string::npos) << a.rule;
  EXPECT_TRUE(compare_output(checks[1], tol.at("topk_weights"), w).passed) << "weights of the kernel's own choice";
}

}  // namespace
}  // namespace dsbench
