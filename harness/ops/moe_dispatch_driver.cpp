// Drivers of MoE dispatch and combine: one set of params for both (the routing fields of moe_route,
// plus the payload, layout and expert-parallel fields), parsed into a MoeEpShape for the run's world.
// Both are multi-rank ops: with one rank everything stays local.
#include <memory>

#include "harness/error.hpp"
#include "harness/op_registry.hpp"
#include "harness/ops/moe_dispatch_problem.hpp"
#include "harness/param_reader.hpp"

namespace dsbench {
namespace {

// Dispatch moves bits: every output is exact. Combine is one FP32 sum of topk products rounded once to
// BF16: one BF16 ulp (2^-8 relative) plus the FP32 accumulation error, at most topk * 2^-24 * sum|w*y|,
// which abs_rms bounds for sum|w*y| up to 5x the output's RMS (docs/ops/moe_dispatch_combine.md).
const std::map<std::string, Tolerance> kDispatchTolerance = {
    {"num_tokens_per_rank", Tolerance{}}, {"num_tokens_per_expert", Tolerance{}}, {"is_token_in_rank", Tolerance{}},
    {"recv_count", Tolerance{}},          {"num_recv_rows", Tolerance{}},         {"recv_m_indices", Tolerance{}},
    {"recv_src", Tolerance{}},            {"recv_x", Tolerance{}},                {"recv_scale", Tolerance{}},
};
const std::map<std::string, Tolerance> kCombineTolerance = {{"out", Tolerance{0.0, 1e-5, 0.0078125, 1e-5}}};

}  // namespace

MoeEpShape read_moe_ep_params(ParamReader& r, int world_size) {
  MoeEpShape s;
  s.world_size = world_size;
  s.num_tokens = r.integer("num_tokens", 0, 1 << 24);
  s.hidden = static_cast<int32_t>(r.integer_or("hidden", 7168, 1, 1 << 20));
  MoeRouteShape& rt = s.route;
  rt.num_experts = static_cast<int32_t>(r.integer_or("num_experts", 256, 1, 1 << 16));
  rt.num_groups = static_cast<int32_t>(r.integer_or("num_groups", 8, 1, rt.num_experts));
  rt.topk_groups = static_cast<int32_t>(r.integer_or("topk_groups", 4, 1, rt.num_groups));
  rt.topk = static_cast<int32_t>(r.integer_or("topk", 8, 1, 255));
  rt.distribution = r.choice_or("distribution", "gate", {"gate", "balanced", "skewed"});
  rt.gate_hidden = rt.distribution == "gate" ? r.integer_or("gate_hidden", 128, 1, 1 << 16) : 0;
  rt.zipf_s = rt.distribution == "skewed" ? r.number_or("zipf_s", 1.2, 0.0, 10.0) : 0.0;
  s.layout = r.choice_or("layout", "contiguous", {"contiguous", "masked"}) == "masked" ? DSB_MOE_LAYOUT_MASKED
                                                                                    : DSB_MOE_LAYOUT_CONTIGUOUS;
  s.empty_rank = static_cast<int>(r.integer_or("empty_rank", -1, -1, 1 << 20));
  s.routing_seed = static_cast<uint64_t>(r.integer_or("routing_seed", 1, 0, INT64_MAX));
  return s;
}

void check_moe_ep_shape(const MoeEpShape& s) {
  const MoeRouteShape& rt = s.route;
  if (rt.topk > rt.num_experts)
    DSB_THROW("params.topk: " + std::to_string(rt.topk) + " is larger than num_experts = " + std::to_string(rt.num_experts));
  if (rt.num_experts % rt.num_groups != 0)
    DSB_THROW("params.num_groups: " + std::to_string(rt.num_groups) + " does not divide num_experts = " +
              std::to_string(rt.num_experts));
  const int32_t per = rt.num_experts / rt.num_groups;
  if (per < 2 && rt.num_groups > 1)
    DSB_THROW("params.num_groups: groups of " + std::to_string(per) + " expert; the group score sums the top 2");
  if (rt.topk > rt.topk_groups * per)
    DSB_THROW("params.topk: " + std::to_string(rt.topk) + " exceeds the " + std::to_string(rt.topk_groups * per) +
              " experts that topk_groups = " + std::to_string(rt.topk_groups) + " groups of " + std::to_string(per) + " hold");
  if (rt.num_experts % s.world_size != 0)
    DSB_THROW("params.num_experts: " + std::to_string(rt.num_experts) + " experts do not split evenly over " +
              std::to_string(s.world_size) + " ranks");
}

namespace {

MoeEpShape parse(const nlohmann::json& params, const RankContext& ctx, bool dispatch) {
  ParamReader r(params);
  MoeEpShape s = read_moe_ep_params(r, ctx.world_size);
  if (dispatch) {
    s.recv_dtype = r.dtype_or("recv_dtype", DSB_DTYPE_BF16);
    if (s.recv_dtype != DSB_DTYPE_BF16 && !dsb_dtype_is_fp8(s.recv_dtype))
      DSB_THROW("params.recv_dtype: " + std::string(dsb_dtype_name(s.recv_dtype)) + " is neither bf16 nor an FP8 type");
    s.scale_dtype = dsb_dtype_is_fp8(s.recv_dtype) ? r.dtype_or("scale_dtype", DSB_DTYPE_F32) : DSB_DTYPE_F32;
    if (s.scale_dtype != DSB_DTYPE_F32 && s.scale_dtype != DSB_DTYPE_UE8M0)
      DSB_THROW("params.scale_dtype: f32 or ue8m0, not " + std::string(dsb_dtype_name(s.scale_dtype)));
  }
  s.unused_slots = r.number_or("unused_slots", 0.0, 0.0, 1.0);
  r.finish();
  check_moe_ep_shape(s);
  return s;
}

const char* kHelp =
    "num_tokens (per rank); hidden (7168); routing as moe_route: num_experts (256), num_groups (8), topk_groups "
    "(4), topk (8), distribution gate|balanced|skewed (gate), gate_hidden, zipf_s; layout contiguous|masked "
    "(contiguous); empty_rank (-1: this rank mod world_size has no tokens), unused_slots (0: fraction of slots "
    "set to -1), routing_seed (1)";

class MoeDispatchDriver final : public OpDriver {
 public:
  dsb_op op() const override { return DSB_OP_MOE_DISPATCH; }
  std::map<std::string, Tolerance> default_tolerances() const override { return kDispatchTolerance; }
  bool multi_rank() const override { return true; }
  std::unique_ptr<Problem> make(const nlohmann::json& params) const override { return make_on(params, RankContext{}); }
  std::unique_ptr<Problem> make_on(const nlohmann::json& params, const RankContext& ctx) const override {
    return make_moe_dispatch_problem(parse(params, ctx, true), ctx);
  }
  std::string params_help() const override {
    return std::string(kHelp) + "; recv_dtype bf16|e4m3fn|... (bf16), scale_dtype f32|ue8m0 (f32, FP8 only)";
  }
};

class MoeCombineDriver final : public OpDriver {
 public:
  dsb_op op() const override { return DSB_OP_MOE_COMBINE; }
  std::map<std::string, Tolerance> default_tolerances() const override { return kCombineTolerance; }
  bool multi_rank() const override { return true; }
  std::unique_ptr<Problem> make(const nlohmann::json& params) const override { return make_on(params, RankContext{}); }
  std::unique_ptr<Problem> make_on(const nlohmann::json& params, const RankContext& ctx) const override {
    return make_moe_combine_problem(parse(params, ctx, false), ctx);
  }
  std::string params_help() const override { return kHelp; }
};

}  // namespace

std::unique_ptr<OpDriver> make_moe_dispatch_driver() { return std::make_unique<MoeDispatchDriver>(); }
std::unique_ptr<OpDriver> make_moe_combine_driver() { return std::make_unique<MoeCombineDriver>(); }

}  // namespace dsbench
