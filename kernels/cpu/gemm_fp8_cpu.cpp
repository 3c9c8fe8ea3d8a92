// Driver of the optimised CPU FP8 GEMMs. Every variant becomes a list of dense sub-GEMMs (the whole
// problem; each run of rows sharing an m_index; each group's masked_m rows), which are cut into
// (rows x columns) tiles run by OpenMP threads. A tile owns its packing buffers and an FP32
// accumulator, walks K in steps of kKc: dequantise the A rows and each 16-column B strip once per
// step (scales folded in), then the register-blocked micro-kernel; the last step rounds to BF16.
#include "kernels/cpu/gemm_fp8_cpu.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "kernels/cpu/gemm_fp8_cpu_microkernel.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace dsbench::cpu {
namespace {

using namespace gemm_detail;

// Tile limits, sized for a 1-2 MiB L2 per core: packed A 192 x 272 x 4 = 204 KiB, FP32 accumulator
// 192 x 256 x 4 = 192 KiB, one packed B strip 16 KiB (stays in L1 while the A panels stream past).
constexpr int64_t kMcMax = 32 * kMr;
constexpr int64_t kNcMax = 256;
constexpr int64_t kAResidentFloats = 128 * 1024;  // up to 512 KiB of packed A for all of K
constexpr int64_t kNcMin = 32;  // below this, re-dequantising A per tile outweighs better balance
constexpr int64_t kTilesPerThread = 6;  // enough tiles for dynamic scheduling to balance

struct SubGemm {
  const uint8_t* a;  // [m, k] codes
  const uint8_t* sa; // [m, k/128] scales (bytes; element size from scale_dtype)
  const uint8_t* b;  // [n, k] codes
  const uint8_t* sb; // [ceil(n/128), k/128] scales
  uint16_t* d;       // [m, n] BF16, row stride n
  int64_t m;
};

struct Problem {
  int64_t n, k;
  dsb_dtype ab_dtype, scale_dtype;
  std::vector<SubGemm> subs;
};

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t scale_bytes(dsb_dtype t) { return t == DSB_DTYPE_UE8M0 ? 1 : 4; }

bool valid_dtypes(dsb_dtype ab, dsb_dtype sc) {
  return dsb_dtype_is_fp8(ab) && (sc == DSB_DTYPE_F32 || sc == DSB_DTYPE_UE8M0);
}

// Sizes, dtypes and pointers shared by all variants; a pointer may be null only when its tensor is
// empty.
bool valid_common(int64_t m, int64_t n, int64_t k, dsb_dtype ab, dsb_dtype sc, const void* a,
                  const void* sa, const void* b, const void* sb, const void* d) {
  if (m < 0 || n < 0 || k < 0 || k % DSB_FP8_BLOCK != 0 || !valid_dtypes(ab, sc)) return false;
  if (m > 0 && k > 0 && (!a || !sa)) return false;
  if (n > 0 && k > 0 && (!b || !sb)) return false;
  return !(m > 0 && n > 0 && !d);
}

// Per-thread buffers, allocated on first use and kept: OpenMP reuses its threads, so steady-state
// calls allocate nothing.
struct Workspace {
  float* ap = nullptr;  // [kMcMax, kAStride], or all K steps of a short tile: kAResidentFloats
  float* bp = nullptr;  // [kKc, kNr]
  float* c = nullptr;   // [kMcMax, kNcMax]
  ~Workspace() { std::free(ap), std::free(bp), std::free(c); }
  bool ensure() {
    if (c) return true;
    ap = static_cast<float*>(
        std::aligned_alloc(64, std::max(kMcMax * kAStride, kAResidentFloats) * sizeof(float)));
    bp = static_cast<float*>(std::aligned_alloc(64, kKc * kNr * sizeof(float)));
    c = static_cast<float*>(std::aligned_alloc(64, kMcMax * kNcMax * sizeof(float)));
    if (ap && bp && c) return true;
    std::free(ap), std::free(bp), std::free(c);
    ap = bp = c = nullptr;
    return false;
  }
};
thread_local Workspace tls_workspace;

// One tile: rows [m0, m0+mc) x columns [n0, n0+nc) of a sub-GEMM, over all of K.
void run_tile(const Problem& p, const SubGemm& g, int64_t m0, int64_t mc, int64_t n0, int64_t nc,
              const GemmKernels& kern, Workspace& ws) {
  const int64_t kblocks = p.k / DSB_FP8_BLOCK, sbytes = scale_bytes(p.scale_dtype);
  const int64_t ldc = ceil_div(nc, kNr) * kNr, steps = ceil_div(p.k, kKc);
  const uint8_t* a = g.a + m0 * p.k;
  const uint8_t* sa = g.sa + m0 * kblocks * sbytes;
  const auto kc_of = [&](int64_t s) { return static_cast<int>(std::min<int64_t>(kKc, p.k - s * kKc)); };
  const auto flags_of = [&](int64_t s) { return (s == 0 ? kFirst : 0) | (s == steps - 1 ? kLast : 0); };
  const auto pack_a = [&](int64_t s, float* ap) {
    kern.pack_a(a + s * kKc, p.k, sa + s * (kKc / DSB_FP8_BLOCK) * sbytes, kblocks, p.ab_dtype, p.scale_dtype,
                static_cast<int>(mc), kc_of(s), ap);
  };
  // Strip j of B (16 columns from n0 + j: a multiple of 16, so one 128-block of B's scales) for
  // K step s, then every A panel against it.
  const auto strip = [&](int64_t j, int64_t s, const float* ap) {
    const int nv = static_cast<int>(std::min<int64_t>(kNr, nc - j));
    const int64_t col = n0 + j;
    kern.pack_b(g.b + col * p.k + s * kKc, p.k,
                g.sb + ((col / DSB_FP8_BLOCK) * kblocks + s * (kKc / DSB_FP8_BLOCK)) * sbytes, p.ab_dtype,
                p.scale_dtype, nv, kc_of(s), ws.bp);
    for (int64_t i = 0; i < mc; i += kMr) {
      const int mr = static_cast<int>(std::min<int64_t>(kMr, mc - i));
      kern.micro[mr](kc_of(s), ap + i * kAStride, ws.bp, ws.c + i * ldc + j, ldc, flags_of(s),
                     g.d + (m0 + i) * p.n + col, p.n, nv);
    }
  };
  if (mc * kAStride * steps <= kAResidentFloats) {
    // Few rows (decode shapes): dequantise them for all of K once, then walk each B strip along
    // all of K, so every B row is read in one sequential pass the hardware prefetcher can follow.
    for (int64_t s = 0; s < steps; ++s) pack_a(s, ws.ap + s * mc * kAStride);
    for (int64_t j = 0; j < nc; j += kNr)
      for (int64_t s = 0; s < steps; ++s) strip(j, s, ws.ap + s * mc * kAStride);
  } else {
    // Goto order: the A block stays in L2 for a K step while each B strip sits in L1.
    for (int64_t s = 0; s < steps; ++s) {
      pack_a(s, ws.ap);
      for (int64_t j = 0; j < nc; j += kNr) strip(j, s, ws.ap);
    }
  }
}

int max_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// Rows per tile for a sub-GEMM of m rows: as many as fit, split evenly, rounded to whole panels.
int64_t tile_rows(int64_t m) {
  const int64_t blocks = ceil_div(m, kMcMax);
  return std::min(kMcMax, ceil_div(ceil_div(m, blocks), kMr) * kMr);
}

dsb_status run(const Problem& p) {
  if (p.n == 0 || p.subs.empty()) return DSB_STATUS_OK;
  if (p.k == 0) {  // empty sum: every computed element is +0
    for (const SubGemm& g : p.subs) std::memset(g.d, 0, static_cast<size_t>(g.m * p.n) * sizeof(uint16_t));
    return DSB_STATUS_OK;
  }
  // Narrow the tiles until every thread has several: M = 1 decode shapes need the split over N.
  const int threads = max_threads();
  int64_t row_blocks = 0;
  for (const SubGemm& g : p.subs) row_blocks += ceil_div(g.m, tile_rows(g.m));
  int64_t nc = kNcMax;
  while (nc > kNcMin && row_blocks * ceil_div(p.n, nc) < kTilesPerThread * threads) nc /= 2;
  const int64_t col_blocks = ceil_div(p.n, nc);

  std::vector<int64_t> first_tile(p.subs.size() + 1, 0);  // tiles before each sub-GEMM
  for (size_t i = 0; i < p.subs.size(); ++i)
    first_tile[i + 1] = first_tile[i] + ceil_div(p.subs[i].m, tile_rows(p.subs[i].m)) * col_blocks;
  const int64_t tiles = first_tile.back();

  const GemmKernels& kern = gemm_kernels();
  std::atomic<bool> out_of_memory{false};
#pragma omp parallel for schedule(dynamic, 1) if (tiles > 1)
  for (int64_t t = 0; t < tiles; ++t) {
    Workspace& ws = tls_workspace;
    if (!ws.ensure()) {
      out_of_memory.store(true, std::memory_order_relaxed);
      continue;
    }
    const size_t s = static_cast<size_t>(std::upper_bound(first_tile.begin(), first_tile.end(), t) -
                                         first_tile.begin()) - 1;
    const SubGemm& g = p.subs[s];
    // Column blocks vary fastest, so threads working at the same time share the A rows in cache.
    const int64_t local = t - first_tile[s], rows = tile_rows(g.m);
    const int64_t m0 = (local / col_blocks) * rows, n0 = (local % col_blocks) * nc;
    run_tile(p, g, m0, std::min(rows, g.m - m0), n0, std::min(nc, p.n - n0), kern, ws);
  }
  return out_of_memory.load() ? DSB_STATUS_OUT_OF_MEMORY : DSB_STATUS_OK;
}

}  // namespace

