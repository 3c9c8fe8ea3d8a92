// The launcher the MoE dispatch/combine launch sequences (kernels/gpu/moe_dispatch_gpu_kernel.cuh)
// take, over the SIMT emulator: memsets and copies at once, kernels block after block, exchanges
// through the params' communicator on host memory (the in-process one of `--local-ranks`, when ranks
// are emulated on threads of their own). Shared by the emulated dispatch/combine test and the
// emulated MoE layer test, which runs those sequences as its stages.
#pragma once

#include <cstring>
#include <string>

#include "dsbench/status.hpp"
#include "tests/cuda/emu/simt_emulator.hpp"  // first: it defines what the device code below needs
#include "kernels/gpu/moe_dispatch_gpu_kernel.cuh"

namespace dsbench::emu_test {

struct MoeDispatchLauncher {
  int exchanges = 0, waits = 0;  // what the sequence asked of the communicator
  Status fill(void* p, int byte, size_t n) {
    std::memset(p, byte, n);
    return Status::success();
  }
  template <class... K, class... A>
  Status launch(void (*kernel)(K...), unsigned grid, A... args) {
    emu::launch({grid, 1, 1}, gpu::moe::kThreads, 0, [&] { kernel(args...); });
    return Status::success();
  }
  Status to_host(void* dst, const void* src, size_t n) {
    std::memcpy(dst, src, n);
    return Status::success();
  }
  Status exchange(dsb_comm* comm, const void* send, const int64_t* sc, const int64_t* sd, void* recv, const int64_t* rc,
                  const int64_t* rd, dsb_dtype dtype) {
    ++exchanges;
    const dsb_status st = comm->alltoallv(comm, send, sc, sd, recv, rc, rd, dtype, nullptr);
    return st == DSB_STATUS_OK ? Status::success() : Status::error(st, std::string("alltoallv: ") + comm->last_error(comm));
  }
  Status wait(dsb_comm* comm) {
    ++waits;
    const dsb_status st = comm->wait ? comm->wait(comm, nullptr) : DSB_STATUS_OK;
    return st == DSB_STATUS_OK ? Status::success() : Status::error(st, std::string("wait: ") + comm->last_error(comm));
  }
};

}  // namespace dsbench::emu_test
