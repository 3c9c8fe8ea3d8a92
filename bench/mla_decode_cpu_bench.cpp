// Google Benchmark of the optimised CPU MLA decode (kernels/cpu/mla_decode_cpu.cpp) against
// ceilings measured in the same binary: a STREAM-style copy (b[i] = a[i] over 2 x 256 MiB, counted
// as 2 x 4 bytes per element, STREAM's convention) and a read-only sum. Each MLA shape reports GB/s
// by the op's byte formula (docs/ops/mla_decode.md), TFLOPS by 2 s_q h_q seqlen (d_qk + d_v), and
// pct_copy: its best GB/s as a percentage of the copy bandwidth measured just before it.
// docs/perf_cpu_mla.md has the numbers.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "dsbench/numerics/bf16.hpp"
#include "kernels/cpu/mla_decode_cpu.hpp"
#include "kernels/cpu/mla_decode_cpu_microkernel.hpp"
#include "reference/mla_kv_fp8.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace {

constexpr size_t kStreamFloats = size_t{64} << 20;  // 256 MiB per array: 8x a 32 MiB last-level cache

struct Stream {
  float* a = nullptr;
  float* b = nullptr;
  Stream() {
    a = static_cast<float*>(std::aligned_alloc(64, kStreamFloats * 4));
    b = static_cast<float*>(std::aligned_alloc(64, kStreamFloats * 4));
    const int64_t n = static_cast<int64_t>(kStreamFloats);
#pragma omp parallel for schedule(static)  // first touch by the threads that later use the pages
    for (int64_t i = 0; i < n; ++i) { a[i] = 1.0f; b[i] = 0.0f; }
  }
  ~Stream() { std::free(a); std::free(b); }
  void copy() const {
    const int64_t n = static_cast<int64_t>(kStreamFloats);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) b[i] = a[i];
  }
  float sum() const {
    const int64_t n = static_cast<int64_t>(kStreamFloats);
    float s = 0.0f;
#pragma omp parallel for schedule(static) reduction(+ : s)
    for (int64_t i = 0; i < n; i += 16) {
      float part = 0.0f;  // 16 independent lanes per step: a vectorised read, not an add chain
      for (int k = 0; k < 16; ++k) part += a[i + k];
      s += part;
    }
    return s;
  }
};

Stream& stream() {
  static Stream s;
  return s;
}

double g_copy_gbps = 0.0;  // best of several copies, measured before the benchmarks run

// The copy bandwidth: the best of `reps` copies. Best-of, like the MLA figures it is compared with,
// so that other work on a shared machine lowers neither side.
double measure_copy_gbps(int reps = 10) {
  Stream& s = stream();
  double best = 0.0;
  for (int rep = 0; rep < reps; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    s.copy();
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * 4.0 * kStreamFloats / sec / 1e9);
  }
  return best;
}

void BM_StreamCopy(benchmark::State& state) {
  Stream& s = stream();
  for (auto _ : state) {
    s.copy();
    benchmark::ClobberMemory();
  }
  state.counters["GB/s"] = benchmark::Counter(2.0 * 4.0 * kStreamFloats, benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
}

void BM_StreamRead(benchmark::State& state) {
  Stream& s = stream();
  for (auto _ : state) benchmark::DoNotOptimize(s.sum());
  state.counters["GB/s"] = benchmark::Counter(4.0 * kStreamFloats, benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
}

// One MLA decode problem as the suites build it (random q and cache, pages in random physical
// order, NaN past every length), DeepSeek-V3 dims.
struct Mla {
  std::vector<uint16_t> q, out;
  std::vector<uint8_t> cache;
  std::vector<int32_t> table, seqlens;
  std::vector<float> lse, workspace;
  dsb_mla_decode_params p{};
  double bytes = 0, flops = 0;

  Mla(int32_t b, int32_t s_q, int32_t h_q, int32_t s_k, bool fp8, bool varlen) {
    std::mt19937 gen(1);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::normal_distribution<double> len(s_k, s_k / 2.0);
    for (int32_t i = 0; i < b; ++i) seqlens.push_back(varlen ? std::max<int32_t>(s_q, static_cast<int32_t>(len(gen))) : s_k);
    int32_t max_pages = 0, pages = 0;
    for (int32_t l : seqlens) {
      max_pages = std::max(max_pages, (l + 63) / 64);
      pages += (l + 63) / 64;
    }
    const int64_t tb = fp8 ? DSB_MLA_FP8_TOKEN_BYTES : 1152;
    cache.assign(static_cast<size_t>(pages) * 64 * tb, 0xff);
    std::vector<int32_t> perm(pages);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), gen);
    table.assign(static_cast<size_t>(b) * max_pages, INT32_MAX);
    std::vector<uint16_t> tok(576);
    int32_t k = 0;
    for (int32_t i = 0; i < b; ++i)
      for (int32_t j = 0; j < seqlens[i]; ++j) {
        if (j % 64 == 0) table[static_cast<size_t>(i) * max_pages + j / 64] = perm[k++];
        for (uint16_t& x : tok) x = dsbench::bf16_from_f32(u(gen));
        uint8_t* dst = cache.data() + (static_cast<int64_t>(table[static_cast<size_t>(i) * max_pages + j / 64]) * 64 + j % 64) * tb;
        if (fp8) dsbench::ref::mla_fp8_quantize_token(tok.data(), dst);
        else std::memcpy(dst, tok.data(), 1152);
      }
    const size_t rows = static_cast<size_t>(b) * s_q * h_q;
    q.resize(rows * 576);
    for (uint16_t& x : q) x = dsbench::bf16_from_f32(u(gen));
    out.resize(rows * 512);
    lse.resize(rows);
    p.b = b; p.s_q = s_q; p.h_q = h_q; p.h_kv = 1; p.d_qk = 576; p.d_v = 512; p.page_block_size = 64;
    p.num_blocks = pages; p.max_blocks_per_seq = max_pages; p.softmax_scale = 0.13523378f; p.causal = 1;
    p.kv_dtype = fp8 ? DSB_DTYPE_E4M3FN : DSB_DTYPE_BF16;
    p.q = q.data(); p.kv_cache = cache.data(); p.block_table = table.data(); p.cache_seqlens = seqlens.data();
    p.out = out.data(); p.lse = lse.data();
    workspace.resize((dsbench::cpu::mla_decode_optimized_workspace(p) + 3) / 4);
    const double tokens = std::accumulate(seqlens.begin(), seqlens.end(), 0.0);
    bytes = tokens * tb + rows * (1152.0 + 1024.0 + 4.0) + 4.0 * (pages + b);  // MlaDecodeProblem::bytes()
    flops = 2.0 * tokens * s_q * h_q * (576 + 512);
  }
};

