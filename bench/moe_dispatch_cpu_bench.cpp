// Google Benchmark of the OpenMP MoE dispatch and combine (kernels/cpu/moe_dispatch_cpu.cpp, one rank)
// against a STREAM-style copy measured in the same binary (b[i] = a[i] over 2 x 256 MiB, counted as
// read + write, STREAM's convention; the best of plain and non-temporal stores, as `dsbench calibrate`). Each case reports GB/s twice: `deepep_GB/s` by DeepEP's accounting
// (dispatch 7168 + 224 FP8 or 14336 BF16 bytes per (token, expert) pair; combine 14336), and
// `moved_GB/s` by the bytes the kernel reads and writes at least once (dispatch: x once per token plus
// every row written; combine: every row read plus out written), which is what a copy is comparable to;
// pct_copy = median moved_GB/s / copy GB/s (pct_copy_best: the fastest repetition's). Buffers are
// 64-byte aligned, as the CPU backend's. docs/ops/moe_dispatch_combine.md has the numbers.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <numeric>
#include <random>
#include <vector>

#include "dsbench/numerics/bf16.hpp"
#include "kernels/cpu/cpu_ceilings.hpp"
#include "kernels/cpu/moe_dispatch_cpu.hpp"
#include "reference/moe_dispatch_reference.hpp"

namespace {

// Buffers on 64-byte lines, as the CPU backend allocates them (kernels/cpu/cpu_backend.cpp): the
// kernels stream whole lines only to aligned outputs, and std::vector's are not.
template <class T>
struct Aligned64 {
  using value_type = T;
  Aligned64() = default;
  template <class U>
  Aligned64(const Aligned64<U>&) {}
  T* allocate(size_t n) {
    void* p = std::aligned_alloc(64, (n * sizeof(T) + 63) / 64 * 64);
    if (p == nullptr) throw std::bad_alloc();
    return static_cast<T*>(p);
  }
  void deallocate(T* p, size_t) { std::free(p); }
  template <class U>
  bool operator==(const Aligned64<U>&) const { return true; }
  template <class U>
  bool operator!=(const Aligned64<U>&) const { return false; }
};
template <class T>
using Buffer = std::vector<T, Aligned64<T>>;

// The copy ceiling dsbench calibrates (kernels/cpu/cpu_ceilings.cpp): 256 MiB arrays, the best of
// plain and non-temporal stores.
double measure_copy_gbps(int reps) {
  bool non_temporal = false;
  return dsbench::cpu::measure_copy_gbps(int64_t{64} << 20, reps, &non_temporal);
}

void BM_StreamCopy(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(measure_copy_gbps(1));
  state.counters["GB/s"] = measure_copy_gbps(5);
}

// DeepSeek-V3 sizes on one rank: 256 experts, top-8, hidden 7168, experts drawn uniformly per token.
struct Moe {
  int32_t T, H = 7168, E = 256, K = 8;
  Buffer<uint16_t> x, recv;
  Buffer<float> weights;
  Buffer<int32_t> idx, src, m, count, ntr, nte, itr;
  Buffer<uint8_t> scales, ws, cws;
  Buffer<uint16_t> out;
  int64_t rows = 0, capacity = 0;
  dsb_moe_dispatch_params d{};
  dsb_moe_combine_params c{};

