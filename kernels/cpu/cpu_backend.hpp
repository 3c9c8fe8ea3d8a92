// The CPU backend: host memory, immediate-mode streams, steady-clock events. It is what a user
// without an accelerator runs, and the model for every other backend's implementation.
#pragma once

#include <memory>
#include <vector>

#include "dsbench/backend.hpp"

namespace dsbench::cpu {

std::unique_ptr<Backend> make_cpu_backend();

// The CPU backend's kernels, one line each (kernels/cpu/cpu_kernels.cpp).
std::vector<const Kernel*> cpu_kernels();

}  // namespace dsbench::cpu
