// Driver of the optimised CPU FP8 GEMMs. Every variant becomes a list of dense sub-GEMMs (the whole
// problem; each run of rows sharing an m_index; each group's masked_m rows), which are cut into
// (rows x columns) tiles run by OpenMP threads. A tile walks K in steps of kKc: dequantise its B
// panel and A rows once per step (scales folded in), run the register-blocked micro-kernel into an
// FP32 accumulator, and on the last step round straight to BF16 in d.
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

// Tiles are (rows x columns) of one sub-GEMM over all of K, one thread each, with an FP32
// accumulator of their own that is read and written once per K step of 256. A and B are
// dequantised once per tile and K step, so the decode costs 1/rows + 1/columns of the FMA work:
// tiles want to be large. 384 x 512 measured best on Zen 4 (1 MiB L2): larger accumulators (3 MiB
// at 768 x 1024) spill to L3 and cost ~15% at K = 1536. Inside a tile the loops are Goto's: a
// kMcMax x kKc block of A in L2 (204 KiB), the tile's B panel (512 KiB) in L2, one 16 KiB strip of
// it in L1 while the A panels stream past.
constexpr int64_t kMcMax = 32 * kMr;
constexpr int64_t kTmMax = 2 * kMcMax;  // 384 rows
constexpr int64_t kTnMax = 512;         // columns
constexpr int64_t kTmMin = 16 * kMr;    // shrink rows only down to here before going below kTnMid
constexpr int64_t kTnMid = 128;
constexpr int64_t kTnMin = 32;          // below this, re-dequantising A per tile outweighs balance
constexpr int64_t kTilesPerThread = 8;  // enough tiles for dynamic scheduling to balance
constexpr int64_t kAResidentFloats = 128 * 1024;  // up to 512 KiB of packed A for all of K

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

// A 64-byte aligned float buffer that only grows.
struct Buffer {
  float* p = nullptr;
  size_t capacity = 0;
  ~Buffer() { std::free(p); }
  bool reserve(size_t floats) {
    if (floats <= capacity) return true;
    std::free(p);
    const size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
    p = static_cast<float*>(std::aligned_alloc(64, bytes));
    capacity = p ? floats : 0;
    return p != nullptr;
  }
};

// Per-thread buffers, kept between calls: OpenMP reuses its threads, so steady-state calls
// allocate nothing.
struct Workspace {
  Buffer ap;  // packed A: [kMcMax, kAStride], or every K step of a short tile
  Buffer bp;  // packed B panel: [columns / 16][kKc][16]
  Buffer c;   // FP32 accumulator: [rows, columns rounded up to 16]
};
thread_local Workspace tls_workspace;

struct Tile {
  const SubGemm* g;
  int64_t m0, mc, n0, nc;
};

// One tile over all of K. Returns false when its buffers cannot be allocated.
bool run_tile(const Problem& p, const Tile& t, const GemmKernels& kern, Workspace& ws) {
  const SubGemm& g = *t.g;
  const int64_t kblocks = p.k / DSB_FP8_BLOCK, sbytes = scale_bytes(p.scale_dtype);
  const int64_t ldc = ceil_div(t.nc, kNr) * kNr, steps = ceil_div(p.k, kKc);
  const bool a_resident = t.mc * kAStride * steps <= kAResidentFloats;
  const int64_t ap_floats = a_resident ? t.mc * kAStride * steps : std::min(t.mc, kMcMax) * kAStride;
  if (!ws.ap.reserve(ap_floats) || !ws.bp.reserve(ldc * kKc) || !ws.c.reserve(t.mc * ldc)) return false;

  const auto kc_of = [&](int64_t s) { return static_cast<int>(std::min<int64_t>(kKc, p.k - s * kKc)); };
  const auto flags_of = [&](int64_t s) { return (s == 0 ? kFirst : 0) | (s == steps - 1 ? kLast : 0); };
  // Rows [i0, i0+rows) of the tile, K step s, into ap with row stride kAStride.
  const auto pack_a = [&](int64_t i0, int64_t rows, int64_t s, float* ap) {
    kern.pack_a(g.a + (t.m0 + i0) * p.k + s * kKc, p.k,
                g.sa + ((t.m0 + i0) * kblocks + s * (kKc / DSB_FP8_BLOCK)) * sbytes, kblocks, p.ab_dtype,
                p.scale_dtype, static_cast<int>(rows), kc_of(s), ap);
  };
  // Columns [j, j+16) of the tile (n0 + j is a multiple of 16: one 128-block of B's scales).
  const auto pack_b = [&](int64_t j, int64_t s, float* bp) {
    const int64_t col = t.n0 + j;
    kern.pack_b(g.b + col * p.k + s * kKc, p.k,
                g.sb + ((col / DSB_FP8_BLOCK) * kblocks + s * (kKc / DSB_FP8_BLOCK)) * sbytes, p.ab_dtype,
                p.scale_dtype, static_cast<int>(std::min<int64_t>(kNr, t.nc - j)), kc_of(s), bp);
  };
  // Every kMr-row panel of packed rows [i0, i0+rows) against one packed strip.
  const auto panels = [&](int64_t i0, int64_t rows, const float* ap, int64_t j, const float* bp, int64_t s) {
    const int nv = static_cast<int>(std::min<int64_t>(kNr, t.nc - j));
    for (int64_t i = 0; i < rows; i += kMr) {
      const int mr = static_cast<int>(std::min<int64_t>(kMr, rows - i));
      kern.micro[mr](kc_of(s), ap + i * kAStride, bp, ws.c.p + (i0 + i) * ldc + j, ldc, flags_of(s),
                     g.d + (t.m0 + i0 + i) * p.n + t.n0 + j, p.n, nv);
    }
  };

  if (a_resident) {
    // Few rows (decode shapes): dequantise them for all of K once, then walk each B strip along
    // all of K, so every B row is read in one sequential pass the hardware prefetcher can follow.
    for (int64_t s = 0; s < steps; ++s) pack_a(0, t.mc, s, ws.ap.p + s * t.mc * kAStride);
    if (t.mc <= kDotRows) {
      // One or two rows: each B code feeds at most two FMAs, so transposing B into a packed strip
      // would cost more than the math; decode it in registers instead.
      for (int64_t j = 0; j < t.nc; j += kDotCols) {
        const int64_t col = t.n0 + j;  // a multiple of 4: the 4 columns share a 128-block of B
        kern.dot(static_cast<int>(t.mc), p.k, ws.ap.p, g.b + col * p.k, p.k,
                 g.sb + (col / DSB_FP8_BLOCK) * kblocks * sbytes, p.ab_dtype, p.scale_dtype,
                 static_cast<int>(std::min<int64_t>(kDotCols, t.nc - j)), g.d + t.m0 * p.n + col, p.n,
                 j + 2 * kDotCols <= t.nc);
      }
      return true;
    }
    for (int64_t j = 0; j < t.nc; j += kNr)
      for (int64_t s = 0; s < steps; ++s) {
        pack_b(j, s, ws.bp.p);
        panels(0, t.mc, ws.ap.p + s * t.mc * kAStride, j, ws.bp.p, s);
      }
    return true;
  }
  // The A rows of a block are far apart (k bytes), a pattern the hardware prefetcher does not
  // follow; fetch the next block's codes into L2 while the micro-kernels run on this one.
  const auto prefetch_a = [&](int64_t i0, int64_t s) {
    if (s >= steps) return;
    const int64_t rows = std::min(kMcMax, t.mc - i0), bytes = kc_of(s);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t b = 0; b < bytes; b += 64) __builtin_prefetch(g.a + (t.m0 + i0 + r) * p.k + s * kKc + b, 0, 2);
  };
  for (int64_t s = 0; s < steps; ++s) {
    for (int64_t j = 0; j < t.nc; j += kNr) pack_b(j, s, ws.bp.p + j * kKc);
    for (int64_t i0 = 0; i0 < t.mc; i0 += kMcMax) {
      const int64_t rows = std::min(kMcMax, t.mc - i0);
      pack_a(i0, rows, s, ws.ap.p);
      if (i0 + kMcMax < t.mc) prefetch_a(i0 + kMcMax, s);
      else prefetch_a(0, s + 1);
      for (int64_t j = 0; j < t.nc; j += kNr) panels(i0, rows, ws.ap.p, j, ws.bp.p + j * kKc, s);
    }
  }
  return true;
}