// Args: b, s_q, h_q, s_k, fp8, varlen. Wall time per call (manual time: the kernel runs on all
// OpenMP threads). GB/s and TFLOPS are over the mean time; best_GB/s over the fastest call, and
// pct_copy = best_GB/s / copy_GB/s with the copy bandwidth measured (best of 5) right before.
void BM_MlaDecodeCpu(benchmark::State& state) {
  const Mla m(static_cast<int32_t>(state.range(0)), static_cast<int32_t>(state.range(1)),
              static_cast<int32_t>(state.range(2)), static_cast<int32_t>(state.range(3)), state.range(4) != 0,
              state.range(5) != 0);
  void* ws = m.workspace.empty() ? nullptr : const_cast<float*>(m.workspace.data());
  const double copy_gbps = measure_copy_gbps(5);
  double seconds = 0.0, best = 1e30;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    const dsbench::Status st = dsbench::cpu::mla_decode_optimized_run(m.p, ws);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!st.ok()) state.SkipWithError(st.message.c_str());
    state.SetIterationTime(s);
    seconds += s;
    best = std::min(best, s);
  }
  const double per_call = seconds / static_cast<double>(std::max<benchmark::IterationCount>(1, state.iterations()));
  state.counters["GB/s"] = m.bytes / per_call * 1e-9;
  state.counters["TFLOPS"] = m.flops / per_call * 1e-12;
  state.counters["best_GB/s"] = m.bytes / best * 1e-9;
  state.counters["copy_GB/s"] = copy_gbps;
  state.counters["pct_copy"] = 100.0 * m.bytes / best * 1e-9 / copy_gbps;
  state.SetLabel(std::string(dsbench::cpu::mla_detail::mla_kernels().name) + (state.range(4) ? " fp8" : " bf16") +
                 " h_q*s_q=" + std::to_string(state.range(1) * state.range(2)));
}

void mla_shapes(benchmark::internal::Benchmark* bm) {
  bm->ArgNames({"b", "s_q", "h_q", "s_k", "fp8", "varlen"});
  for (int fp8 : {0, 1}) {
    // Memory-bound on this class of machine: h_q * s_q small.
    for (int h_q : {1, 2, 4, 8, 16}) bm->Args({64, 1, h_q, 4096, fp8, 0});
    bm->Args({64, 2, 8, 4096, fp8, 0});
    bm->Args({1, 1, 16, 65536, fp8, 0});  // one long sequence: split-KV
    bm->Args({64, 1, 16, 4096, fp8, 1});  // varlen
    // Compute-bound DeepSeek-V3 decode shapes (TP 2 and 1, MTP).
    bm->Args({64, 1, 64, 4096, fp8, 0});
    bm->Args({64, 2, 128, 4096, fp8, 0});
  }
}

BENCHMARK(BM_StreamCopy)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_StreamRead)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_MlaDecodeCpu)->Apply(mla_shapes)->Unit(benchmark::kMillisecond)->UseManualTime()->MinTime(1.0);

}  // namespace

int main(int argc, char** argv) {
  g_copy_gbps = measure_copy_gbps();
  benchmark::AddCustomContext("copy_GBps", std::to_string(g_copy_gbps));
#if defined(_OPENMP)
  benchmark::AddCustomContext("omp_threads", std::to_string(omp_get_max_threads()));
#endif
  benchmark::AddCustomContext("mla_vector_set", dsbench::cpu::mla_detail::mla_kernels().name);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
