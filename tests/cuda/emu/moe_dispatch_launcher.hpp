// The launcher the MoE dispatch/combine launch sequences (kernels/gpu/moe_dispatch_gpu_kernel.cuh)
// take, over the SIMT emulator: memsets at once, kernels block after block. Shared by the emulated
// dispatch/combine test and the emulated MoE layer test, which runs those sequences as its stages.
#pragma once

#include <cstring>

#include "dsbench/status.hpp"
#include "tests/cuda/emu/simt_emulator.hpp"  // first: it defines what the device code below needs
#include "kernels/gpu/moe_dispatch_gpu_kernel.cuh"

namespace dsbench::emu_test {

struct MoeDispatchLauncher {
  Status fill(void* p, int byte, size_t n) {
    std::memset(p, byte, n);
    return Status::success();
  }
  template <class... K, class... A>
  Status launch(void (*kernel)(K...), unsigned grid, A... args) {
    emu::launch({grid, 1, 1}, gpu::moe::kThreads, 0, [&] { kernel(args...); });
    return Status::success();
  }
};

}  // namespace dsbench::emu_test
