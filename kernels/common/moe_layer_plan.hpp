// How every MoE layer kernel lays out its intermediates in one workspace, and the params of the part
// ops (dispatch, the grouped GEMMs, combine) it chains over them. Shared by the CPU and GPU layer
// kernels so that both run the same stages over the same buffers; host code, no vendor types.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "dsbench/dtype.h"
#include "dsbench/ops.h"

namespace dsbench::moe_layer {

// Every intermediate of the layer (null pointers when carving without a base, to size it).
struct Workspace {
  int64_t rows = 0;             // dispatched rows: contiguous recv_capacity, masked L * recv_capacity
  uint8_t *recv_x = nullptr, *recv_scale = nullptr;
  int32_t *recv_src = nullptr, *recv_m_indices = nullptr, *recv_count = nullptr;
  int64_t* num_recv_rows = nullptr;
  int32_t *tokens_per_rank = nullptr, *tokens_per_expert = nullptr, *token_in_rank = nullptr;
  void *dispatch_ws = nullptr, *combine_ws = nullptr;
  uint16_t* gu = nullptr;                // [rows, 2I] BF16 gate and up
  uint8_t *hq = nullptr, *hs = nullptr;  // [rows, I] FP8 h and its [rows, I/128] scales
  uint16_t* y = nullptr;                 // [rows, hidden] BF16 expert outputs
  uint16_t* routed = nullptr;            // [T, hidden] BF16 combine result
  uint8_t *xq = nullptr, *xs = nullptr;  // shared expert: [T, hidden] quantised x and its scales
  uint16_t* sgu = nullptr;               // [T, 2 Is]
  uint8_t *shq = nullptr, *shs = nullptr;
  uint16_t* sy = nullptr;                // [T, hidden]
  void* tail = nullptr;                  // past every buffer: scratch for the chain's GEMM kernels
  size_t bytes = 0;                      // up to the tail
};

inline dsb_moe_dispatch_params dispatch_params(const dsb_moe_layer_params& p, const Workspace& w) {
  dsb_moe_dispatch_params d{};
  d.num_tokens = p.num_tokens;
  d.hidden = p.hidden;
  d.num_experts = p.num_experts;
  d.topk = p.topk;
  d.rank = p.rank;
  d.world_size = p.world_size;
  d.layout = p.layout;
  d.recv_dtype = p.ab_dtype;
  d.scale_dtype = p.scale_dtype;
  d.recv_capacity = p.recv_capacity;
  d.x = p.x;
  d.topk_idx = p.topk_idx;
  d.recv_x = w.recv_x;
  d.recv_scale = w.recv_scale;
  d.recv_src = w.recv_src;
  d.recv_m_indices = w.recv_m_indices;
  d.recv_count = w.recv_count;
  d.num_recv_rows = w.num_recv_rows;
  d.comm = p.comm;
  d.num_tokens_per_rank = w.tokens_per_rank;
  d.num_tokens_per_expert = w.tokens_per_expert;
  d.is_token_in_rank = w.token_in_rank;
  return d;
}

inline dsb_moe_combine_params combine_params(const dsb_moe_layer_params& p, const Workspace& w) {
  dsb_moe_combine_params c{};
  c.num_tokens = p.num_tokens;
  c.hidden = p.hidden;
  c.num_experts = p.num_experts;
  c.topk = p.topk;
  c.rank = p.rank;
  c.world_size = p.world_size;
  c.layout = p.layout;
  c.recv_capacity = p.recv_capacity;
  c.expert_out = w.y;
  c.recv_src = w.recv_src;
  c.recv_count = w.recv_count;
  c.topk_weights = p.topk_weights;
  c.out = w.routed;
  c.comm = p.comm;
  return c;
}

inline dsb_moe_route_params route_params(const dsb_moe_layer_params& p) {
  return {p.num_tokens, p.num_experts, p.num_groups, p.topk_groups, p.topk, p.scoring, p.normalize,
          p.routed_scale, p.logits, p.bias, p.topk_idx, p.topk_weights};
}

// A grouped GEMM over the dispatched rows (a: [rows, k], b: [L, n, k]) in the layer's layout.
inline dsb_gemm_fp8_grouped_contiguous_params contiguous_gemm(const dsb_moe_layer_params& p, const Workspace& w,
                                                              const void* a, const void* sa, const void* b,
                                                              const void* sb, int64_t n, int64_t k, void* d) {
  return {p.recv_capacity, n, k, p.num_experts / p.world_size, p.ab_dtype, p.scale_dtype, a, sa, b, sb,
          w.recv_m_indices, d};
}
inline dsb_gemm_fp8_grouped_masked_params masked_gemm(const dsb_moe_layer_params& p, const Workspace& w, const void* a,
                                                      const void* sa, const void* b, const void* sb, int64_t n,
                                                      int64_t k, void* d) {
  return {p.num_experts / p.world_size, p.recv_capacity, n, k, 0, p.ab_dtype, p.scale_dtype, a, sa, b, sb,
          w.recv_count, d};
}

// Carves the workspace from base (sizes only when base is null). The part kernels' own scratch
// comes last, sized by the caller's functions of their params.
template <class DispatchWsBytes, class CombineWsBytes>
Workspace carve(const dsb_moe_layer_params& p, void* base, DispatchWsBytes dispatch_ws_bytes,
                CombineWsBytes combine_ws_bytes) {
  constexpr size_t kAlign = 256;  // every buffer starts aligned for vector loads and GEMM operands
  Workspace w;
  const int64_t L = p.num_experts / std::max(1, p.world_size), T = p.num_tokens, H = p.hidden;
  const int64_t I = p.intermediate, Is = p.shared_intermediate, W = p.world_size;
  const int64_t ss = static_cast<int64_t>(dsb_dtype_size(p.scale_dtype));
  w.rows = p.layout == DSB_MOE_LAYOUT_CONTIGUOUS ? p.recv_capacity : L * p.recv_capacity;
  const int64_t R = w.rows;
  auto* b = static_cast<uint8_t*>(base);
  size_t off = 0;
  auto take = [&](int64_t bytes) -> uint8_t* {
    uint8_t* at = b ? b + off : nullptr;
    off += (static_cast<size_t>(std::max<int64_t>(bytes, 0)) + kAlign - 1) / kAlign * kAlign;
    return at;
  };
  w.recv_x = take(R * H);
  w.recv_scale = take(R * (H / DSB_FP8_BLOCK) * ss);
  w.recv_src = reinterpret_cast<int32_t*>(take(R * 3 * 4));
  w.recv_m_indices = reinterpret_cast<int32_t*>(take(p.recv_capacity * 4));
  w.recv_count = reinterpret_cast<int32_t*>(take(L * 4));
  w.num_recv_rows = reinterpret_cast<int64_t*>(take(8));
  w.tokens_per_rank = reinterpret_cast<int32_t*>(take(W * 4));
  w.tokens_per_expert = reinterpret_cast<int32_t*>(take(static_cast<int64_t>(p.num_experts) * 4));
  w.token_in_rank = reinterpret_cast<int32_t*>(take(T * W * 4));
  w.gu = reinterpret_cast<uint16_t*>(take(R * 2 * I * 2));
  w.hq = take(R * I);
  w.hs = take(R * (I / DSB_FP8_BLOCK) * ss);
  w.y = reinterpret_cast<uint16_t*>(take(R * H * 2));
  w.routed = reinterpret_cast<uint16_t*>(take(T * H * 2));
  if (Is > 0) {
    w.xq = take(T * H);
    w.xs = take(T * (H / DSB_FP8_BLOCK) * ss);
    w.sgu = reinterpret_cast<uint16_t*>(take(T * 2 * Is * 2));
    w.shq = take(T * Is);
    w.shs = take(T * (Is / DSB_FP8_BLOCK) * ss);
    w.sy = reinterpret_cast<uint16_t*>(take(T * H * 2));
  }
  w.dispatch_ws = take(static_cast<int64_t>(dispatch_ws_bytes(dispatch_params(p, w))));
  w.combine_ws = take(static_cast<int64_t>(combine_ws_bytes(combine_params(p, w))));
  w.tail = take(0);
  w.bytes = off;
  return w;
}

}  // namespace dsbench::moe_layer
