// DeepSeek-V3 MoE routing on the CPU: FP32 arithmetic, one token per loop iteration over OpenMP
// threads, selections by repeated arg-max (k is small: 4 groups, 8 experts).
#pragma once

#include "dsbench/ops.h"

namespace dsbench::cpu {

dsb_status moe_route_optimized(const dsb_moe_route_params& p);

}  // namespace dsbench::cpu
