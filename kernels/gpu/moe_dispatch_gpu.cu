// MoE dispatch and combine on a GPU: the launch sequences of moe_dispatch_gpu_kernel.cuh on a CUDA or
// HIP stream, exchanging through the run's communicator (NCCL/RCCL) when the world has more than one
// rank.
#include "kernels/gpu/moe_dispatch_gpu.hpp"

#include "kernels/gpu/gpu_portability.hpp"
#include "kernels/gpu/moe_dispatch_gpu_kernel.cuh"

namespace dsbench::gpu {
namespace {

// The communicator's failure as a Status, in its own words.
Status comm_status(dsb_comm* comm, dsb_status code, const char* what) {
  if (code == DSB_STATUS_OK) return Status::success();
  std::string why = std::string(what) + ": " + dsb_status_name(code);
  if (comm != nullptr && comm->last_error != nullptr) why += std::string(": ") + comm->last_error(comm);
  return Status::error(code, why);
}

struct StreamLauncher {
  gpuStream_t s;
  Status fill(void* p, int byte, size_t n) {
    DSB_GPU_CHECK(gpuMemsetAsync(p, byte, n, s));
    return Status::success();
  }
  template <class... K, class... A>
  Status launch(void (*kernel)(K...), unsigned grid, A... args) {
    kernel<<<grid, moe::kThreads, 0, s>>>(args...);
    DSB_GPU_CHECK_LAUNCH();
    return Status::success();
  }
  // Called after wait(): nothing that could hang is left on the stream.
  Status to_host(void* dst, const void* src, size_t n) {
    DSB_GPU_CHECK(gpuMemcpyAsync(dst, src, n, gpuMemcpyDeviceToHost, s));
    DSB_GPU_CHECK(gpuStreamSynchronize(s));
    return Status::success();
  }
  Status exchange(dsb_comm* comm, const void* send, const int64_t* sc, const int64_t* sd, void* recv, const int64_t* rc,
                  const int64_t* rd, dsb_dtype dtype) {
    return comm_status(comm, comm->alltoallv(comm, send, sc, sd, recv, rc, rd, dtype, s), "MoE exchange (alltoallv)");
  }
  // The communicator's wait polls, so that a peer that never arrives is a timeout rather than a hang
  // (a host without it, an older plugin host, gets a plain stream sync).
  Status wait(dsb_comm* comm) {
    if (comm->wait != nullptr) return comm_status(comm, comm->wait(comm, s), "MoE exchange (wait)");
    DSB_GPU_CHECK(gpuStreamSynchronize(s));
    return Status::success();
  }
};

}  // namespace

size_t moe_dispatch_gpu_workspace(const dsb_moe_dispatch_params& p) { return moe::dispatch_workspace_bytes(p); }
size_t moe_combine_gpu_workspace(const dsb_moe_combine_params& p) { return moe::combine_workspace_bytes(p); }

Status moe_dispatch_gpu(const dsb_moe_dispatch_params& p, void* workspace, void* stream) {
  StreamLauncher l{static_cast<gpuStream_t>(stream)};
  return moe::dispatch_sequence(p, workspace, l);
}

Status moe_combine_gpu(const dsb_moe_combine_params& p, void* workspace, void* stream) {
  StreamLauncher l{static_cast<gpuStream_t>(stream)};
  return moe::combine_sequence(p, workspace, l);
}

}  // namespace dsbench::gpu
