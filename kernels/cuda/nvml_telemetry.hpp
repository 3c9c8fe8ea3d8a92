// NVIDIA GPU telemetry through NVML, loaded with dlopen("libnvidia-ml.so.1") at first use and never
// linked (../shared/TOOLCHAIN.md: the binary must load on machines without a driver). Our own
// typedefs of the few NVML entry points used; NVML is found by the PCI bus id CUDA reports.
#pragma once

#include <string>

#include "dsbench/backend.hpp"

namespace dsbench::cuda {

// SM clock, temperature, board power, the energy counter and the clock-event (throttle) reasons.
// NOT_SUPPORTED with the reason when NVML or the device cannot be had.
Status read_nvml_telemetry(const std::string& pci_bus_id, Telemetry* out);

// The names of the clock-event reason bits set in `mask`, and whether any of them holds the clocks
// down (power cap, thermal or hardware slowdown); idle and application-clock settings do not.
std::vector<std::string> nvml_throttle_reason_names(unsigned long long mask, bool* throttled);

}  // namespace dsbench::cuda
