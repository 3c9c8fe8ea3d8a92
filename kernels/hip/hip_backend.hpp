// The HIP backend (AMD GPUs through ROCm). This header is free of HIP types: the harness includes it
// from plain C++.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dsbench/backend.hpp"

namespace dsbench::hip {

// Always succeeds: with no device (or no ROCm driver) the backend reports zero devices and says why,
// and every HIP case becomes not_supported with that reason.
std::unique_ptr<Backend> make_hip_backend();

// The HIP backend's kernels, one line each (kernels/hip/hip_kernels.cpp).
std::vector<const Kernel*> hip_kernels();

// The E4M3 variant a device of this gcnArchName ("gfx942:sramecc+:xnack-") computes in: E4M3FNUZ on
// gfx94x (MI300 series), OCP E4M3FN on gfx950 and everything else (gfx90a has no FP8 arithmetic at
// all; the portable kernels decode FP8 in software there).
dsb_dtype fp8_e4m3_for_arch(const std::string& gcn_arch_name);

}  // namespace dsbench::hip
