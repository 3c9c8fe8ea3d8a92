// The FP8 GEMM accumulation probe (docs/ops/gemm_fp8_blockscaled.md#accumulation-probe): dense
// inputs built so that a kernel which accumulates across K in fewer bits than FP32 loses the small
// K-blocks of some rows, and a kernel that promotes each 128-deep partial sum to FP32 keeps them.
// Row r probes p_r = 8 + (r mod 15) bits; from which rows survive, the probe infers the kernel's
// effective accumulation precision, in bits of an accumulator that adds one product at a time
// (one that adds 32-product MMA steps keeps about 5 bits more than it shows here).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "dsbench/dtype.h"
#include "harness/rng.hpp"

namespace dsbench {

constexpr int kProbeMinBits = 8;
constexpr int kProbeMaxBits = 22;  // an FP32 accumulator still resolves these rows within BF16's rounding

// Bits row r probes.
inline int probe_bits(int64_t row) { return kProbeMinBits + static_cast<int>(row % (kProbeMaxBits - kProbeMinBits + 1)); }

// Fills (streams "a" and "b" of the seed) a [m, k] (with scales [m, k/128]) and b [n, k] (scales [ceil(n/128), k/128]) of a dense
// case, k/128 >= 4. In row r, K-block 0 holds products of about 2^p_r times those of the middle
// Block 0 of row r is one large product (the code 224) among 127 of the smallest subnormal, with
// a scale that puts it about 2^p_r above each product of the middle blocks (codes in [1, 2)); the
// last K-block cancels block 0 exactly, so d[r, :] is the sum of the middle blocks. An accumulator
// whose rounding unit exceeds 2^-p_r of the running sum drops them; one that sums each 128-deep
// block in FP32 and promotes it keeps them.
void generate_accumulation_probe(uint64_t seed, int64_t m, int64_t n, int64_t k, dsb_dtype ab, dsb_dtype scale,
                                 uint8_t* a, void* scale_a, uint8_t* b, void* scale_b);

// From a fully checked probe output: per row, whether every element is within 2^-4 of the
// reference (the middle blocks were kept), and the inferred bits (the largest p such that every
// row probing <= p bits kept them; kProbeMinBits - 1 when even 8 bits failed).
std::map<std::string, double> accumulation_probe_findings(int64_t m, int64_t n, const double* expected,
                                                          const double* actual);

}  // namespace dsbench
