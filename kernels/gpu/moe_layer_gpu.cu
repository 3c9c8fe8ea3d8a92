// The MoE layer on one GPU: moe_layer_gpu_kernel.cuh's stages on a CUDA or HIP stream, the part ops
// through their own launchers (routing, dispatch, combine) and the GEMMs through the chosen kernels.
#include "kernels/gpu/moe_layer_gpu.hpp"

#include <algorithm>

#include "kernels/gpu/gemm_fp8_naive.hpp"
#include "kernels/gpu/gpu_portability.hpp"
#include "kernels/gpu/moe_dispatch_gpu.hpp"
#include "kernels/gpu/moe_layer_gpu_kernel.cuh"
#include "kernels/gpu/moe_route_gpu.hpp"

namespace dsbench::gpu {
namespace {

using Plan = dsbench::moe_layer::Workspace;

// The four GEMMs of the layer over a workspace plan (pointers null when only sizing or asking).
struct LayerGemms {
  dsb_gemm_fp8_blockscaled_params shared_up, shared_down;
  dsb_gemm_fp8_grouped_contiguous_params cont_up, cont_down;
  dsb_gemm_fp8_grouped_masked_params mask_up, mask_down;
};
LayerGemms layer_gemms(const dsb_moe_layer_params& p, const Plan& w) {
  namespace plan = dsbench::moe_layer;
  const int64_t T = p.num_tokens, H = p.hidden, I = p.intermediate, Is = p.shared_intermediate;
  LayerGemms g;
  g.shared_up = {T, 2 * Is, H, p.ab_dtype, p.scale_dtype, w.xq, w.xs, p.ws13, p.ws13_scale, w.sgu};
  g.shared_down = {T, H, Is, p.ab_dtype, p.scale_dtype, w.shq, w.shs, p.ws2, p.ws2_scale, w.sy};
  g.cont_up = plan::contiguous_gemm(p, w, w.recv_x, w.recv_scale, p.w13, p.w13_scale, 2 * I, H, w.gu);
  g.cont_down = plan::contiguous_gemm(p, w, w.hq, w.hs, p.w2, p.w2_scale, H, I, w.y);
  g.mask_up = plan::masked_gemm(p, w, w.recv_x, w.recv_scale, p.w13, p.w13_scale, 2 * I, H, w.gu);
  g.mask_down = plan::masked_gemm(p, w, w.hq, w.hs, p.w2, p.w2_scale, H, I, w.y);
  return g;
}

// The GEMM kernels' largest workspace over the layer's GEMMs.
size_t gemm_workspace(const dsb_moe_layer_params& p, const MoeLayerGemms& k, const Device& d) {
  const LayerGemms g = layer_gemms(p, Plan{});
  size_t ws = 0;
  if (k.dense && p.shared_intermediate > 0 && p.num_tokens > 0)
    ws = std::max({ws, k.dense->workspace_bytes(&g.shared_up, d), k.dense->workspace_bytes(&g.shared_down, d)});
  const bool cont = p.layout == DSB_MOE_LAYOUT_CONTIGUOUS;
  if (cont && k.contiguous) ws = std::max({ws, k.contiguous->workspace_bytes(&g.cont_up, d), k.contiguous->workspace_bytes(&g.cont_down, d)});
  if (!cont && k.masked) ws = std::max({ws, k.masked->workspace_bytes(&g.mask_up, d), k.masked->workspace_bytes(&g.mask_down, d)});
  return ws;
}

struct StreamLauncher {
  Stream* stream;
  const MoeLayerGemms* kernels;
  gpuStream_t s() const { return stream ? static_cast<gpuStream_t>(stream->native_handle()) : nullptr; }
  Status route(const dsb_moe_route_params& p) { return moe_route_gpu(p, s()); }
  Status dispatch(const dsb_moe_dispatch_params& p, void* ws) { return moe_dispatch_gpu(p, ws, s()); }
  Status combine(const dsb_moe_combine_params& p, void* ws) { return moe_combine_gpu(p, ws, s()); }
  template <class P>
  Status gemm_with(const Kernel* k, const P& p, void* ws) {
    return k ? k->run(&p, ws, *stream) : gemm_fp8_naive(p, s());
  }
  Status gemm(const dsb_gemm_fp8_blockscaled_params& p, void* ws) { return gemm_with(kernels->dense, p, ws); }
  Status gemm(const dsb_gemm_fp8_grouped_contiguous_params& p, void* ws) { return gemm_with(kernels->contiguous, p, ws); }
  Status gemm(const dsb_gemm_fp8_grouped_masked_params& p, void* ws) { return gemm_with(kernels->masked, p, ws); }
  size_t dispatch_workspace(const dsb_moe_dispatch_params& p) { return moe_dispatch_gpu_workspace(p); }
  size_t combine_workspace(const dsb_moe_combine_params& p) { return moe_combine_gpu_workspace(p); }
  template <class... K, class... A>
  Status launch(void (*kernel)(K...), unsigned grid, A... args) {
    kernel<<<grid, moe_layer::kThreads, 0, s()>>>(args...);
    DSB_GPU_CHECK_LAUNCH();
    return Status::success();
  }
};

}  // namespace

std::string moe_layer_gemm_refusal(const dsb_moe_layer_params& p, const MoeLayerGemms& k, const Device& d) {
  const LayerGemms g = layer_gemms(p, Plan{});
  auto ask = [&](const Kernel* kernel, const void* params, const char* which) -> std::string {
    if (!kernel) return {};
    const Support s = kernel->supports(params, d);
    return s.ok ? std::string() : std::string(which) + " (" + kernel->id() + "): " + s.reason;
  };
  std::string why;
  if (p.shared_intermediate > 0 && p.num_tokens > 0) {
    why = ask(k.dense, &g.shared_up, "the shared expert's gate/up GEMM");
    if (why.empty()) why = ask(k.dense, &g.shared_down, "the shared expert's down GEMM");
  }
  const bool cont = p.layout == DSB_MOE_LAYOUT_CONTIGUOUS;
  if (why.empty()) why = cont ? ask(k.contiguous, &g.cont_up, "the experts' gate/up GEMM") : ask(k.masked, &g.mask_up, "the experts' gate/up GEMM");
  if (why.empty()) why = cont ? ask(k.contiguous, &g.cont_down, "the experts' down GEMM") : ask(k.masked, &g.mask_down, "the experts' down GEMM");
  return why;
}

size_t moe_layer_gpu_workspace(const dsb_moe_layer_params& p, const MoeLayerGemms& g, const Device& d) {
  StreamLauncher l{nullptr, &g};
  return moe_layer::carve(p, nullptr, l).bytes + gemm_workspace(p, g, d);  // the GEMMs' scratch at the tail
}

Status moe_layer_gpu(const dsb_moe_layer_params& p, void* workspace, Stream& stream, const MoeLayerGemms& g) {
  StreamLauncher l{&stream, &g};
  return moe_layer::run_layer(p, workspace, l);
}

}  // namespace dsbench::gpu
