// Hopper (sm_90a) FP8 block-scaled GEMM, hand-written: TMA tile loads into a multi-stage shared-
// memory ring (mbarriers), one producer warp, two consumer warpgroups issuing wgmma m64n128k32 E4M3,
// FP32 promotion of every 128-deep K block with both scales, a persistent grid. The design and what
// is and is not verified: docs/ops/gemm_fp8_blockscaled.md#the-sm90-kernel. Device code:
// gemm_fp8_sm90_kernel.cuh (also compiled by the SIMT emulator of tests/cuda/emu).
//
// This header is shared by the host code (gemm_fp8_sm90.cpp: tensor maps, supports(), launch), the
// device code and the emulated tests. A tensor map is CUtensorMap on the device and the emulator's
// model (emu::TensorMap2D) in a test, so the argument struct lives in an inline namespace that names
// which: the two never meet in one program's ODR.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "dsbench/ops.h"
#include "dsbench/status.hpp"

#if defined(DSB_EMU_SM90)
#define DSB_SM90_ABI emu_abi
#else
#include <cuda.h>  // CUtensorMap (a type only: libcuda is reached at run time, never linked)
#define DSB_SM90_ABI dev_abi
#endif

namespace dsbench::cuda::sm90 {

constexpr int kBlockM = 128;  // rows per tile: two consumer warpgroups of 64
constexpr int kBlockN = 128;  // columns per tile = one 128-wide block of B's scales
constexpr int kBlockK = 128;  // K per stage = one scale block: promotion after every stage
constexpr int kWgmmaK = 32;   // K of one wgmma (FP8)
constexpr int kStages = 6;
constexpr int kConsumerWarpgroups = 2;
constexpr int kThreads = 128 * (1 + kConsumerWarpgroups);  // warpgroup 0: producer (one thread issues)
constexpr int kStageBytesA = kBlockM * kBlockK;            // FP8: one byte per element
constexpr int kStageBytesB = kBlockN * kBlockK;

enum Variant : int32_t { kDense = 0, kContiguous = 1, kMasked = 2 };

// What a tensor map describes: a row-major [outer, inner] byte matrix (FP8) and the box one copy
// moves. The kernel's maps are always 128-byte swizzled with a 128 x 128 box.
struct TmaSpec2D {
  const void* base;
  uint64_t inner, outer;     // elements (bytes) per row, rows
  uint64_t row_stride;       // bytes between rows
  uint32_t box_inner, box_outer;
};

inline namespace DSB_SM90_ABI {
#if defined(DSB_EMU_SM90)
using TmaDesc = ::emu::TensorMap2D;
#else
using TmaDesc = CUtensorMap;
#endif

struct Args {
  TmaDesc tma_a;  // A (all rows of every group, flattened) [rows_a, k]
  TmaDesc tma_b;  // B (every group's n rows, flattened) [groups * n, k]
  int32_t variant;
  int32_t num_groups;
  int32_t m_blocks;   // 128-row blocks per group (dense, contiguous: of m; masked: of m_max)
  int32_t n_blocks;   // 128-column blocks (= ceil(n / 128) = the rows of a group's B scales)
  int32_t k_blocks;   // k / 128
  int32_t ue8m0;      // scales are UE8M0 bytes (else FP32)
  int64_t rows_a;     // rows of A, scale_a and d: m, or num_groups * m_max
  int64_t m_max;      // masked: rows per group
  int64_t n;
  int64_t num_tiles;  // m_blocks * n_blocks * (masked: num_groups)
  int32_t splits;     // K split into this many pieces per tile (1: none)
  int32_t kb_per_split;
  float* ws;          // splits > 1: [rows_a, n] FP32 sums, zero before the launch
  uint32_t* counters; // splits > 1: [num_tiles] pieces finished, zero before the launch
  const uint8_t* sa;
  const uint8_t* sb;
  const int32_t* m_indices;  // contiguous
  const int32_t* masked_m;   // masked
  uint16_t* d;
};
}  // namespace DSB_SM90_ABI

// Everything about one call but the tensor maps.
struct Plan {
  Args args;  // tma_a, tma_b left for the caller to encode from a, b
  TmaSpec2D a, b;
  size_t workspace_bytes;  // splits > 1: FP32 sums and tile counters (zeroed by the caller)
  int64_t units() const { return args.num_tiles * args.splits; }
};

inline int64_t ceil_div64(int64_t x, int64_t y) { return (x + y - 1) / y; }

// Split-K when the tiles cannot fill the SMs (decode-sized M): each piece at least 4 K blocks (512
// of K), never more pieces than the idle SMs can take. Not for contiguous (a tile may take several
// group passes). The pieces add their promoted FP32 sums into the workspace; the last to finish a
// tile rounds it to BF16.
inline void plan_splits(Plan& p, int sm_count) {
  Args& g = p.args;
  int64_t splits = 1;
  if (g.variant != kContiguous && g.num_tiles > 0 && g.num_tiles < sm_count)
    splits = std::max<int64_t>(1, std::min<int64_t>(g.k_blocks / 4, sm_count / g.num_tiles));
  g.kb_per_split = static_cast<int32_t>(ceil_div64(g.k_blocks, splits));
  g.splits = g.kb_per_split > 0 ? static_cast<int32_t>(ceil_div64(g.k_blocks, g.kb_per_split)) : 1;
  if (g.splits < 1) g.splits = 1;
  p.workspace_bytes = g.splits > 1 ? static_cast<size_t>(g.rows_a * g.n) * sizeof(float) +
                                         static_cast<size_t>(g.num_tiles) * sizeof(uint32_t)
                                   : 0;
}

// Points the plan at its workspace (workspace_bytes of it, zeroed before the launch).
inline void set_workspace(Plan& p, void* ws) {
  if (p.args.splits <= 1) return;
  p.args.ws = static_cast<float*>(ws);
  p.args.counters = reinterpret_cast<uint32_t*>(static_cast<char*>(ws) + static_cast<size_t>(p.args.rows_a * p.args.n) * sizeof(float));
}

inline Plan make_plan_common(int32_t variant, int32_t groups, int64_t rows_a, int64_t m_max, int64_t m_rows_tiled,
                             int64_t n, int64_t k, dsb_dtype scale_dtype, const void* a, const void* sa, const void* b,
                             const void* sb, void* d) {
  Plan p{};
  Args& g = p.args;
  g.variant = variant;
  g.num_groups = groups;
  g.m_blocks = static_cast<int32_t>(ceil_div64(m_rows_tiled, kBlockM));
  g.n_blocks = static_cast<int32_t>(ceil_div64(n, kBlockN));
  g.k_blocks = static_cast<int32_t>(k / kBlockK);
  g.ue8m0 = scale_dtype == DSB_DTYPE_UE8M0;
  g.rows_a = rows_a;
  g.m_max = m_max;
  g.n = n;
  g.num_tiles = int64_t{g.m_blocks} * g.n_blocks * (variant == kMasked ? groups : 1);
  g.sa = static_cast<const uint8_t*>(sa);
  g.sb = static_cast<const uint8_t*>(sb);
  g.d = static_cast<uint16_t*>(d);
  const int64_t b_rows = (variant == kDense ? 1 : groups) * n;
  p.a = {a, static_cast<uint64_t>(k), static_cast<uint64_t>(rows_a), static_cast<uint64_t>(k), kBlockK, kBlockM};
  p.b = {b, static_cast<uint64_t>(k), static_cast<uint64_t>(b_rows), static_cast<uint64_t>(k), kBlockK, kBlockN};
  return p;
}

inline Plan make_plan(const dsb_gemm_fp8_blockscaled_params& q, int sm_count) {
  Plan p = make_plan_common(kDense, 1, q.m, q.m, q.m, q.n, q.k, q.scale_dtype, q.a, q.scale_a, q.b, q.scale_b, q.d);
  plan_splits(p, sm_count);
  return p;
}
inline Plan make_plan(const dsb_gemm_fp8_grouped_contiguous_params& q, int sm_count) {
  Plan p = make_plan_common(kContiguous, q.num_groups, q.m, q.m, q.m, q.n, q.k, q.scale_dtype, q.a, q.scale_a, q.b,
                            q.scale_b, q.d);
  p.args.m_indices = q.m_indices;
  plan_splits(p, sm_count);
  return p;
}
inline Plan make_plan(const dsb_gemm_fp8_grouped_masked_params& q, int sm_count) {
  Plan p = make_plan_common(kMasked, q.num_groups, int64_t{q.num_groups} * q.m_max, q.m_max, q.m_max, q.n, q.k,
                            q.scale_dtype, q.a, q.scale_a, q.b, q.scale_b, q.d);
  p.args.masked_m = q.masked_m;
  plan_splits(p, sm_count);
  return p;
}

// Empty when the kernel takes these operands; otherwise the precise reason (shape limits of the
// tensor maps and of 32-bit coordinates, operand types). rows_a: m or num_groups * m_max; b_rows:
// n or num_groups * n.
inline std::string refusal(dsb_dtype ab, dsb_dtype scale, int64_t rows_a, int64_t b_rows, int64_t n, int64_t k,
                           int64_t groups) {
  if (ab != DSB_DTYPE_E4M3FN)
    return std::string(dsb_dtype_name(ab)) + " operands: the kernel issues wgmma .e4m3 x .e4m3 (OCP E4M3FN) only";
  if (scale != DSB_DTYPE_F32 && scale != DSB_DTYPE_UE8M0)
    return std::string(dsb_dtype_name(scale)) + " scales: f32 or ue8m0 only";
  if (k <= 0 || k % kBlockK != 0) return "k = " + std::to_string(k) + ": must be a positive multiple of 128";
  if (n < 0 || rows_a < 0 || groups < 0) return "negative sizes";  // n = 0 or m = 0: nothing to do
  // TMA: coordinates are int32, dimensions below 2^32, row strides (k bytes) below 2^40 and multiples of 16.
  if (rows_a >= (int64_t{1} << 31) || b_rows >= (int64_t{1} << 31) || k >= (int64_t{1} << 31))
    return "rows of A or B (all groups) or k beyond 2^31: TMA coordinates are 32-bit";
  return "";
}

#if !defined(DSB_EMU_SM90)
// Host side (gemm_fp8_sm90.cu): dynamic shared memory of one block, and the launch (grid blocks,
// tensor maps already in args). stream: cudaStream_t.
int smem_bytes();
Status launch(const Args& args, int grid, void* stream);
#endif

}  // namespace dsbench::cuda::sm90

#include "dsbench/kernel.hpp"
namespace dsbench::cuda {
// The three registered kernels: cuda.<op>.sm90 (gemm_fp8_sm90.cpp).
const Kernel& gemm_fp8_sm90_dense();
const Kernel& gemm_fp8_sm90_contiguous();
const Kernel& gemm_fp8_sm90_masked();
}  // namespace dsbench::cuda
