// Google Benchmark of the optimised CPU FP8 block-scaled GEMM on DeepSeek-V3 shapes, next to an
// OpenBLAS SGEMM on the same M, N, K in FP32 as the anchor (the same FMA work, minus our per-block
// dequantisation). Reports GFLOP/s (2MNK per iteration) as a rate counter. docs/perf_cpu.md has
// the numbers and the command lines.
#include <benchmark/benchmark.h>

// The build defines DSB_HAVE_OPENBLAS=1 when it links OpenBLAS; a plain compile assumes it does.
#ifndef DSB_HAVE_OPENBLAS
#define DSB_HAVE_OPENBLAS 1
#endif
#if DSB_HAVE_OPENBLAS
#include <cblas.h>
#endif

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "dsbench/numerics/fp8.hpp"
#include "dsbench/ops.h"
#include "kernels/cpu/gemm_fp8_cpu.hpp"
#include "kernels/cpu/gemm_fp8_cpu_microkernel.hpp"

namespace {

using dsbench::cpu::gemm_fp8_blockscaled_optimized;
using dsbench::cpu::gemm_fp8_grouped_contiguous_optimized;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Realistic codes cheaply: a pool of uniform [-1, 1) values quantised to E4M3 at full range (as the
// DeepSeek recipe leaves them: few subnormals, no NaN), copied row by row from random offsets.
std::vector<uint8_t> random_codes(int64_t count, uint32_t seed) {
  static const std::vector<uint8_t> pool = [] {
    std::mt19937 gen(7);
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    std::vector<uint8_t> p(1 << 20);
    for (uint8_t& c : p) c = dsbench::fp8_encode(dist(gen) * 448.0f, DSB_DTYPE_E4M3FN);
    return p;
  }();
  std::mt19937 gen(seed);
  std::vector<uint8_t> out(count);
  for (int64_t i = 0; i < count; i += 4096) {
    const int64_t len = std::min<int64_t>(4096, count - i);
    const size_t off = gen() % (pool.size() - 4096);
    std::copy(pool.begin() + off, pool.begin() + off + len, out.begin() + i);
  }
  return out;
}

std::vector<float> random_scales(int64_t count, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(0.5f / 448, 1.0f / 448);
  std::vector<float> s(count);
  for (float& v : s) v = dist(gen);
  return s;
}

[[maybe_unused]] std::vector<float> random_floats(int64_t count, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> x(count);
  for (float& v : x) v = dist(gen);
  return x;
}

void set_counters(benchmark::State& state, double flops) {
  state.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// Args: M, N, K.
void BM_Fp8GemmOptimized(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const std::vector<uint8_t> a = random_codes(m * k, 1), b = random_codes(n * k, 2);
  const std::vector<float> sa = random_scales(m * (k / 128), 3), sb = random_scales(ceil_div(n, 128) * (k / 128), 4);
  std::vector<uint16_t> d(m * n);
  const dsb_gemm_fp8_blockscaled_params p{m, n, k, DSB_DTYPE_E4M3FN, DSB_DTYPE_F32, a.data(), sa.data(),
                                          b.data(), sb.data(), d.data()};
  for (auto _ : state) {
    if (gemm_fp8_blockscaled_optimized(p) != DSB_STATUS_OK) state.SkipWithError("kernel failed");
    benchmark::DoNotOptimize(d.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, 2.0 * m * n * k);
}

#if DSB_HAVE_OPENBLAS
// The anchor: D = A * B^T in FP32 with the same operand layout (both K-major).
void BM_OpenblasSgemm(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const std::vector<float> a = random_floats(m * k, 5), b = random_floats(n * k, 6);
  std::vector<float> c(m * n);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a.data(), k, b.data(), k, 0.0f,
                c.data(), n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, 2.0 * m * n * k);
}
#endif

// MoE prefill: 8 experts with uneven row counts (~256 each), each padded to 128 with -1 rows.
constexpr int kGroups = 8;
const int64_t kGroupRows[kGroups] = {200, 310, 256, 130, 290, 240, 330, 292};

std::vector<int32_t> contiguous_indices() {
  std::vector<int32_t> idx;
  for (int g = 0; g < kGroups; ++g) {
    idx.insert(idx.end(), kGroupRows[g], g);
    idx.insert(idx.end(), ceil_div(kGroupRows[g], 128) * 128 - kGroupRows[g], -1);
  }
  return idx;
}

double grouped_flops(int64_t n, int64_t k) {
  int64_t rows = 0;
  for (int64_t r : kGroupRows) rows += r;
  return 2.0 * rows * n * k;
}

// Args: N, K.
void BM_Fp8GroupedContiguousOptimized(benchmark::State& state) {
  const int64_t n = state.range(0), k = state.range(1);
  const std::vector<int32_t> idx = contiguous_indices();
  const int64_t m = static_cast<int64_t>(idx.size());
  const std::vector<uint8_t> a = random_codes(m * k, 1), b = random_codes(kGroups * n * k, 2);
  const std::vector<float> sa = random_scales(m * (k / 128), 3);
  const std::vector<float> sb = random_scales(kGroups * ceil_div(n, 128) * (k / 128), 4);
  std::vector<uint16_t> d(m * n);
  const dsb_gemm_fp8_grouped_contiguous_params p{m, n, k, kGroups, DSB_DTYPE_E4M3FN, DSB_DTYPE_F32, a.data(),
                                                 sa.data(), b.data(), sb.data(), idx.data(), d.data()};
  for (auto _ : state) {
    if (gemm_fp8_grouped_contiguous_optimized(p) != DSB_STATUS_OK) state.SkipWithError("kernel failed");
    benchmark::DoNotOptimize(d.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, grouped_flops(n, k));
}

#if DSB_HAVE_OPENBLAS
// The anchor for the grouped case: one SGEMM per expert on its valid rows.
void BM_OpenblasSgemmGrouped(benchmark::State& state) {
  const int64_t n = state.range(0), k = state.range(1);
  int64_t rows = 0;
  for (int64_t r : kGroupRows) rows += r;
  const std::vector<float> a = random_floats(rows * k, 5), b = random_floats(kGroups * n * k, 6);
  std::vector<float> c(rows * n);
  for (auto _ : state) {
    int64_t r0 = 0;
    for (int g = 0; g < kGroups; ++g) {
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, kGroupRows[g], n, k, 1.0f, a.data() + r0 * k, k,
                  b.data() + g * n * k, k, 0.0f, c.data() + r0 * n, n);
      r0 += kGroupRows[g];
    }
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_counters(state, grouped_flops(n, k));
}
#endif

// DeepSeek-V3 (N, K) pairs x M, registered so that our kernel and OpenBLAS run back to back on each
// shape (same thermal and load conditions). On 2 Zen 4 cores the largest, M = 4096 with
// (7168, 16384), takes ~5 s per iteration (~1 TFLOP).
void register_benchmarks() {
  const int64_t nk[][2] = {{2112, 7168}, {24576, 1536}, {7168, 2048}, {4096, 7168}, {7168, 16384}};
  for (const auto& s : nk)
    for (int64_t m : {1, 64, 128, 4096}) {
      benchmark::RegisterBenchmark("fp8_optimized", BM_Fp8GemmOptimized)->Args({m, s[0], s[1]})
          ->ArgNames({"M", "N", "K"})->Unit(benchmark::kMillisecond)->UseRealTime();
#if DSB_HAVE_OPENBLAS
      benchmark::RegisterBenchmark("openblas_sgemm", BM_OpenblasSgemm)->Args({m, s[0], s[1]})
          ->ArgNames({"M", "N", "K"})->Unit(benchmark::kMillisecond)->UseRealTime();
#endif
    }
  benchmark::RegisterBenchmark("fp8_grouped_contiguous_optimized", BM_Fp8GroupedContiguousOptimized)
      ->Args({4096, 7168})->ArgNames({"N", "K"})->Unit(benchmark::kMillisecond)->UseRealTime();
#if DSB_HAVE_OPENBLAS
  benchmark::RegisterBenchmark("openblas_sgemm_grouped", BM_OpenblasSgemmGrouped)
      ->Args({4096, 7168})->ArgNames({"N", "K"})->Unit(benchmark::kMillisecond)->UseRealTime();
#endif
}

}  // namespace

int main(int argc, char** argv) {
  register_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("fp8_kernel", dsbench::cpu::gemm_detail::gemm_kernels().name);
#if DSB_HAVE_OPENBLAS
  benchmark::AddCustomContext("openblas_core", openblas_get_corename());
  benchmark::AddCustomContext("openblas_threads", std::to_string(openblas_get_num_threads()));
#endif
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
