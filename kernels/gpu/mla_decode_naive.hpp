// Launcher of the portable, obviously correct MLA decode kernel (one block per query row, FP32 scores
// and online softmax, every key decoded with the shared codec). Shared by CUDA and HIP; free of vendor
// types so the kernel tables can include it anywhere.
#pragma once

#include "dsbench/ops.h"
#include "dsbench/status.hpp"

namespace dsbench::gpu {

constexpr int kMlaNaiveMaxDv = 1024;   // output dims a block's threads keep in registers (8 per thread)
constexpr int kMlaNaiveMaxDqk = 4096;  // the query row lives in shared memory as FP32

// stream: the backend's native stream (cudaStream_t / hipStream_t). Enqueue only.
Status mla_decode_naive(const dsb_mla_decode_params& p, void* stream);

}  // namespace dsbench::gpu
