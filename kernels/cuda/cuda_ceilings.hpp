// The CUDA device's measured ceilings (docs/ceilings.md): device-to-device copy bandwidth and the
// rate of a large cuBLASLt GEMM in BF16 and in FP8 (E4M3 -> BF16), each timed with CUDA events,
// best of several, on random data.
#pragma once

#include "dsbench/backend.hpp"

namespace dsbench::cuda {

Status measure_cuda_ceilings(int device, Ceilings* out);

}  // namespace dsbench::cuda
