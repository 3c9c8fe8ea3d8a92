// The CPU's telemetry from Linux: the mean core clock (/proc/cpuinfo), the hottest thermal zone
// and the RAPL package energy counter (/sys/class/powercap), each where the kernel exposes it.
#pragma once

#include "dsbench/backend.hpp"

namespace dsbench::cpu {

Status read_cpu_telemetry(Telemetry* out);

}  // namespace dsbench::cpu
