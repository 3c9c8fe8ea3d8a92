#include "reference/moe_layer_reference.hpp"

#include <cmath>
#include <vector>

#include "dsbench/numerics/bf16.hpp"
#include "reference/gemm_fp8_reference.hpp"
#include "reference/moe_dispatch_reference.hpp"
#include "reference/moe_route_reference.hpp"
#include "reference/quantize.hpp"

namespace dsbench::ref {
namespace {

const void* at(const void* base, int64_t elements, dsb_dtype t) {
  return static_cast<const uint8_t*>(base) + elements * static_cast<int64_t>(dsb_dtype_size(t));
}

double bf16_round(double v) { return bf16_to_f32(bf16_from_f64(v)); }

// SiLU(gate) * up over a row of BF16-rounded values, quantised 1x128 with the layer's recipe.
void act_quant(const double* gu, int32_t inter, dsb_dtype ab_dtype, dsb_dtype scale_dtype, uint8_t* hq, void* hs) {
  std::vector<float> h(static_cast<size_t>(inter));
  for (int32_t c = 0; c < inter; ++c) h[static_cast<size_t>(c)] = moe_silu_mul(gu[c], gu[inter + c]);
  const int64_t blocks = inter / DSB_FP8_BLOCK;
  std::vector<float> s(static_cast<size_t>(blocks));
  QuantRecipe recipe;
  recipe.fp8 = ab_dtype;
  recipe.ue8m0 = scale_dtype == DSB_DTYPE_UE8M0;
  quantize_1x128(h.data(), 1, inter, recipe, hq, s.data());
  store_scales(s.data(), blocks, scale_dtype, hs);
}

}  // namespace

const char* moe_layer_invalid(const dsb_moe_layer_params& p) {
  if (p.world_size < 1 || p.rank < 0 || p.rank >= p.world_size) return "rank outside the world";
  if (p.num_experts < 1 || p.num_experts % p.world_size != 0) return "num_experts is not a multiple of world_size";
  if (p.topk < 1 || p.topk > p.num_experts || p.num_tokens < 0) return "bad routing sizes";
  if (p.hidden < DSB_FP8_BLOCK || p.hidden % DSB_FP8_BLOCK != 0) return "hidden is not a positive multiple of 128";
  if (p.intermediate < DSB_FP8_BLOCK || p.intermediate % DSB_FP8_BLOCK != 0)
    return "intermediate is not a positive multiple of 128";
  if (p.shared_intermediate < 0 || p.shared_intermediate % DSB_FP8_BLOCK != 0)
    return "shared_intermediate is not a multiple of 128";
  if (!dsb_dtype_is_fp8(p.ab_dtype)) return "ab_dtype is not an FP8 type";
  if (p.scale_dtype != DSB_DTYPE_F32 && p.scale_dtype != DSB_DTYPE_UE8M0) return "scale_dtype is neither f32 nor ue8m0";
  if (p.stage < DSB_MOE_LAYER_ALL || p.stage >= DSB_MOE_LAYER_STAGE_COUNT) return "stage out of range";
  if (p.world_size > 1 && (p.comm == nullptr || p.comm->alltoallv == nullptr)) return "no communicator";
  return nullptr;
}

float moe_silu_mul(double gate, double up) { return static_cast<float>(gate / (1.0 + std::exp(-gate)) * up); }

void moe_expert_ffn(const uint8_t* xq, const void* xs, const uint8_t* w13, const void* w13_scale, const uint8_t* w2,
                    const void* w2_scale, int32_t hidden, int32_t inter, dsb_dtype ab_dtype, dsb_dtype scale_dtype,
                    double* y) {
  const int64_t hb = hidden / DSB_FP8_BLOCK, ib = inter / DSB_FP8_BLOCK;
  std::vector<double> gu(2 * static_cast<size_t>(inter));
  for (int64_t n = 0; n < 2 * inter; ++n)
    gu[static_cast<size_t>(n)] = bf16_round(gemm_fp8_dot(xq, xs, w13 + n * hidden, at(w13_scale, (n / DSB_FP8_BLOCK) * hb, scale_dtype),
                                                         hidden, ab_dtype, scale_dtype));
  std::vector<uint8_t> hq(static_cast<size_t>(inter));
  std::vector<uint8_t> hs(static_cast<size_t>(ib) * dsb_dtype_size(scale_dtype));
  act_quant(gu.data(), inter, ab_dtype, scale_dtype, hq.data(), hs.data());
  for (int64_t c = 0; c < hidden; ++c)
    y[c] = bf16_round(gemm_fp8_dot(hq.data(), hs.data(), w2 + c * inter, at(w2_scale, (c / DSB_FP8_BLOCK) * ib, scale_dtype),
                                   inter, ab_dtype, scale_dtype));
}

dsb_status moe_layer(const dsb_moe_layer_params& p) {
  if (moe_layer_invalid(p)) return DSB_STATUS_INVALID_ARGUMENT;
  if (p.world_size != 1 || p.stage != DSB_MOE_LAYER_ALL) return DSB_STATUS_NOT_SUPPORTED;
  dsb_moe_route_params r{};
  r.num_tokens = p.num_tokens;
  r.num_experts = p.num_experts;
  r.num_groups = p.num_groups;
  r.topk_groups = p.topk_groups;
  r.topk = p.topk;
  r.scoring = p.scoring;
  r.normalize = p.normalize;
  r.routed_scale = p.routed_scale;
  r.logits = p.logits;
  r.bias = p.bias;
  r.topk_idx = p.topk_idx;
  r.topk_weights = p.topk_weights;
  moe_route(r);

  const int64_t H = p.hidden, I = p.intermediate, Is = p.shared_intermediate, K = p.topk;
  const int64_t hb = H / DSB_FP8_BLOCK;
  const size_t ss = dsb_dtype_size(p.scale_dtype);
  const auto* x = static_cast<const uint16_t*>(p.x);
  auto* out = static_cast<uint16_t*>(p.out);
  const auto* w13 = static_cast<const uint8_t*>(p.w13);
  const auto* w2 = static_cast<const uint8_t*>(p.w2);
  for (int64_t t = 0; t < p.num_tokens; ++t) {
    std::vector<uint8_t> xq(static_cast<size_t>(H)), xs(static_cast<size_t>(hb) * ss);
    moe_dispatch_row(x + t * H, p.hidden, p.ab_dtype, p.scale_dtype, xq.data(), xs.data());
    std::vector<double> y(static_cast<size_t>(H)), routed(static_cast<size_t>(H), 0.0), shared(static_cast<size_t>(H), 0.0);
    for (int64_t j = 0; j < K; ++j) {
      const int64_t e = p.topk_idx[t * K + j];
      moe_expert_ffn(xq.data(), xs.data(), w13 + e * 2 * I * H, at(p.w13_scale, e * (2 * I / DSB_FP8_BLOCK) * hb, p.scale_dtype),
                     w2 + e * H * I, at(p.w2_scale, e * hb * (I / DSB_FP8_BLOCK), p.scale_dtype), p.hidden, p.intermediate,
                     p.ab_dtype, p.scale_dtype, y.data());
      const double w = p.topk_weights[t * K + j];
      for (int64_t c = 0; c < H; ++c) routed[static_cast<size_t>(c)] += w * y[static_cast<size_t>(c)];
    }
    if (Is > 0)
      moe_expert_ffn(xq.data(), xs.data(), static_cast<const uint8_t*>(p.ws13), p.ws13_scale,
                     static_cast<const uint8_t*>(p.ws2), p.ws2_scale, p.hidden, p.shared_intermediate, p.ab_dtype,
                     p.scale_dtype, shared.data());
    for (int64_t c = 0; c < H; ++c)
      out[t * H + c] = bf16_from_f64(bf16_round(routed[static_cast<size_t>(c)]) + shared[static_cast<size_t>(c)]);
  }
  return DSB_STATUS_OK;
}

}  // namespace dsbench::ref
