#include "kernels/cpu/moe_route_cpu.hpp"

#include <cmath>
#include <vector>

namespace dsbench::cpu {
namespace {

// Index of the best of n values (higher first, lower index on exact ties) not yet taken.
int32_t arg_best(const float* v, const unsigned char* taken, int32_t n) {
  int32_t best = -1;
  for (int32_t i = 0; i < n; ++i)
    if (!taken[i] && (best < 0 || v[i] > v[best])) best = i;  // strict: the lower index keeps a tie
  return best;
}

}  // namespace

dsb_status moe_route_optimized(const dsb_moe_route_params& p) {
  const int32_t E = p.num_experts, G = p.num_groups, per = E / G, KG = p.topk_groups, K = p.topk;
#pragma omp parallel
  {
    std::vector<float> s(static_cast<size_t>(E)), biased(static_cast<size_t>(E)), group(static_cast<size_t>(G)),
        cand(static_cast<size_t>(KG * per));
    std::vector<int32_t> cand_id(static_cast<size_t>(KG * per));
    std::vector<unsigned char> taken_g(static_cast<size_t>(G)), taken_c(static_cast<size_t>(KG * per));
#pragma omp for schedule(static)
    for (int64_t t = 0; t < p.num_tokens; ++t) {
      const float* l = p.logits + t * E;
      if (p.scoring == DSB_MOE_SCORING_SOFTMAX) {
        float mx = -INFINITY, sum = 0.0f;
        for (int32_t e = 0; e < E; ++e) mx = std::fmax(mx, l[e]);
        for (int32_t e = 0; e < E; ++e) sum += (s[e] = std::exp(l[e] - mx));
        for (int32_t e = 0; e < E; ++e) s[e] /= sum;
      } else {
        for (int32_t e = 0; e < E; ++e) s[e] = 1.0f / (1.0f + std::exp(-l[e]));
      }
      for (int32_t e = 0; e < E; ++e) biased[e] = s[e] + (p.bias ? p.bias[e] : 0.0f);
      for (int32_t g = 0; g < G; ++g) {
        float first = -INFINITY, second = -INFINITY;
        for (int32_t e = g * per; e < (g + 1) * per; ++e) {
          const float v = biased[e];
          if (v > first) {
            second = first;
            first = v;
          } else if (v > second) {
            second = v;
          }
        }
        group[g] = per >= 2 ? first + second : first;
        taken_g[g] = 0;
      }
      // Kept groups, best first; their experts are the candidates, in expert order per group.
      int32_t n = 0;
      for (int32_t i = 0; i < KG; ++i) {
        const int32_t g = arg_best(group.data(), taken_g.data(), G);
        taken_g[g] = 1;
        for (int32_t e = g * per; e < (g + 1) * per; ++e) {
          cand[n] = biased[e];
          cand_id[n] = e;
          taken_c[n] = 0;
          ++n;
        }
      }
      // Ties between candidates of different groups go to the lower expert index, as in the
      // reference: compare (value, -expert) rather than candidate position.
      float sum = 0.0f;
      int32_t* idx = p.topk_idx + t * K;
      for (int32_t j = 0; j < K; ++j) {
        int32_t best = -1;
        for (int32_t c = 0; c < n; ++c) {
          if (taken_c[c]) continue;
          if (best < 0 || cand[c] > cand[best] || (cand[c] == cand[best] && cand_id[c] < cand_id[best])) best = c;
        }
        taken_c[best] = 1;
        idx[j] = cand_id[best];
        sum += s[cand_id[best]];
      }
      float* w = p.topk_weights + t * K;
      for (int32_t j = 0; j < K; ++j) w[j] = (p.normalize ? s[idx[j]] / sum : s[idx[j]]) * p.routed_scale;
    }
  }
  return DSB_STATUS_OK;
}

}  // namespace dsbench::cpu
