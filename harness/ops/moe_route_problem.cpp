// The MoE routing problem (docs/ops/moe_route.md): gate logits from one of three distributions, the
// FP64 reference per token, and a check that accepts a different expert choice only at near-ties.
#include "harness/ops/moe_route_problem.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <set>

#include "harness/error.hpp"
#include "harness/metrics.hpp"
#include "harness/rng.hpp"
#include "reference/moe_route_reference.hpp"

namespace dsbench {
namespace {

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.3g", v);
  return b;
}

class MoeRouteProblem final : public Problem {
 public:
  explicit MoeRouteProblem(const MoeRouteShape& s) : s_(s) {
    inputs_ = {{"logits", DSB_DTYPE_F32, {s.num_tokens, s.num_experts}}, {"bias", DSB_DTYPE_F32, {s.num_experts}}};
    outputs_ = {{"topk_idx", DSB_DTYPE_I32, {s.num_tokens, s.topk}}, {"topk_weights", DSB_DTYPE_F32, {s.num_tokens, s.topk}}};
  }

  const std::vector<TensorSpec>& inputs() const override { return inputs_; }
  const std::vector<TensorSpec>& outputs() const override { return outputs_; }

  void generate(uint64_t seed, TensorMap& in) const override {
    const int64_t T = s_.num_tokens, E = s_.num_experts;
    float* logits = in.at("logits").as<float>();
    float* bias = in.at("bias").as<float>();
    const CounterRng rng(seed, hash_name("moe_route"));
    // The correction bias: small next to the scores, as the trained one is (it only nudges load).
    for (int64_t e = 0; e < E; ++e) bias[e] = rng.uniform(static_cast<uint64_t>(e), -0.05f, 0.05f);
    const uint64_t base = static_cast<uint64_t>(E);
    if (s_.distribution == "gate") {
      // The real gate on random activations: logits = x . W / sqrt(h), x and W uniform in [-2, 2).
      const int64_t h = s_.gate_hidden;
      std::vector<float> w(static_cast<size_t>(h * E));
      for (int64_t i = 0; i < h * E; ++i) w[static_cast<size_t>(i)] = rng.uniform(base + static_cast<uint64_t>(i), -2.0f, 2.0f);
      const uint64_t xbase = base + static_cast<uint64_t>(h * E);
#pragma omp parallel for schedule(static)
      for (int64_t t = 0; t < T; ++t) {
        std::vector<float> x(static_cast<size_t>(h));
        for (int64_t k = 0; k < h; ++k) x[static_cast<size_t>(k)] = rng.uniform(xbase + static_cast<uint64_t>(t * h + k), -2.0f, 2.0f);
        for (int64_t e = 0; e < E; ++e) {
          double acc = 0;
          for (int64_t k = 0; k < h; ++k) acc += static_cast<double>(x[static_cast<size_t>(k)]) * w[static_cast<size_t>(k * E + e)];
          logits[t * E + e] = static_cast<float>(acc / std::sqrt(static_cast<double>(h)));
        }
      }
    } else if (s_.distribution == "balanced") {
      // Token t prefers two experts in each of topk_groups groups, rotating so that every expert is
      // chosen equally often; noise keeps the rest of the ranking random.
      const int64_t per = E / s_.num_groups;
      for (int64_t t = 0; t < T; ++t) {
        for (int64_t e = 0; e < E; ++e) logits[t * E + e] = rng.uniform(base + static_cast<uint64_t>(t * E + e), -1.0f, 1.0f);
        for (int64_t i = 0; i < s_.topk_groups; ++i) {
          const int64_t g = (t + i * (s_.num_groups / std::max<int64_t>(1, s_.topk_groups))) % s_.num_groups;
          for (int64_t k = 0; k < 2 && k < per; ++k) logits[t * E + g * per + (2 * t + k) % per] += 8.0f;
        }
      }
    } else {
      // Zipf-like hot experts: a random ranking of the experts, logit boost s * log(1 / rank).
      std::vector<int64_t> rank(static_cast<size_t>(E));
      std::iota(rank.begin(), rank.end(), 0);
      for (int64_t i = E - 1; i > 0; --i)
        std::swap(rank[static_cast<size_t>(i)], rank[rng.bits(base * 7 + static_cast<uint64_t>(i)) % static_cast<uint64_t>(i + 1)]);
      for (int64_t t = 0; t < T; ++t)
        for (int64_t e = 0; e < E; ++e)
          logits[t * E + e] = rng.uniform(base + static_cast<uint64_t>(t * E + e), -1.0f, 1.0f) -
                              static_cast<float>(s_.zipf_s * std::log(static_cast<double>(rank[static_cast<size_t>(e)] + 1)));
    }
  }

