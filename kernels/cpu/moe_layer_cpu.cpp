#include "kernels/cpu/moe_layer_cpu.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "dsbench/numerics/bf16.hpp"
#include "dsbench/numerics/fp8.hpp"
#include "kernels/common/moe_layer_plan.hpp"
#include "kernels/cpu/gemm_fp8_cpu.hpp"
#include "kernels/cpu/moe_dispatch_cpu.hpp"
#include "kernels/cpu/moe_route_cpu.hpp"
#include "reference/moe_dispatch_reference.hpp"
#include "reference/moe_layer_reference.hpp"

namespace dsbench::cpu {
namespace {

using moe_layer::Workspace;
using moe_layer::combine_params;
using moe_layer::dispatch_params;

Workspace carve(const dsb_moe_layer_params& p, void* base) {
  return moe_layer::carve(p, base, moe_dispatch_optimized_workspace, moe_combine_optimized_workspace);
}

// A row of n FP32 values quantised 1x128 exactly as reference/quantize.cpp does (the same
// fp8_block_scale and round-to-nearest-even encoding), scales stored as scale_dtype.
void quantize_row(const float* v, int64_t n, dsb_dtype fp8, dsb_dtype scale_dtype, uint8_t* q, uint8_t* scales) {
  const Fp8Format& f = fp8_format(fp8);
  const bool ue8m0 = scale_dtype == DSB_DTYPE_UE8M0;
  for (int64_t b = 0; b < n / DSB_FP8_BLOCK; ++b) {
    const float* x = v + b * DSB_FP8_BLOCK;
    float amax = 0.0f;
    bool finite = true;
    for (int c = 0; c < DSB_FP8_BLOCK; ++c) {
      amax = std::max(amax, std::fabs(x[c]));
      finite = finite && std::isfinite(x[c]);
    }
    const float s = fp8_block_scale(amax, fp8, ue8m0);
    uint8_t* o = q + b * DSB_FP8_BLOCK;
    if (finite)
      for (int c = 0; c < DSB_FP8_BLOCK; ++c) o[c] = fp8_encode_finite(x[c] / s, f);
    else
      for (int c = 0; c < DSB_FP8_BLOCK; ++c) o[c] = fp8_encode(x[c] / s, f);
    if (ue8m0) scales[b] = ue8m0_from_f32_ceil(s);
    else std::memcpy(scales + b * 4, &s, 4);
  }
}

// h = SiLU(gate) * up in FP32 from a [2I] BF16 row, quantised 1x128.
void act_quant_row(const uint16_t* gu, int64_t I, dsb_dtype fp8, dsb_dtype scale_dtype, float* h, uint8_t* q, uint8_t* s) {
  for (int64_t c = 0; c < I; ++c) {
    const float g = bf16_to_f32(gu[c]), u = bf16_to_f32(gu[I + c]);
    h[c] = g / (1.0f + std::exp(-g)) * u;
  }
  quantize_row(h, I, fp8, scale_dtype, q, s);
}

bool row_valid(const dsb_moe_layer_params& p, const Workspace& w, int64_t r) {
  if (p.layout == DSB_MOE_LAYOUT_CONTIGUOUS) return w.recv_m_indices[r] >= 0;
  return r % p.recv_capacity < w.recv_count[r / p.recv_capacity];
}

// Rows [0, rows) through the activation, in parallel (valid(r) says which hold data).
template <class Valid>
void act_quant_rows(int64_t rows, const uint16_t* gu, int64_t I, dsb_dtype fp8, dsb_dtype sd, uint8_t* hq, uint8_t* hs,
                    Valid valid) {
  const int64_t ss = static_cast<int64_t>(dsb_dtype_size(sd)), ib = I / DSB_FP8_BLOCK;
#pragma omp parallel if (rows * I > (1 << 16))
  {
    std::vector<float> h(static_cast<size_t>(I));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r)
      if (valid(r)) act_quant_row(gu + r * 2 * I, I, fp8, sd, h.data(), hq + r * I, hs + r * ib * ss);
  }
}

dsb_status grouped_gemm(const dsb_moe_layer_params& p, const Workspace& w, const void* a, const void* sa, const void* b,
                        const void* sb, int64_t n, int64_t k, void* d) {
  if (p.layout == DSB_MOE_LAYOUT_CONTIGUOUS)
    return gemm_fp8_grouped_contiguous_optimized(moe_layer::contiguous_gemm(p, w, a, sa, b, sb, n, k, d));
  return gemm_fp8_grouped_masked_optimized(moe_layer::masked_gemm(p, w, a, sa, b, sb, n, k, d));
}

dsb_status shared_expert(const dsb_moe_layer_params& p, const Workspace& w) {
  const int64_t T = p.num_tokens, H = p.hidden, Is = p.shared_intermediate;
  if (Is == 0 || T == 0) return DSB_STATUS_OK;
  const int64_t ss = static_cast<int64_t>(dsb_dtype_size(p.scale_dtype)), hb = H / DSB_FP8_BLOCK;
  const auto* x = static_cast<const uint16_t*>(p.x);
#pragma omp parallel for schedule(static) if (T * H > (1 << 16))
  for (int64_t t = 0; t < T; ++t)
    quantize_bf16_1x128(x + t * H, p.hidden, p.ab_dtype, p.scale_dtype, w.xq + t * H, w.xs + t * hb * ss);
  dsb_gemm_fp8_blockscaled_params g1{T, 2 * Is, H, p.ab_dtype, p.scale_dtype, w.xq, w.xs, p.ws13, p.ws13_scale, w.sgu};
  if (const dsb_status s = gemm_fp8_blockscaled_optimized(g1); s != DSB_STATUS_OK) return s;
  act_quant_rows(T, w.sgu, Is, p.ab_dtype, p.scale_dtype, w.shq, w.shs, [](int64_t) { return true; });
  dsb_gemm_fp8_blockscaled_params g2{T, H, Is, p.ab_dtype, p.scale_dtype, w.shq, w.shs, p.ws2, p.ws2_scale, w.sy};
  return gemm_fp8_blockscaled_optimized(g2);
}

dsb_status run_stage(const dsb_moe_layer_params& p, const Workspace& w, int stage) {
  const int64_t T = p.num_tokens, H = p.hidden, I = p.intermediate;
  switch (stage) {
    case DSB_MOE_LAYER_ROUTE:
      return T == 0 ? DSB_STATUS_OK : moe_route_optimized(moe_layer::route_params(p));
    case DSB_MOE_LAYER_DISPATCH:
      return moe_dispatch_optimized(dispatch_params(p, w), w.dispatch_ws);
    case DSB_MOE_LAYER_GEMM_GATE_UP:
      return grouped_gemm(p, w, w.recv_x, w.recv_scale, p.w13, p.w13_scale, 2 * I, H, w.gu);
    case DSB_MOE_LAYER_ACT_QUANT:
      act_quant_rows(w.rows, w.gu, I, p.ab_dtype, p.scale_dtype, w.hq, w.hs, [&](int64_t r) { return row_valid(p, w, r); });
      return DSB_STATUS_OK;
    case DSB_MOE_LAYER_GEMM_DOWN:
      return grouped_gemm(p, w, w.hq, w.hs, p.w2, p.w2_scale, H, I, w.y);
    case DSB_MOE_LAYER_SHARED:
      return shared_expert(p, w);
    case DSB_MOE_LAYER_COMBINE: {
      if (const dsb_status s = moe_combine_optimized(combine_params(p, w), w.combine_ws); s != DSB_STATUS_OK) return s;
      auto* out = static_cast<uint16_t*>(p.out);
      if (p.shared_intermediate == 0) {
        if (T > 0) std::memcpy(out, w.routed, static_cast<size_t>(T * H) * 2);
        return DSB_STATUS_OK;
      }
#pragma omp parallel for schedule(static) if (T * H > (1 << 16))
      for (int64_t i = 0; i < T * H; ++i) out[i] = bf16_from_f32(bf16_to_f32(w.routed[i]) + bf16_to_f32(w.sy[i]));
      return DSB_STATUS_OK;
    }
    default:
      return DSB_STATUS_INVALID_ARGUMENT;
  }
}

}  // namespace

