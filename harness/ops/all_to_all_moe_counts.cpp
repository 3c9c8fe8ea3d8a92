#include "harness/ops/all_to_all_moe_counts.hpp"

#include <cstring>
#include <map>
#include <string>

#include "harness/error.hpp"
#include "harness/op_registry.hpp"
#include "harness/rng.hpp"
#include "reference/moe_route_reference.hpp"

namespace dsbench {

std::vector<std::vector<int64_t>> moe_dispatch_token_counts(const nlohmann::json& routing, int64_t tokens_per_rank,
                                                             int world, uint64_t seed) {
  if (!routing.is_object()) DSB_THROW("params.routing: expected an object of moe_route params");
  if (routing.contains("num_tokens")) DSB_THROW("params.routing.num_tokens: set tokens_per_rank instead");
  nlohmann::json p = routing;
  p["num_tokens"] = tokens_per_rank;
  std::unique_ptr<Problem> problem;
  try {
    problem = find_driver(DSB_OP_MOE_ROUTE)->make(p);
  } catch (const Error& e) {
    DSB_THROW(std::string("params.routing: ") + e.what());
  }
  std::vector<std::vector<int64_t>> tokens(static_cast<size_t>(world), std::vector<int64_t>(static_cast<size_t>(world), 0));
  for (int src = 0; src < world; ++src) {
    TensorMap t;
    for (const TensorSpec& s : problem->inputs()) t.emplace(s.name, HostTensor(s));
    for (const TensorSpec& s : problem->outputs()) t.emplace(s.name, HostTensor(s));
    problem->generate(mix64(seed ^ mix64(0x30e + static_cast<uint64_t>(src))), t);  // each rank its own tokens
    std::map<std::string, void*> ptrs;
    for (auto& [name, tensor] : t) ptrs[name] = tensor.data.data();
    const std::vector<uint8_t> bytes = problem->params(ptrs);
    dsb_moe_route_params rp;
    std::memcpy(&rp, bytes.data(), sizeof rp);
    ref::moe_route(rp);
    for (int64_t tok = 0; tok < rp.num_tokens; ++tok) {
      std::vector<bool> to(static_cast<size_t>(world), false);
      for (int j = 0; j < rp.topk; ++j) {
        const int64_t e = rp.topk_idx[tok * rp.topk + j];
        if (e >= 0) to[static_cast<size_t>(e * world / rp.num_experts)] = true;
      }
      for (int dst = 0; dst < world; ++dst) tokens[static_cast<size_t>(src)][static_cast<size_t>(dst)] += to[static_cast<size_t>(dst)];
    }
  }
  return tokens;
}

}  // namespace dsbench
