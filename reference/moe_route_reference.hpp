// The oracle for DeepSeek-V3 MoE routing (../shared/DEEPSEEK.md §5, docs/ops/moe_route.md): scores,
// group-limited selection and weights in FP64, with the canonical tie-break (lower index wins).
// Plain loops, obviously right. Host pointers only.
#pragma once

#include <cstdint>
#include <vector>

#include "dsbench/ops.h"

namespace dsbench::ref {

// One token's routing in FP64, with what a check needs to judge a different selection.
struct MoeRouteToken {
  std::vector<double> score;        // [experts] s = sigmoid(logit) (or softmax), unbiased
  std::vector<double> biased;       // [experts] s + bias: what selection compares
  std::vector<double> group_score;  // [groups] sum of the top-2 biased scores of the group
  std::vector<int32_t> groups;      // the topk_groups kept groups, best first
  std::vector<int32_t> idx;         // [topk] chosen experts, best biased score first
  std::vector<double> weight;       // [topk] normalised unbiased scores times routed_scale
};

MoeRouteToken moe_route_token(const dsb_moe_route_params& p, int64_t token);

// FP64 weights of a given selection of one token (the check's expectation for a kernel that chose
// `idx`, which may differ from the reference's at near-ties).
std::vector<double> moe_route_weights(const dsb_moe_route_params& p, const MoeRouteToken& t,
                                      const std::vector<int32_t>& idx);

// Full reference run: writes topk_idx and topk_weights (rounded once to FP32).
void moe_route(const dsb_moe_route_params& p);

}  // namespace dsbench::ref
