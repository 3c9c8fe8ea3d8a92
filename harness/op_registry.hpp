// The one list of operator drivers the harness knows (op_registry.cpp). An op without a driver is
// "not implemented yet": its cases get a clear error, never a crash.
#pragma once

#include <memory>
#include <vector>

#include "harness/problem.hpp"

namespace dsbench {

std::unique_ptr<OpDriver> make_gemm_fp8_blockscaled_driver();
std::unique_ptr<OpDriver> make_gemm_fp8_grouped_contiguous_driver();
std::unique_ptr<OpDriver> make_gemm_fp8_grouped_masked_driver();
std::unique_ptr<OpDriver> make_mla_decode_driver();
std::unique_ptr<OpDriver> make_all_to_all_driver();
std::unique_ptr<OpDriver> make_moe_route_driver();
std::unique_ptr<OpDriver> make_moe_dispatch_driver();
std::unique_ptr<OpDriver> make_moe_combine_driver();
std::unique_ptr<OpDriver> make_moe_layer_driver();

// The driver for op, or nullptr when the op has none yet.
const OpDriver* find_driver(dsb_op op);
std::vector<const OpDriver*> all_drivers();

}  // namespace dsbench
