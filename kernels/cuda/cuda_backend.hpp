// The CUDA backend. This header is free of CUDA types: the harness includes it from plain C++.
#pragma once

#include <memory>
#include <vector>

#include "dsbench/backend.hpp"

namespace dsbench::cuda {

// Always succeeds: with no device (or no driver) the backend reports zero devices and says why,
// and every CUDA case becomes not_supported with that reason.
std::unique_ptr<Backend> make_cuda_backend();

// The CUDA backend's kernels, one line each (kernels/cuda/cuda_kernels.cpp).
std::vector<const Kernel*> cuda_kernels();

}  // namespace dsbench::cuda
