#include "harness/ops/gemm_fp8_probe.hpp"

#include <cmath>
#include <vector>

#include "dsbench/numerics/fp8.hpp"

namespace dsbench {
namespace {

constexpr int kMiddleExponent = -8;  // middle blocks' scale 2^-8 keeps d near 30 for k = 4096
// 224 is exact in all four FP8 variants; 224 * 2^(p - 15) over a middle product 1.44 * 2^-8 (the
// mean of two codes in [1, 1.875]) is about 1.2 * 2^p.
constexpr float kBig = 224.0f;
constexpr int kBigExponent = -15;

void store_scale(void* scales, int64_t i, dsb_dtype t, int exponent) {
  if (t == DSB_DTYPE_UE8M0)
    static_cast<uint8_t*>(scales)[i] = static_cast<uint8_t>(127 + exponent);
  else
    static_cast<float*>(scales)[i] = std::ldexp(1.0f, exponent);
}

// A random code of magnitude in [1, 2): positive products, so a block's sum does not cancel.
uint8_t code_in_one_two(const CounterRng& rng, uint64_t counter, dsb_dtype ab) {
  return fp8_encode(rng.uniform(counter, 1.0f, 1.875f), ab);
}

}  // namespace

void generate_accumulation_probe(uint64_t seed, int64_t m, int64_t n, int64_t k, dsb_dtype ab, dsb_dtype scale,
                                 uint8_t* a, void* scale_a, uint8_t* b, void* scale_b) {
  const int64_t kb = k / 128, nb = (n + 127) / 128, last = kb - 1;
  const CounterRng ra(seed, hash_name("a")), rb(seed, hash_name("b"));
  for (int64_t r = 0; r < m; ++r) {
    uint8_t* row = a + r * k;
    // Block 0: one large product at a random position, the rest the smallest subnormal (not zero).
    const int64_t big = ra.integer(static_cast<uint64_t>(-1 - r), 0, 127);
    for (int64_t i = 0; i < 128; ++i) row[i] = fp8_encode(i == big ? kBig : std::ldexp(1.0f, -9), ab);
    for (int64_t i = 128; i < last * 128; ++i) row[i] = code_in_one_two(ra, static_cast<uint64_t>(r * k + i), ab);
    for (int64_t i = 0; i < 128; ++i) row[last * 128 + i] = fp8_encode(-fp8_decode(row[i], ab), ab);  // exact negation
    const int p = probe_bits(r);
    for (int64_t j = 0; j < kb; ++j)
      store_scale(scale_a, r * kb + j, scale, (j == 0 || j == last) ? kBigExponent + p : kMiddleExponent);
  }
  for (int64_t c = 0; c < n; ++c) {
    uint8_t* row = b + c * k;
    for (int64_t i = 0; i < last * 128; ++i) row[i] = code_in_one_two(rb, static_cast<uint64_t>(c * k + i), ab);
    for (int64_t i = 0; i < 128; ++i) row[last * 128 + i] = row[i];  // the last block meets block 0's values
  }
  for (int64_t i = 0; i < nb * kb; ++i) store_scale(scale_b, i, scale, 0);
}

std::map<std::string, double> accumulation_probe_findings(int64_t m, int64_t n, const double* expected,
                                                          const double* actual) {
  std::vector<int> kept_at(kProbeMaxBits + 1, 1);  // every row probing these bits kept its blocks
  int rows_kept = 0;
  for (int64_t r = 0; r < m; ++r) {
    bool kept = true;
    for (int64_t c = 0; c < n && kept; ++c) {
      const double e = expected[r * n + c], x = actual[r * n + c];
      kept = std::isfinite(x) && std::fabs(x - e) <= std::ldexp(std::fabs(e), -4);
    }
    rows_kept += kept;
    if (!kept) kept_at[probe_bits(r)] = 0;
  }
  int bits = kProbeMinBits - 1;
  while (bits < kProbeMaxBits && kept_at[bits + 1]) ++bits;
  return {{"effective_accumulation_bits", bits},
          {"probe_ceiling_bits", kProbeMaxBits},
          {"probe_rows_kept", rows_kept}};
}

}  // namespace dsbench
