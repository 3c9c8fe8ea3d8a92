// The MoE dispatch and combine problems (docs/ops/moe_dispatch_combine.md). Routing comes from
// moe_route's generators and FP64 reference on every rank's tokens, from `routing_seed` alone, so
// every rank knows what every other rank sends and the buffers' shapes are fixed by the params; the
// payloads (x, expert outputs) come from the case seed and are pure functions of (seed, source rank,
// token, slot, column), so each rank checks all it received without asking the others.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dsbench/ops.h"
#include "harness/ops/moe_route_problem.hpp"
#include "harness/problem.hpp"

namespace dsbench {

struct MoeEpShape {
  int64_t num_tokens = 0;        // tokens per rank
  int32_t hidden = 7168;
  MoeRouteShape route;           // experts, groups, topk and the logit distribution
  dsb_moe_layout layout = DSB_MOE_LAYOUT_CONTIGUOUS;
  dsb_dtype recv_dtype = DSB_DTYPE_BF16;
  dsb_dtype scale_dtype = DSB_DTYPE_F32;
  int world_size = 1;
  int empty_rank = -1;           // this rank (mod world_size) has no tokens; -1: none
  double unused_slots = 0.0;     // fraction of (token, slot) pairs set to -1 (not routed)
  uint64_t routing_seed = 1;

  int64_t tokens_on(int rank) const;
  int32_t local_experts() const { return route.num_experts / world_size; }
};

// Every rank's routing, and what rank `rank` holds: computed once per problem.
struct MoeEpPlan {
  std::vector<std::vector<int32_t>> idx;      // [rank][T_rank * topk], -1 = unused slot
  std::vector<std::vector<float>> weights;    // [rank][T_rank * topk] FP32 routing weights
  std::vector<int64_t> held;                  // [local experts] rows this rank receives per expert
  int64_t capacity = 0;                       // recv_capacity: contiguous rows, or masked rows per expert
  int64_t own_pairs = 0, own_local_pairs = 0, held_pairs = 0;
};
MoeEpPlan make_moe_ep_plan(const MoeEpShape& s, int rank);

// The seed of rank `rank`'s gate logits (moe_route's generator): every rank can route every other's.
uint64_t moe_logits_seed(uint64_t routing_seed, int rank);

class ParamReader;
// The params dispatch, combine and the MoE layer share (num_tokens, hidden, the routing fields,
// layout, empty_rank, routing_seed), and their cross-checks (errors name the field).
MoeEpShape read_moe_ep_params(ParamReader& r, int world_size);
void check_moe_ep_shape(const MoeEpShape& s);

// Column c of token t of rank `rank`: BF16 bits u * 2^k, u uniform in [-1, 1), k in [-8, 8] per 128 columns.
uint16_t moe_x_bits(uint64_t seed, int rank, int64_t t, int64_t c);
// Column c of the expert output for pair (rank, t, j): BF16 bits uniform in [-1, 1).
uint16_t moe_y_bits(uint64_t seed, int rank, int64_t t, int64_t j, int64_t c);

std::unique_ptr<Problem> make_moe_dispatch_problem(const MoeEpShape& s, const RankContext& ctx);
std::unique_ptr<Problem> make_moe_combine_problem(const MoeEpShape& s, const RankContext& ctx);

}  // namespace dsbench
