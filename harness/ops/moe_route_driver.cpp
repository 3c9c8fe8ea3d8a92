// Driver of MoE routing: parses a case's params (the model config's routing fields) into a
// MoeRouteShape. Defaults are DeepSeek-V3's: 256 experts in 8 groups, top-4 groups, top-8 experts,
// sigmoid scores, normalised weights times 2.5.
#include <memory>

#include "harness/error.hpp"
#include "harness/op_registry.hpp"
#include "harness/ops/moe_route_problem.hpp"
#include "harness/param_reader.hpp"

namespace dsbench {
namespace {

// Indices are exact; weights are FP32 normalisations of FP32 sigmoids: a few ulps (docs/ops/moe_route.md).
const std::map<std::string, Tolerance> kRouteTolerance = {
    {"topk_idx", Tolerance{}},
    {"topk_weights", Tolerance{1e-6, 0.0, 1e-5, 1e-10}},
};

class MoeRouteDriver final : public OpDriver {
 public:
  dsb_op op() const override { return DSB_OP_MOE_ROUTE; }
  std::map<std::string, Tolerance> default_tolerances() const override { return kRouteTolerance; }

  std::unique_ptr<Problem> make(const nlohmann::json& params) const override {
    ParamReader r(params);
    MoeRouteShape s;
    s.num_tokens = r.integer("num_tokens", 0, 1 << 24);
    s.num_experts = static_cast<int32_t>(r.integer_or("num_experts", 256, 1, 1 << 16));
    s.num_groups = static_cast<int32_t>(r.integer_or("num_groups", 8, 1, s.num_experts));
    s.topk_groups = static_cast<int32_t>(r.integer_or("topk_groups", 4, 1, s.num_groups));
    s.topk = static_cast<int32_t>(r.integer_or("topk", 8, 1, s.num_experts));
    s.scoring = r.choice_or("scoring", "sigmoid", {"sigmoid", "softmax"}) == "softmax" ? DSB_MOE_SCORING_SOFTMAX
                                                                                       : DSB_MOE_SCORING_SIGMOID;
    s.normalize = r.integer_or("normalize", 1, 0, 1) == 1;
    s.routed_scale = static_cast<float>(r.number_or("routed_scale", 2.5, 1e-6, 1e6));
    s.distribution = r.choice_or("distribution", "gate", {"gate", "balanced", "skewed"});
    s.gate_hidden = s.distribution == "gate" ? r.integer_or("gate_hidden", 128, 1, 1 << 16) : 0;
    s.zipf_s = s.distribution == "skewed" ? r.number_or("zipf_s", 1.2, 0.0, 10.0) : 0.0;
    r.finish();
    if (s.num_experts % s.num_groups != 0)
      DSB_THROW("params.num_groups: " + std::to_string(s.num_groups) + " does not divide num_experts = " +
                std::to_string(s.num_experts));
    const int32_t per = s.num_experts / s.num_groups;
    if (per < 2 && s.num_groups > 1)
      DSB_THROW("params.num_groups: groups of " + std::to_string(per) + " expert; the group score sums the top 2");
    if (s.topk > s.topk_groups * per)
      DSB_THROW("params.topk: " + std::to_string(s.topk) + " exceeds the " + std::to_string(s.topk_groups * per) +
                " experts that topk_groups = " + std::to_string(s.topk_groups) + " groups of " + std::to_string(per) +
                " hold");
    return make_moe_route_problem(s);
  }

  std::string params_help() const override {
    return "num_tokens; num_experts (256), num_groups (8), topk_groups (4), topk (8), scoring sigmoid|softmax "
           "(sigmoid), normalize 0|1 (1), routed_scale (2.5); distribution gate|balanced|skewed (gate), gate_hidden "
           "(gate: 128), zipf_s (skewed: 1.2)";
  }
};

}  // namespace

std::unique_ptr<OpDriver> make_moe_route_driver() { return std::make_unique<MoeRouteDriver>(); }

}  // namespace dsbench