  void validate(const TensorMap& in) const override {
    const float* l = in.at("logits").as<float>();
    for (int64_t i = 0; i < s_.num_tokens * s_.num_experts; ++i)
      if (!std::isfinite(l[i])) DSB_THROW("logits[" + std::to_string(i) + "]: " + std::to_string(l[i]) + " is not finite");
  }

  std::vector<uint8_t> params(const std::map<std::string, void*>& ptrs) const override {
    dsb_moe_route_params p = base_params();
    p.logits = static_cast<const float*>(tensor_ptr(ptrs, "logits"));
    p.bias = static_cast<const float*>(tensor_ptr(ptrs, "bias"));
    p.topk_idx = static_cast<int32_t*>(tensor_ptr(ptrs, "topk_idx"));
    p.topk_weights = static_cast<float*>(tensor_ptr(ptrs, "topk_weights"));
    return params_bytes(p);
  }

  std::vector<OutputCheck> reference(const TensorMap& in, const VerifyPolicy&, uint64_t) const override {
    dsb_moe_route_params p = base_params();
    p.logits = in.at("logits").as<float>();
    p.bias = in.at("bias").as<float>();
    tokens_.assign(static_cast<size_t>(s_.num_tokens), {});
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < s_.num_tokens; ++t) tokens_[static_cast<size_t>(t)] = ref::moe_route_token(p, t);
    OutputCheck idx, w;
    idx.output = "topk_idx";
    idx.total = s_.num_tokens * s_.topk;
    idx.rule = "every token: the set of chosen experts (order free) against the FP64 reference";
    idx.custom = [this](const HostTensor& a, const Tolerance& tol) { return check_idx(a, tol); };
    w.output = "topk_weights";
    w.total = s_.num_tokens * s_.topk;
    w.rule = "every weight against the FP64 weight of the expert the kernel put in that slot";
    w.custom = [this](const HostTensor& a, const Tolerance& tol) { return check_weights(a, tol); };
    return {idx, w};  // in this order: the weights check uses what the index check read
  }

  double reference_macs() const override { return static_cast<double>(s_.num_tokens) * s_.num_experts * 4; }
  // Scores, group sums and selections: a few operations per logit, counted as 8 (docs/ops/moe_route.md).
  double flops() const override { return 8.0 * static_cast<double>(s_.num_tokens) * s_.num_experts; }
  double bytes() const override {
    return 4.0 * (static_cast<double>(s_.num_tokens) * s_.num_experts + s_.num_experts) +
           8.0 * static_cast<double>(s_.num_tokens) * s_.topk;
  }

 private:

  dsb_moe_route_params base_params() const {
    dsb_moe_route_params p{};
    p.num_tokens = static_cast<int32_t>(s_.num_tokens);
    p.num_experts = s_.num_experts;
    p.num_groups = s_.num_groups;
    p.topk_groups = s_.topk_groups;
    p.topk = s_.topk;
    p.scoring = s_.scoring;
    p.normalize = s_.normalize ? 1 : 0;
    p.routed_scale = s_.routed_scale;
    return p;
  }

  // Is the kernel's choice for token t acceptable? "" if it is; else why not. `near` counts a
  // choice that differs from the reference only where scores are within kNearTie.
  std::string judge(int64_t t, const int32_t* idx, bool* near) const {
    const ref::MoeRouteToken& r = tokens_[static_cast<size_t>(t)];
    const int32_t K = s_.topk, per = s_.num_experts / s_.num_groups;
    std::set<int32_t> mine, theirs(r.idx.begin(), r.idx.end());
    for (int32_t j = 0; j < K; ++j) {
      if (idx[j] < 0 || idx[j] >= s_.num_experts)
        return "slot " + std::to_string(j) + " holds expert " + std::to_string(idx[j]) + ", outside [0, " +
               std::to_string(s_.num_experts) + ")";
      if (!mine.insert(idx[j]).second) return "expert " + std::to_string(idx[j]) + " chosen twice";
    }
    if (mine == theirs) return "";
    // Margins of the reference's choice: the k-th expert's biased score and the last kept group's score.
    const double cut_e = r.biased[static_cast<size_t>(r.idx.back())];
    const double cut_g = r.group_score[static_cast<size_t>(r.groups.back())];
    auto at_margin = [&](int32_t e) {
      const int32_t g = e / per;
      return std::fabs(r.biased[static_cast<size_t>(e)] - cut_e) <= kNearTie ||
             std::fabs(r.group_score[static_cast<size_t>(g)] - cut_g) <= kNearTie;
    };
    for (int32_t e : mine)
      if (!theirs.count(e) && !at_margin(e))
        return "chose expert " + std::to_string(e) + " (biased score " + num(r.biased[static_cast<size_t>(e)]) +
               ", group score " + num(r.group_score[static_cast<size_t>(e / per)]) + "), not in the reference's choice and " +
               "not within " + num(kNearTie) + " of its margins (expert " + num(cut_e) + ", group " + num(cut_g) + ")";
    for (int32_t e : theirs)
      if (!mine.count(e) && !at_margin(e))
        return "missed expert " + std::to_string(e) + " (biased score " + num(r.biased[static_cast<size_t>(e)]) +
               "), which the reference chose clear of its margins";
    *near = true;
    return "";
  }

