// Device code and the stage sequence of the portable MoE layer for one device (world size 1): the
// kernels the parts do not already have (the SiLU-multiply-quantise of h, the 1x128 quantisation of x
// for the shared expert, the final add), and run_stage, which chains them with the part ops' own
// launchers (routing, dispatch, the grouped GEMMs, combine) over the workspace of
// kernels/common/moe_layer_plan.hpp. Written once over a launcher L, so the SIMT emulator runs it:
//   L.route(dsb_moe_route_params), L.dispatch(dsb_moe_dispatch_params, ws), L.combine(..., ws),
//   L.gemm(dense | grouped contiguous | grouped masked params, scratch at the workspace's tail),
//   L.launch(kernel, grid, args...),
//   L.dispatch_workspace(params), L.combine_workspace(params).
// Quantisation is bit-identical to reference/quantize.cpp through fp8_block_scale and the codec.
#pragma once

#include <cstdint>

#include "dsbench/numerics/bf16.hpp"
#include "dsbench/numerics/fp8.hpp"
#include "dsbench/ops.h"
#include "dsbench/status.hpp"
#include "kernels/common/moe_layer_plan.hpp"
#include "kernels/gpu/fp8_quantize_block.cuh"

namespace dsbench::gpu::moe_layer {

constexpr int kThreads = kQuantThreads;  // one 1x128 block per pass: thread i owns channel i

// Which rows of a [rows, ...] buffer hold data: all, those with m_indices >= 0 (contiguous), or
// those under their expert's count (masked, `cap` rows per expert).
struct Rows {
  const int32_t* m_indices = nullptr;
  const int32_t* count = nullptr;
  int64_t cap = 0;
};
__device__ inline bool row_holds_data(const Rows& r, int64_t row) {
  if (r.m_indices) return r.m_indices[row] >= 0;
  if (r.count) return row % r.cap < r.count[row / r.cap];
  return true;
}

// One block per row of gu [rows, 2I] (gate, then up): h = SiLU(gate) * up in FP32, quantised 1x128
// into hq [rows, I] and hs [rows, I/128]. Rows without data are skipped.
__global__ void act_quant_kernel(const uint16_t* gu, int64_t inter, Rows rows, dsb_dtype fp8, dsb_dtype sd, uint8_t* hq,
                                 void* hs) {
  __shared__ float red[kThreads];
  const int64_t r = blockIdx.x;
  if (!row_holds_data(rows, r)) return;  // uniform over the block
  const int tid = threadIdx.x;
  const uint16_t* g = gu + r * 2 * inter;
  for (int64_t b = 0; b < inter / kThreads; ++b) {
    const int64_t c = b * kThreads + tid;
    const float gate = bf16_to_f32(g[c]), up = bf16_to_f32(g[inter + c]);
    const float h = gate / (1.0f + expf(-gate)) * up;
    quantize_block(h, tid, red, fp8, sd, hq + r * inter + c, hs, r * (inter / kThreads) + b);
  }
}

// One block per row of x [rows, cols] BF16: 1x128 quantisation into q and scales.
__global__ void quantize_rows_kernel(const uint16_t* x, int64_t cols, dsb_dtype fp8, dsb_dtype sd, uint8_t* q, void* s) {
  __shared__ float red[kThreads];
  const int64_t r = blockIdx.x;
  const int tid = threadIdx.x;
  for (int64_t b = 0; b < cols / kThreads; ++b) {
    const int64_t c = b * kThreads + tid;
    quantize_block(bf16_to_f32(x[r * cols + c]), tid, red, fp8, sd, q + r * cols + c, s, r * (cols / kThreads) + b);
  }
}

// out = BF16(a + b) element by element (b null: a copy of a).
__global__ void add_kernel(const uint16_t* a, const uint16_t* b, uint16_t* out, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
    out[i] = b ? bf16_from_f32(bf16_to_f32(a[i]) + bf16_to_f32(b[i])) : a[i];
}

inline unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks <= 0 ? 1 : blocks < 4096 ? blocks : 4096);
}

inline Rows dispatched_rows(const dsb_moe_layer_params& p, const dsbench::moe_layer::Workspace& w) {
  Rows r;
  if (p.layout == DSB_MOE_LAYOUT_CONTIGUOUS) r.m_indices = w.recv_m_indices;
  else r.count = w.recv_count, r.cap = p.recv_capacity;
  return r;
}

template <class L>
Status grouped_gemm(const dsb_moe_layer_params& p, const dsbench::moe_layer::Workspace& w, const void* a, const void* sa,
                    const void* b, const void* sb, int64_t n, int64_t k, void* d, L& l) {
  if (p.layout == DSB_MOE_LAYOUT_CONTIGUOUS) return l.gemm(dsbench::moe_layer::contiguous_gemm(p, w, a, sa, b, sb, n, k, d), w.tail);
  return l.gemm(dsbench::moe_layer::masked_gemm(p, w, a, sa, b, sb, n, k, d), w.tail);
}

