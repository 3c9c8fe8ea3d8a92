// The MoE layer on one GPU: moe_layer_gpu_kernel.cuh's stages on a CUDA or HIP stream, the part ops
// through their own launchers (routing, dispatch, combine, the naive FP8 GEMMs).
#include "kernels/gpu/moe_layer_gpu.hpp"

#include "kernels/gpu/gemm_fp8_naive.hpp"
#include "kernels/gpu/gpu_portability.hpp"
#include "kernels/gpu/moe_dispatch_gpu.hpp"
#include "kernels/gpu/moe_layer_gpu_kernel.cuh"
#include "kernels/gpu/moe_route_gpu.hpp"

namespace dsbench::gpu {
namespace {

struct StreamLauncher {
  gpuStream_t s;
  Status route(const dsb_moe_route_params& p) { return moe_route_gpu(p, s); }
  Status dispatch(const dsb_moe_dispatch_params& p, void* ws) { return moe_dispatch_gpu(p, ws, s); }
  Status combine(const dsb_moe_combine_params& p, void* ws) { return moe_combine_gpu(p, ws, s); }
  template <class P>
  Status gemm(const P& p) { return gemm_fp8_naive(p, s); }
  size_t dispatch_workspace(const dsb_moe_dispatch_params& p) { return moe_dispatch_gpu_workspace(p); }
  size_t combine_workspace(const dsb_moe_combine_params& p) { return moe_combine_gpu_workspace(p); }
  template <class... K, class... A>
  Status launch(void (*kernel)(K...), unsigned grid, A... args) {
    kernel<<<grid, moe_layer::kThreads, 0, s>>>(args...);
    DSB_GPU_CHECK_LAUNCH();
    return Status::success();
  }
};

}  // namespace

size_t moe_layer_gpu_workspace(const dsb_moe_layer_params& p) {
  StreamLauncher l{nullptr};
  return moe_layer::carve(p, nullptr, l).bytes;
}

Status moe_layer_gpu(const dsb_moe_layer_params& p, void* workspace, void* stream) {
  StreamLauncher l{static_cast<gpuStream_t>(stream)};
  return moe_layer::run_layer(p, workspace, l);
}

}  // namespace dsbench::gpu
