#include "reference/moe_route_reference.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace dsbench::ref {
namespace {

// "a before b": higher value first, lower index on exact ties.
bool better(double va, int32_t a, double vb, int32_t b) { return va > vb || (va == vb && a < b); }

}  // namespace

MoeRouteToken moe_route_token(const dsb_moe_route_params& p, int64_t token) {
  const int32_t E = p.num_experts, G = p.num_groups, per = E / G;
  const float* l = p.logits + token * E;
  MoeRouteToken t;
  t.score.resize(static_cast<size_t>(E));
  if (p.scoring == DSB_MOE_SCORING_SOFTMAX) {
    double mx = -INFINITY, sum = 0;
    for (int32_t e = 0; e < E; ++e) mx = std::max(mx, static_cast<double>(l[e]));
    for (int32_t e = 0; e < E; ++e) sum += std::exp(static_cast<double>(l[e]) - mx);
    for (int32_t e = 0; e < E; ++e) t.score[static_cast<size_t>(e)] = std::exp(static_cast<double>(l[e]) - mx) / sum;
  } else {
    for (int32_t e = 0; e < E; ++e) t.score[static_cast<size_t>(e)] = 1.0 / (1.0 + std::exp(-static_cast<double>(l[e])));
  }
  t.biased.resize(static_cast<size_t>(E));
  for (int32_t e = 0; e < E; ++e)
    t.biased[static_cast<size_t>(e)] = t.score[static_cast<size_t>(e)] + (p.bias ? static_cast<double>(p.bias[e]) : 0.0);

  // Group score: the two best biased scores of each group.
  t.group_score.resize(static_cast<size_t>(G));
  for (int32_t g = 0; g < G; ++g) {
    double first = -INFINITY, second = -INFINITY;
    for (int32_t e = g * per; e < (g + 1) * per; ++e) {
      const double v = t.biased[static_cast<size_t>(e)];
      if (v > first) {
        second = first;
        first = v;
      } else if (v > second) {
        second = v;
      }
    }
    t.group_score[static_cast<size_t>(g)] = per >= 2 ? first + second : first;
  }
  std::vector<int32_t> order(static_cast<size_t>(G));
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return better(t.group_score[static_cast<size_t>(a)], a, t.group_score[static_cast<size_t>(b)], b);
  });
  t.groups.assign(order.begin(), order.begin() + p.topk_groups);

  // Top-k experts of the kept groups.
  std::vector<int32_t> cand;
  for (int32_t g : t.groups)
    for (int32_t e = g * per; e < (g + 1) * per; ++e) cand.push_back(e);
  std::sort(cand.begin(), cand.end(), [&](int32_t a, int32_t b) {
    return better(t.biased[static_cast<size_t>(a)], a, t.biased[static_cast<size_t>(b)], b);
  });
  t.idx.assign(cand.begin(), cand.begin() + p.topk);
  t.weight = moe_route_weights(p, t, t.idx);
  return t;
}

std::vector<double> moe_route_weights(const dsb_moe_route_params& p, const MoeRouteToken& t,
                                      const std::vector<int32_t>& idx) {
  double sum = 0;
  for (int32_t e : idx) sum += t.score[static_cast<size_t>(e)];
  std::vector<double> w;
  for (int32_t e : idx) {
    double v = t.score[static_cast<size_t>(e)];
    if (p.normalize) v /= sum;
    w.push_back(v * static_cast<double>(p.routed_scale));
  }
  return w;
}

void moe_route(const dsb_moe_route_params& p) {
  for (int64_t tok = 0; tok < p.num_tokens; ++tok) {
    const MoeRouteToken t = moe_route_token(p, tok);
    for (int32_t j = 0; j < p.topk; ++j) {
      p.topk_idx[tok * p.topk + j] = t.idx[static_cast<size_t>(j)];
      p.topk_weights[tok * p.topk + j] = static_cast<float>(t.weight[static_cast<size_t>(j)]);
    }
  }
}

}  // namespace dsbench::ref