// One stage of the layer (DSB_MOE_LAYER_ROUTE .. _COMBINE) over the workspace w.
template <class L>
Status run_stage(const dsb_moe_layer_params& p, const dsbench::moe_layer::Workspace& w, int stage, L& l) {
  namespace plan = dsbench::moe_layer;
  const int64_t T = p.num_tokens, H = p.hidden, I = p.intermediate, Is = p.shared_intermediate;
  switch (stage) {
    case DSB_MOE_LAYER_ROUTE:
      return T == 0 ? Status::success() : l.route(plan::route_params(p));
    case DSB_MOE_LAYER_DISPATCH:
      return l.dispatch(plan::dispatch_params(p, w), w.dispatch_ws);
    case DSB_MOE_LAYER_GEMM_GATE_UP:
      return grouped_gemm(p, w, w.recv_x, w.recv_scale, p.w13, p.w13_scale, 2 * I, H, w.gu, l);
    case DSB_MOE_LAYER_ACT_QUANT:
      if (w.rows == 0) return Status::success();
      return l.launch(act_quant_kernel, static_cast<unsigned>(w.rows), static_cast<const uint16_t*>(w.gu), I,
                      dispatched_rows(p, w), p.ab_dtype, p.scale_dtype, w.hq, static_cast<void*>(w.hs));
    case DSB_MOE_LAYER_GEMM_DOWN:
      return grouped_gemm(p, w, w.hq, w.hs, p.w2, p.w2_scale, H, I, w.y, l);
    case DSB_MOE_LAYER_SHARED: {
      if (Is == 0 || T == 0) return Status::success();
      Status s = l.launch(quantize_rows_kernel, static_cast<unsigned>(T), static_cast<const uint16_t*>(p.x), H, p.ab_dtype,
                          p.scale_dtype, w.xq, static_cast<void*>(w.xs));
      if (s.ok()) s = l.gemm(dsb_gemm_fp8_blockscaled_params{T, 2 * Is, H, p.ab_dtype, p.scale_dtype, w.xq, w.xs, p.ws13,
                                                              p.ws13_scale, w.sgu},
                             w.tail);
      if (s.ok())
        s = l.launch(act_quant_kernel, static_cast<unsigned>(T), static_cast<const uint16_t*>(w.sgu), Is, Rows{},
                     p.ab_dtype, p.scale_dtype, w.shq, static_cast<void*>(w.shs));
      if (s.ok())
        s = l.gemm(dsb_gemm_fp8_blockscaled_params{T, H, Is, p.ab_dtype, p.scale_dtype, w.shq, w.shs, p.ws2, p.ws2_scale, w.sy},
                   w.tail);
      return s;
    }
    case DSB_MOE_LAYER_COMBINE: {
      Status s = l.combine(plan::combine_params(p, w), w.combine_ws);
      if (s.ok() && T > 0)
        s = l.launch(add_kernel, grid_for(T * H), static_cast<const uint16_t*>(w.routed),
                     static_cast<const uint16_t*>(Is > 0 ? w.sy : nullptr), static_cast<uint16_t*>(p.out), T * H);
      return s;
    }
    default:
      return Status::error(DSB_STATUS_INVALID_ARGUMENT, "moe_layer: stage " + std::to_string(stage) + " out of range");
  }
}

// The layer's workspace: its intermediates and the part ops' scratch (L.dispatch_workspace(params),
// L.combine_workspace(params)).
template <class L>
dsbench::moe_layer::Workspace carve(const dsb_moe_layer_params& p, void* workspace, L& l) {
  return dsbench::moe_layer::carve(
      p, workspace, [&](const dsb_moe_dispatch_params& d) { return l.dispatch_workspace(d); },
      [&](const dsb_moe_combine_params& c) { return l.combine_workspace(c); });
}

// The whole layer (p.stage == 0) or one stage alone.
template <class L>
Status run_layer(const dsb_moe_layer_params& p, void* workspace, L& l) {
  const dsbench::moe_layer::Workspace w = carve(p, workspace, l);
  if (p.stage != DSB_MOE_LAYER_ALL) return run_stage(p, w, p.stage, l);
  for (int s = DSB_MOE_LAYER_ROUTE; s < DSB_MOE_LAYER_STAGE_COUNT; ++s)
    if (Status st = run_stage(p, w, s, l); !st.ok()) return st;
  return Status::success();
}

}  // namespace dsbench::gpu::moe_layer
