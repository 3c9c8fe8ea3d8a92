// Count matrices for the all-to-all that MoE dispatch would send (docs/ops/all_to_all.md#moe-routing):
// every rank routes its tokens with the MoE gate (the moe_route op's FP64 reference on its generated
// logits), and, as DeepEP's dispatch does, sends each token once to every rank that holds at least one
// of its chosen experts.
#pragma once

#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

namespace dsbench {

// tokens[src][dst]: tokens rank src sends rank dst. `routing` holds moe_route params without
// num_tokens (the model config's routing fields, a logit distribution); expert e lives on rank
// e * world / num_experts (contiguous, as even as the counts allow). Throws Error naming the field.
std::vector<std::vector<int64_t>> moe_dispatch_token_counts(const nlohmann::json& routing, int64_t tokens_per_rank,
                                                             int world, uint64_t seed);

}  // namespace dsbench
