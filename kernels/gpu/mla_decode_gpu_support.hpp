// What the GPU MLA decode kernels accept, from the scalars alone (supports() may not read tensors):
// shared by the CUDA and HIP kernel tables so both refuse the same shapes with the same words.
#pragma once

#include <string>

#include "dsbench/ops.h"
#include "dsbench/status.hpp"
#include "kernels/gpu/mla_decode_naive.hpp"

namespace dsbench::gpu {

inline Support mla_decode_naive_supports(const dsb_mla_decode_params& p) {
  const auto s = [](int64_t v) { return std::to_string(v); };
  if (p.b < 0 || p.s_q < 0 || p.num_blocks < 0 || p.max_blocks_per_seq < 0) return Support::no("negative sizes");
  if (p.h_kv < 1 || p.h_q < 1 || p.h_q % p.h_kv != 0)
    return Support::no("h_q = " + s(p.h_q) + " is not a positive multiple of h_kv = " + s(p.h_kv));
  if (p.page_block_size < 1) return Support::no("page_block_size " + s(p.page_block_size) + " is not positive");
  if (p.d_v < 1 || p.d_v > p.d_qk) return Support::no("d_v = " + s(p.d_v) + " is not in [1, d_qk]");
  if (p.d_v > kMlaNaiveMaxDv || p.d_qk > kMlaNaiveMaxDqk)
    return Support::no("d_qk " + s(p.d_qk) + ", d_v " + s(p.d_v) + ": the naive kernel takes d_qk <= 4096, d_v <= 1024");
  if (p.kv_dtype == DSB_DTYPE_E4M3FN) {
    if (p.d_qk != 576 || p.d_v != 512) return Support::no("the 656-byte FP8 token needs d_qk = 576 and d_v = 512");
  } else if (p.kv_dtype != DSB_DTYPE_BF16) {
    return Support::no(std::string("kv_dtype ") + dsb_dtype_name(p.kv_dtype) + ": bf16 or e4m3fn only");
  }
  return Support::yes();
}

}  // namespace dsbench::gpu