dsb_status gemm_fp8_blockscaled_optimized(const dsb_gemm_fp8_blockscaled_params& p) {
  if (!valid_common(p.m, p.n, p.k, p.ab_dtype, p.scale_dtype, p.a, p.scale_a, p.b, p.scale_b, p.d))
    return DSB_STATUS_INVALID_ARGUMENT;
  try {
    Problem prob{p.n, p.k, p.ab_dtype, p.scale_dtype, {}};
    if (p.m > 0)
      prob.subs.push_back({static_cast<const uint8_t*>(p.a), static_cast<const uint8_t*>(p.scale_a),
                           static_cast<const uint8_t*>(p.b), static_cast<const uint8_t*>(p.scale_b),
                           static_cast<uint16_t*>(p.d), p.m});
    return run(prob);
  } catch (const std::bad_alloc&) {
    return DSB_STATUS_OUT_OF_MEMORY;
  }
}

dsb_status gemm_fp8_grouped_contiguous_optimized(const dsb_gemm_fp8_grouped_contiguous_params& p) {
  if (p.num_groups < 0 || (p.m > 0 && !p.m_indices) ||
      !valid_common(p.m, p.n, p.k, p.ab_dtype, p.scale_dtype, p.a, p.scale_a, p.b, p.scale_b, p.d))
    return DSB_STATUS_INVALID_ARGUMENT;
  for (int64_t r = 0; r < p.m; ++r)
    if (p.m_indices[r] < -1 || p.m_indices[r] >= p.num_groups) return DSB_STATUS_INVALID_ARGUMENT;
  try {
    Problem prob{p.n, p.k, p.ab_dtype, p.scale_dtype, {}};
    const int64_t kblocks = p.k / DSB_FP8_BLOCK, sbytes = scale_bytes(p.scale_dtype);
    const int64_t b_scales = ceil_div(p.n, DSB_FP8_BLOCK) * kblocks;
    const auto* a = static_cast<const uint8_t*>(p.a);
    const auto* sa = static_cast<const uint8_t*>(p.scale_a);
    const auto* b = static_cast<const uint8_t*>(p.b);
    const auto* sb = static_cast<const uint8_t*>(p.scale_b);
    auto* d = static_cast<uint16_t*>(p.d);
    // Any run of equal indices is one dense problem: no alignment of the runs is assumed.
    for (int64_t r0 = 0, r1; r0 < p.m; r0 = r1) {
      const int32_t g = p.m_indices[r0];
      for (r1 = r0 + 1; r1 < p.m && p.m_indices[r1] == g; ++r1) {}
      if (g < 0) continue;  // padding rows: not computed, d left untouched
      prob.subs.push_back({a + r0 * p.k, sa + r0 * kblocks * sbytes, b + g * p.n * p.k,
                           sb + g * b_scales * sbytes, d + r0 * p.n, r1 - r0});
    }
    return run(prob);
  } catch (const std::bad_alloc&) {
    return DSB_STATUS_OUT_OF_MEMORY;
  }
}