std::string moe_layer_unsupported(const dsb_moe_layer_params& p) {
  if (const char* why = ref::moe_layer_invalid(p)) return why;
  return {};
}

size_t moe_layer_optimized_workspace(const dsb_moe_layer_params& p) { return carve(p, nullptr).bytes; }

Support MoeLayerKernel::supports(const dsb_moe_layer_params& p, const Device& device) const {
  if (!device.host_accessible()) return Support::no("CPU kernels need host-accessible memory");
  if (const std::string why = moe_layer_unsupported(p); !why.empty()) return Support::no(why);
  if (reference_ && p.world_size > 1)
    return Support::no("the FP64 reference kernel runs the layer on one rank; with " + std::to_string(p.world_size) +
                       " ranks the check (every rank's tokens against the FP64 chain) is the oracle");
  return Support::yes();
}

size_t MoeLayerKernel::workspace_bytes(const dsb_moe_layer_params& p, const Device&) const {
  return reference_ ? 0 : moe_layer_optimized_workspace(p);
}

Status MoeLayerKernel::run(const dsb_moe_layer_params& p, void* workspace, Stream&) const {
  const dsb_status s = reference_ ? ref::moe_layer(p) : moe_layer_optimized(p, workspace);
  if (s == DSB_STATUS_OK) return Status::success();
  if (s == DSB_STATUS_NOT_SUPPORTED && p.stage != DSB_MOE_LAYER_ALL)
    return Status::error(s, id() + ": the FP64 reference runs the whole layer only, not one stage alone");
  std::string why = id() + ": " + dsb_status_name(s);
  if (s == DSB_STATUS_INVALID_ARGUMENT)
    why += std::string(" (") + (ref::moe_layer_invalid(p) ? ref::moe_layer_invalid(p) : "a dispatched layout over recv_capacity") + ")";
  else if (p.comm != nullptr && p.comm->last_error != nullptr)
    why += std::string(": ") + p.comm->last_error(p.comm);
  return Status::error(s, why);
}

dsb_status moe_layer_optimized(const dsb_moe_layer_params& p, void* workspace) {
  if (ref::moe_layer_invalid(p)) return DSB_STATUS_INVALID_ARGUMENT;
  const Workspace w = carve(p, workspace);
  if (p.stage != DSB_MOE_LAYER_ALL) return run_stage(p, w, p.stage);
  for (int s = DSB_MOE_LAYER_ROUTE; s < DSB_MOE_LAYER_STAGE_COUNT; ++s)
    if (const dsb_status st = run_stage(p, w, s); st != DSB_STATUS_OK) return st;
  return DSB_STATUS_OK;
}

}  // namespace dsbench::cpu