  OutputAccuracy check_idx(const HostTensor& a, const Tolerance& tol) const {
    OutputAccuracy acc;
    acc.output = "topk_idx";
    acc.tolerance = tol;
    acc.total = acc.checked = s_.num_tokens * s_.topk;
    chosen_.assign(a.as<int32_t>(), a.as<int32_t>() + s_.num_tokens * s_.topk);
    valid_.assign(static_cast<size_t>(s_.num_tokens), 0);
    int64_t bad = 0, near = 0;
    std::string first;
    for (int64_t t = 0; t < s_.num_tokens; ++t) {
      bool n = false;
      const std::string why = judge(t, chosen_.data() + t * s_.topk, &n);
      if (!why.empty()) {
        if (bad++ == 0) {
          first = "token " + std::to_string(t) + ": " + why;
          acc.worst_index = t * s_.topk;
          acc.worst_coord = {t, 0};
        }
        continue;
      }
      valid_[static_cast<size_t>(t)] = 1;
      near += n;
    }
    acc.mismatches = bad * s_.topk;
    acc.passed = bad == 0;
    acc.cos_diff = bad ? 1.0 : 0.0;
    acc.rule = "every token's set of experts (order free) against the FP64 reference; " + std::to_string(near) +
               " of " + std::to_string(s_.num_tokens) + " tokens differ only at near-ties (scores within " +
               num(kNearTie) + " of the reference's margins) and were accepted" +
               (bad ? "; " + std::to_string(bad) + " tokens wrong, first: " + first : "");
    return acc;
  }

  OutputAccuracy check_weights(const HostTensor& a, const Tolerance& tol) const {
    // Expectations for the kernel's own (accepted) choice; tokens whose choice was wrong count
    // as wrong here too, with their reference weights.
    OutputCheck c;
    c.output = "topk_weights";
    c.total = s_.num_tokens * s_.topk;
    c.rule = "every weight against the FP64 normalised score of the expert the kernel put in that slot";
    dsb_moe_route_params p = base_params();
    c.index.resize(static_cast<size_t>(c.total));
    c.expected.resize(static_cast<size_t>(c.total));
    std::iota(c.index.begin(), c.index.end(), int64_t{0});
    int64_t wrong_choice = 0;
    for (int64_t t = 0; t < s_.num_tokens; ++t) {
      const ref::MoeRouteToken& r = tokens_[static_cast<size_t>(t)];
      std::vector<double> w;
      if (!valid_.empty() && valid_[static_cast<size_t>(t)]) {
        w = ref::moe_route_weights(p, r, std::vector<int32_t>(chosen_.begin() + t * s_.topk, chosen_.begin() + (t + 1) * s_.topk));
      } else {
        w.assign(static_cast<size_t>(s_.topk), NAN);  // no meaningful expectation: a mismatch
        ++wrong_choice;
      }
      for (int32_t j = 0; j < s_.topk; ++j)
        c.expected[static_cast<size_t>(t * s_.topk + j)] = static_cast<double>(static_cast<float>(w[static_cast<size_t>(j)]));
    }
    OutputAccuracy acc = compare_output(c, tol, a);
    if (wrong_choice) acc.rule += "; " + std::to_string(wrong_choice) + " tokens with a wrong choice count as wrong";
    return acc;
  }

  static constexpr double kNearTie = 1e-6;
  MoeRouteShape s_;
  std::vector<TensorSpec> inputs_, outputs_;
  mutable std::vector<ref::MoeRouteToken> tokens_;  // the reference, per token
  mutable std::vector<int32_t> chosen_;             // the kernel's topk_idx, read by check_idx
  mutable std::vector<unsigned char> valid_;        // per token: its choice was accepted
};

}  // namespace

std::unique_ptr<Problem> make_moe_route_problem(const MoeRouteShape& s) { return std::make_unique<MoeRouteProblem>(s); }

}  // namespace dsbench