int max_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// Rows per tile for m rows and a limit: split evenly, rounded up to whole register panels.
int64_t tile_rows(int64_t m, int64_t limit) {
  return std::min(m, ceil_div(ceil_div(m, ceil_div(m, limit)), kMr) * kMr);
}

// The tile grid: the largest tiles that still give every thread kTilesPerThread of them. Columns
// shrink first (down to kTnMid), then rows, then columns again: M = 1 decode needs the split on N.
struct Grid {
  int64_t tm_max, tn;
};

Grid plan_grid(const Problem& p, int threads) {
  const auto count = [&](int64_t tm, int64_t tn) {
    int64_t tiles = 0;
    for (const SubGemm& g : p.subs) tiles += ceil_div(g.m, tile_rows(g.m, tm));
    return tiles * ceil_div(p.n, tn);
  };
  int64_t tm = kTmMax, tn = kTnMax;
  while (count(tm, tn) < kTilesPerThread * threads) {
    if (tn > kTnMid) tn /= 2;
    else if (tm > kTmMin) tm /= 2;
    else if (tn > kTnMin) tn /= 2;
    else break;
  }
  // Even column tiles, multiples of 16 wide.
  const int64_t cols = ceil_div(p.n, tn);
  tn = ceil_div(ceil_div(p.n, cols), kNr) * kNr;
  return {tm, tn};
}

dsb_status run(const Problem& p) {
  if (p.n == 0 || p.subs.empty()) return DSB_STATUS_OK;
  if (p.k == 0) {  // empty sum: every computed element is +0
    for (const SubGemm& g : p.subs) std::memset(g.d, 0, static_cast<size_t>(g.m * p.n) * sizeof(uint16_t));
    return DSB_STATUS_OK;
  }
  const Grid grid = plan_grid(p, max_threads());
  std::vector<Tile> tiles;
  for (const SubGemm& g : p.subs) {
    const int64_t rows = tile_rows(g.m, grid.tm_max);
    // Column tiles vary fastest, so tiles running at the same time share A rows in cache.
    for (int64_t m0 = 0; m0 < g.m; m0 += rows)
      for (int64_t n0 = 0; n0 < p.n; n0 += grid.tn)
        tiles.push_back({&g, m0, std::min(rows, g.m - m0), n0, std::min(grid.tn, p.n - n0)});
  }
  const GemmKernels& kern = gemm_kernels();
  const int64_t count = static_cast<int64_t>(tiles.size());
  std::atomic<bool> out_of_memory{false};
#pragma omp parallel for schedule(dynamic, 1) if (count > 1)
  for (int64_t i = 0; i < count; ++i)
    if (!run_tile(p, tiles[i], kern, tls_workspace)) out_of_memory.store(true, std::memory_order_relaxed);
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
