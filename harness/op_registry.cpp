#include "harness/op_registry.hpp"

namespace dsbench {
namespace {

const std::vector<std::unique_ptr<OpDriver>>& drivers() {
  static const std::vector<std::unique_ptr<OpDriver>> list = [] {
    std::vector<std::unique_ptr<OpDriver>> v;
    v.push_back(make_gemm_fp8_blockscaled_driver());
    v.push_back(make_gemm_fp8_grouped_contiguous_driver());
    v.push_back(make_gemm_fp8_grouped_masked_driver());
    v.push_back(make_mla_decode_driver());
    v.push_back(make_all_to_all_driver());
    v.push_back(make_moe_route_driver());
    v.push_back(make_moe_dispatch_driver());
    v.push_back(make_moe_combine_driver());
    v.push_back(make_moe_layer_driver());
    return v;
  }();
  return list;
}

}  // namespace

const OpDriver* find_driver(dsb_op op) {
  for (const auto& d : drivers()) if (d->op() == op) return d.get();
  return nullptr;
}

std::vector<const OpDriver*> all_drivers() {
  std::vector<const OpDriver*> v;
  for (const auto& d : drivers()) v.push_back(d.get());
  return v;
}

}  // namespace dsbench