  Moe(int32_t tokens, dsb_dtype recv_dtype, dsb_moe_layout layout) : T(tokens) {
    std::mt19937 rng(1);
    x.resize(static_cast<size_t>(T) * H);
    for (auto& v : x) v = dsbench::bf16_from_f32(std::uniform_real_distribution<float>(-1.f, 1.f)(rng));
    idx.resize(static_cast<size_t>(T) * K);
    weights.assign(idx.size(), 0.125f);
    std::vector<int32_t> experts(E), held(E, 0);
    std::iota(experts.begin(), experts.end(), 0);
    for (int32_t t = 0; t < T; ++t) {
      std::shuffle(experts.begin(), experts.end(), rng);
      for (int32_t j = 0; j < K; ++j) ++held[experts[j]], idx[static_cast<size_t>(t) * K + j] = experts[j];
    }
    if (layout == DSB_MOE_LAYOUT_CONTIGUOUS) {
      for (int32_t h : held) capacity += dsbench::ref::moe_align(h);
    } else {
      capacity = *std::max_element(held.begin(), held.end());
    }
    const int64_t R = layout == DSB_MOE_LAYOUT_CONTIGUOUS ? capacity : capacity * E;
    recv.assign(static_cast<size_t>(R) * H, 0);  // BF16 size: large enough for FP8 too
    scales.assign(static_cast<size_t>(R) * (H / 128) * 4, 0);
    src.assign(static_cast<size_t>(R) * 3, 0);
    m.assign(static_cast<size_t>(R), 0);
    count.assign(E, 0);
    ntr.assign(1, 0);
    nte.assign(E, 0);
    itr.assign(static_cast<size_t>(T), 0);
    out.assign(x.size(), 0);
    d.num_tokens = T;
    d.hidden = H;
    d.num_experts = E;
    d.topk = K;
    d.world_size = 1;
    d.layout = layout;
    d.recv_dtype = recv_dtype;
    d.scale_dtype = DSB_DTYPE_F32;
    d.recv_capacity = capacity;
    d.x = x.data();
    d.topk_idx = idx.data();
    d.recv_x = recv.data();
    d.recv_scale = scales.data();
    d.recv_src = src.data();
    d.recv_m_indices = m.data();
    d.recv_count = count.data();
    d.num_recv_rows = &rows;
    d.num_tokens_per_rank = ntr.data();
    d.num_tokens_per_expert = nte.data();
    d.is_token_in_rank = itr.data();
    ws.resize(dsbench::cpu::moe_dispatch_optimized_workspace(d));
    dsbench::cpu::moe_dispatch_optimized(d, ws.data());  // the layout combine reads (BF16 runs only)
    c.num_tokens = T;
    c.hidden = H;
    c.num_experts = E;
    c.topk = K;
    c.world_size = 1;
    c.layout = layout;
    c.recv_capacity = capacity;
    c.expert_out = recv.data();
    c.recv_src = src.data();
    c.recv_count = count.data();
    c.topk_weights = weights.data();
    c.out = out.data();
    cws.resize(dsbench::cpu::moe_combine_optimized_workspace(c));
  }
  double pairs() const { return static_cast<double>(T) * K; }
};

// Args: tokens, op (0 dispatch, 1 combine), fp8, masked.
void BM_MoeCpu(benchmark::State& state) {
  const bool combine = state.range(1) != 0, fp8 = state.range(2) != 0;
  Moe moe(static_cast<int32_t>(state.range(0)), fp8 && !combine ? DSB_DTYPE_E4M3FN : DSB_DTYPE_BF16,
          state.range(3) ? DSB_MOE_LAYOUT_MASKED : DSB_MOE_LAYOUT_CONTIGUOUS);
  const double pair_bytes = combine ? 2.0 * moe.H : fp8 ? moe.H + moe.H / 128 * 4.0 : 2.0 * moe.H;
  const double deepep = moe.pairs() * pair_bytes;
  const double moved = deepep + 2.0 * moe.T * moe.H;  // plus x read once (dispatch) or out written (combine)
  const double copy_gbps = measure_copy_gbps(5);
  std::vector<double> times;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    const dsb_status st = combine ? dsbench::cpu::moe_combine_optimized(moe.c, moe.cws.data())
                                  : dsbench::cpu::moe_dispatch_optimized(moe.d, moe.ws.data());
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (st != DSB_STATUS_OK) state.SkipWithError("kernel failed");
    state.SetIterationTime(s);
    times.push_back(s);
  }
  if (times.empty()) return;
  std::sort(times.begin(), times.end());
  const double median = times[times.size() / 2], best = times.front();
  state.counters["median_ms"] = median * 1e3;
  state.counters["deepep_GB/s"] = deepep / median * 1e-9;
  state.counters["moved_GB/s"] = moved / median * 1e-9;
  state.counters["best_moved_GB/s"] = moved / best * 1e-9;
  state.counters["copy_GB/s"] = copy_gbps;
  state.counters["pct_copy"] = 100.0 * moved / median * 1e-9 / copy_gbps;
  state.counters["pct_copy_best"] = 100.0 * moved / best * 1e-9 / copy_gbps;
}

void moe_shapes(benchmark::internal::Benchmark* bm) {
  bm->ArgNames({"T", "combine", "fp8", "masked"});
  for (int64_t t : {128, 4096}) {
    const int64_t masked = t == 128 ? 1 : 0;  // decode: masked layout; prefill: contiguous
    bm->Args({t, 0, 1, masked});
    bm->Args({t, 0, 0, masked});
    bm->Args({t, 1, 0, masked});
  }
}

BENCHMARK(BM_StreamCopy)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);
BENCHMARK(BM_MoeCpu)->Apply(moe_shapes)->Unit(benchmark::kMillisecond)->UseManualTime()->MinTime(1.0);

}  // namespace

BENCHMARK_MAIN();
