// The CPU's measured ceilings (docs/ceilings.md): a STREAM-style copy over all OpenMP threads and,
// where OpenBLAS is linked, its SGEMM. Both are best-of-N, as the CPU benchmarks in bench/ compare.
#pragma once

#include <cstdint>

#include "dsbench/backend.hpp"

namespace dsbench::cpu {

// llc_bytes sizes the copy beyond the last-level cache (4x, at least 64 MiB per array).
Status measure_cpu_ceilings(int64_t llc_bytes, Ceilings* out);

// The copy ceiling alone, GB/s counting read + write bytes: the best of `reps` plain-store and
// `reps` non-temporal-store copies (non_temporal says which won); 0 when the arrays cannot be had.
double measure_copy_gbps(int64_t llc_bytes, int reps, bool* non_temporal);

}  // namespace dsbench::cpu