dsb_status gemm_fp8_grouped_masked_optimized(const dsb_gemm_fp8_grouped_masked_params& p) {
  const int64_t rows = p.num_groups * p.m_max;
  if (p.num_groups < 0 || p.m_max < 0 || (p.num_groups > 0 && !p.masked_m) ||
      !valid_common(rows, p.n, p.k, p.ab_dtype, p.scale_dtype, p.a, p.scale_a, p.b, p.scale_b, p.d))
    return DSB_STATUS_INVALID_ARGUMENT;
  for (int32_t g = 0; g < p.num_groups; ++g)
    if (p.masked_m[g] < 0 || p.masked_m[g] > p.m_max) return DSB_STATUS_INVALID_ARGUMENT;
  try {
    Problem prob{p.n, p.k, p.ab_dtype, p.scale_dtype, {}};
    const int64_t kblocks = p.k / DSB_FP8_BLOCK, sbytes = scale_bytes(p.scale_dtype);
    const int64_t b_scales = ceil_div(p.n, DSB_FP8_BLOCK) * kblocks;
    for (int64_t g = 0; g < p.num_groups; ++g) {
      if (p.masked_m[g] == 0) continue;
      const int64_t r0 = g * p.m_max;
      prob.subs.push_back({static_cast<const uint8_t*>(p.a) + r0 * p.k,
                           static_cast<const uint8_t*>(p.scale_a) + r0 * kblocks * sbytes,
                           static_cast<const uint8_t*>(p.b) + g * p.n * p.k,
                           static_cast<const uint8_t*>(p.scale_b) + g * b_scales * sbytes,
                           static_cast<uint16_t*>(p.d) + r0 * p.n, p.masked_m[g]});
    }
    return run(prob);
  } catch (const std::bad_alloc&) {
    return DSB_STATUS_OUT_OF_MEMORY;
  }
}

}  // namespace dsbench::cpu
