// MoE dispatch and combine on one GPU: the launch sequences of moe_dispatch_gpu_kernel.cuh on a
// CUDA or HIP stream.
#include "kernels/gpu/moe_dispatch_gpu.hpp"

#include "kernels/gpu/gpu_portability.hpp"
#include "kernels/gpu/moe_dispatch_gpu_kernel.cuh"

namespace dsbench::gpu {
namespace {

struct StreamLauncher {
  gpuStream_t s;
  Status fill(void* p, int byte, size_t n) {
#if defined(__HIPCC__) || defined(DSB_GPU_HIP)
    DSB_GPU_CHECK(hipMemsetAsync(p, byte, n, s));
#else
    DSB_GPU_CHECK(cudaMemsetAsync(p, byte, n, s));
#endif
    return Status::success();
  }
  template <class... K, class... A>
  Status launch(void (*kernel)(K...), unsigned grid, A... args) {
    kernel<<<grid, moe::kThreads, 0, s>>>(args...);
    DSB_GPU_CHECK_LAUNCH();
    return Status::success();
  }
};

}  // namespace

size_t moe_dispatch_gpu_workspace(const dsb_moe_dispatch_params& p) { return moe::dispatch_workspace_bytes(p.num_experts); }
size_t moe_combine_gpu_workspace(const dsb_moe_combine_params& p) {
  return static_cast<size_t>(p.num_tokens) * static_cast<size_t>(p.topk) * 4;
}

Status moe_dispatch_gpu(const dsb_moe_dispatch_params& p, void* workspace, void* stream) {
  StreamLauncher l{static_cast<gpuStream_t>(stream)};
  return moe::dispatch_sequence(p, workspace, l);
}

Status moe_combine_gpu(const dsb_moe_combine_params& p, void* workspace, void* stream) {
  StreamLauncher l{static_cast<gpuStream_t>(stream)};
  return moe::combine_sequence(p, workspace, l);
}

}  // namespace dsbench::gpu
