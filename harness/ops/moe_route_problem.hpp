// The MoE routing problem (docs/ops/moe_route.md): DeepSeek-V3's gate (or any config of the same
// shape of rule), logits from a chosen distribution, and an order-free check of the chosen experts
// that accepts a different choice only at near-ties, then the weights of the kernel's own choice.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "dsbench/ops.h"
#include "harness/problem.hpp"

namespace dsbench {

struct MoeRouteShape {
  int64_t num_tokens = 0;
  int32_t num_experts = 256, num_groups = 8, topk_groups = 4, topk = 8;
  dsb_moe_scoring scoring = DSB_MOE_SCORING_SIGMOID;
  bool normalize = true;
  float routed_scale = 2.5f;
  std::string distribution = "gate";  // gate | balanced | skewed
  int64_t gate_hidden = 128;          // gate: width of the random activations and gate weights
  double zipf_s = 1.2;                // skewed: exponent of the hot-expert boost
};

std::unique_ptr<Problem> make_moe_route_problem(const MoeRouteShape& shape);

}  // namespace dsbench
