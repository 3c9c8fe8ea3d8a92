// Device code of the sm_90a FP8 block-scaled GEMM (design: gemm_fp8_sm90.hpp and
// docs/ops/gemm_fp8_blockscaled.md#the-sm90-kernel). A header so that the SIMT emulator of
// tests/cuda/emu can compile the same body for the CPU: every Hopper instruction goes through one of
// the small wrappers below, which are inline PTX for sm_90a, the emulator's model of the instruction
// in a test (DSB_EMU_SM90), and nothing at all for other targets (the sm_80 pass of the multi-arch
// build compiles a stub kernel that the host never launches: supports() asks for compute capability 9.0).
#pragma once

#include <cstdint>

#include "dsbench/numerics/bf16.hpp"
#include "kernels/cuda/gemm_fp8_sm90.hpp"
#include "kernels/cuda/wgmma_layout.hpp"

#if (defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL))
#define DSB_SM90_DEVICE 1
#endif
#if defined(DSB_SM90_DEVICE) || defined(DSB_EMU_SM90)
#define DSB_SM90_BODY 1
#endif

#ifndef DSB_EXTERN_SHARED
#define DSB_EXTERN_SHARED(type, name) extern __shared__ __align__(1024) type name[]
#endif
#ifndef __grid_constant__
#define __grid_constant__
#endif

namespace dsbench::cuda::sm90 {

// What the producer tells the consumers about the stage it filled (ordinary shared memory, published
// by the full barrier's arrive: release by the producer, acquire by the consumers' wait).
struct StageInfo {
  int64_t a_row0;   // first row of the tile in A / scale_a / d (flattened over groups)
  int64_t row_end;  // rows at or past this are not stored (M tail, masked_m)
  int32_t n0;       // first column
  int32_t group;    // B's group (contiguous: rows of other groups in the tile are not stored)
  int32_t kb;       // 128-deep K block this stage holds
  int32_t flags;    // kLast: the last K block of the tile (or of its split); kEnd: no more work
  int32_t tile;     // the tile's index (split-K: its counter)
  int32_t pad;
};
constexpr int32_t kLast = 1, kEnd = 2;
constexpr int kProducerRegs = 40, kConsumerRegs = 232;

struct SmemLayout {
  static constexpr int kA = 0;
  static constexpr int kB = kA + kStages * kStageBytesA;
  static constexpr int kFull = kB + kStages * kStageBytesB;
  static constexpr int kEmpty = kFull + kStages * 8;
  static constexpr int kInfo = kEmpty + kStages * 8;
  static constexpr int kFlag = kInfo + kStages * static_cast<int>(sizeof(StageInfo));  // split-K: "last piece"
  static constexpr int kBytes = kFlag + 16;
};
// Dynamic shared memory the launch asks for: the layout plus room to align its start to 1024 bytes
// (128-byte swizzle repeats every 1024 bytes of address; the tiles start on that boundary).
constexpr int kSmemBytes = SmemLayout::kBytes + 1024;

#if defined(DSB_SM90_BODY)
// ---- Hopper instructions: inline PTX on sm_90a, the emulator's models in tests -----------------
#if defined(DSB_SM90_DEVICE)
__device__ __forceinline__ uint32_t smem_addr(const void* p) { return static_cast<uint32_t>(__cvta_generic_to_shared(p)); }

__device__ __forceinline__ void mbar_init(uint64_t* bar, uint32_t count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(count));
}
// Makes the initialised barriers visible to the async proxy (TMA) before first use.
__device__ __forceinline__ void fence_barrier_init() { asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory"); }
__device__ __forceinline__ void mbar_arrive(uint64_t* bar) {
  asm volatile("{\n.reg .b64 st;\nmbarrier.arrive.shared::cta.b64 st, [%0];\n}\n" ::"r"(smem_addr(bar)) : "memory");
}
__device__ __forceinline__ void mbar_arrive_expect_tx(uint64_t* bar, uint32_t bytes) {
  asm volatile("{\n.reg .b64 st;\nmbarrier.arrive.expect_tx.shared::cta.b64 st, [%0], %1;\n}\n" ::"r"(smem_addr(bar)),
               "r"(bytes)
               : "memory");
}
__device__ __forceinline__ bool mbar_try_wait(uint64_t* bar, uint32_t parity) {
  uint32_t done;
  asm volatile(
      "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
      : "=r"(done)
      : "r"(smem_addr(bar)), "r"(parity)
      : "memory");
  return done != 0;
}
// One box of a 2D tensor map into shared memory; completes `bytes` of the barrier's transaction count.
__device__ __forceinline__ void tma_load_2d(void* dst, const TmaDesc* map, uint64_t* bar, int32_t c_inner, int32_t c_outer) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4}], [%2];\n" ::"r"(
          smem_addr(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(smem_addr(bar)), "r"(c_inner), "r"(c_outer)
      : "memory");
}
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_wait_all() { asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory"); }
// Keeps the compiler from moving accumulator reads/writes across the asynchronous MMA.
__device__ __forceinline__ void fence_regs(float (&d)[64]) {
#pragma unroll
  for (int i = 0; i < 64; ++i) asm volatile("" : "+f"(d[i])::"memory");
}
// D (64 x 128, FP32, wgmma_d_row/col) = (accumulate ? D : 0) + A (64 x 32, K-major) . B (128 x 32, K-major)^T.
__device__ __forceinline__ void wgmma_m64n128k32_e4m3(float (&d)[64], uint64_t desc_a, uint64_t desc_b, bool accumulate) {
  asm volatile(
      "{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 {"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "
      "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
      "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, "
      "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
      "}, %64, %65, p, 1, 1;\n}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
        "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
        "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
        "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
        "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
        "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
        "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
      : "l"(desc_a), "l"(desc_b), "r"(static_cast<int32_t>(accumulate)));
}
__device__ __forceinline__ float ldg_f32(const float* p) { return __ldg(p); }
__device__ __forceinline__ int32_t ldg_i32(const int32_t* p) { return __ldg(p); }
__device__ __forceinline__ uint8_t ldg_u8(const uint8_t* p) { return __ldg(p); }
__device__ __forceinline__ float ldcg_f32(const float* p) { return __ldcg(p); }  // L2: other SMs' atomics
__device__ __forceinline__ void atomic_add_f32(float* p, float v) { atomicAdd(p, v); }
__device__ __forceinline__ uint32_t atomic_add_u32(uint32_t* p, uint32_t v) { return atomicAdd(p, v); }
__device__ __forceinline__ void threadfence() { __threadfence(); }
// Register budget per warpgroup (setmaxnreg; the kernel's cap at entry comes from __launch_bounds__(kThreads, 1)).
template <int N>
__device__ __forceinline__ void regs_dec() { asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N)); }
template <int N>
__device__ __forceinline__ void regs_inc() { asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N)); }
// Named barrier 1 over the consumer warpgroups only (the producer never joins).
__device__ __forceinline__ void consumers_sync() {
  asm volatile("bar.sync 1, %0;\n" ::"n"(128 * kConsumerWarpgroups) : "memory");
}
#else  // the emulator (tests/cuda/emu/simt_emulator.hpp)
__device__ __forceinline__ uint32_t smem_addr(const void* p) { return ::emu::Block::current().smem_addr(p); }
__device__ __forceinline__ void mbar_init(uint64_t* bar, uint32_t count) { ::emu::Block::current().mbar_init(bar, count); }
__device__ __forceinline__ void fence_barrier_init() {}
__device__ __forceinline__ void mbar_arrive(uint64_t* bar) { ::emu::Block::current().mbar_arrive(bar, 0); }
__device__ __forceinline__ void mbar_arrive_expect_tx(uint64_t* bar, uint32_t bytes) {
  ::emu::Block::current().mbar_arrive(bar, bytes);
}
__device__ __forceinline__ bool mbar_try_wait(uint64_t* bar, uint32_t parity) {
  return ::emu::Block::current().mbar_try_wait(bar, parity);
}
__device__ __forceinline__ void tma_load_2d(void* dst, const TmaDesc* map, uint64_t* bar, int32_t c_inner, int32_t c_outer) {
  ::emu::Block::current().tma_load_2d(dst, *map, bar, c_inner, c_outer);
}
__device__ __forceinline__ void wgmma_fence() { ::emu::Block::current().wgmma_fence(); }
__device__ __forceinline__ void wgmma_commit() { ::emu::Block::current().wgmma_commit(); }
__device__ __forceinline__ void wgmma_wait_all() { ::emu::Block::current().wgmma_wait(0); }
__device__ __forceinline__ void fence_regs(float (&)[64]) {}
__device__ __forceinline__ void wgmma_m64n128k32_e4m3(float (&d)[64], uint64_t desc_a, uint64_t desc_b, bool accumulate) {
  ::emu::Block::current().wgmma_e4m3(d, 128, desc_a, desc_b, accumulate);
}
__device__ __forceinline__ float ldg_f32(const float* p) { return *p; }
__device__ __forceinline__ int32_t ldg_i32(const int32_t* p) { return *p; }
__device__ __forceinline__ uint8_t ldg_u8(const uint8_t* p) { return *p; }
__device__ __forceinline__ float ldcg_f32(const float* p) { return *p; }
// Blocks run one after another in the emulator, their fibers on one OS thread: plain updates.
__device__ __forceinline__ void atomic_add_f32(float* p, float v) { *p += v; }
__device__ __forceinline__ uint32_t atomic_add_u32(uint32_t* p, uint32_t v) {
  const uint32_t old = *p;
  *p = old + v;
  return old;
}
__device__ __forceinline__ void threadfence() {}
template <int N>
__device__ __forceinline__ void regs_dec() {}  // registers are not modelled
template <int N>
__device__ __forceinline__ void regs_inc() {}
__device__ __forceinline__ void consumers_sync() { ::emu::Block::current().bar_sync(1, 128 * kConsumerWarpgroups); }
#endif

__device__ __forceinline__ void mbar_wait(uint64_t* bar, uint32_t parity) {
  while (!mbar_try_wait(bar, parity)) {
  }
}

// ---- the kernel -----------------------------------------------------------------------------------


__device__ __forceinline__ float scale_at(const uint8_t* s, int64_t i, bool ue8m0) {
  if (ue8m0) {
    const uint32_t e = ldg_u8(s + i);
    // 2^(e-127) exactly: e = 0 is 2^-127 (subnormal), 0xff is NaN (the code's definition).
    return e == 0xffu ? dsbench::f32_from_bits(0x7fc00000u)
                      : (e == 0 ? dsbench::f32_from_bits(0x00400000u) : dsbench::f32_from_bits(e << 23));
  }
  return ldg_f32(reinterpret_cast<const float*>(s) + i);
}

// The smallest group present among the tile's rows [r0, r1) that is above `after`; -1 when none.
__device__ __forceinline__ int32_t next_group(const Args& a, int64_t r0, int64_t r1, int32_t after) {
  int32_t best = -1;
  for (int64_t r = r0; r < r1; ++r) {
    const int32_t g = ldg_i32(a.m_indices + r);
    if (g > after && g < a.num_groups && (best < 0 || g < best)) best = g;
  }
  return best;
}

// Where a thread is in the stage ring: the stage, and the parity of the ring's current lap.
struct Ring {
  int stage = 0;
  uint32_t phase = 0;
};
__device__ __forceinline__ void advance(Ring& r) {
  if (++r.stage == kStages) {
    r.stage = 0;
    r.phase ^= 1u;
  }
}

// The producer: one thread walks the persistent schedule and fills stages.
__device__ __forceinline__ void produce(const Args& a, uint8_t* smem, Ring& ring, int64_t a_row0, int64_t row_end,
                                        int64_t b_row0, int32_t n0, int32_t group, int32_t tile, int32_t kb0, int32_t kb1) {
  uint64_t* full = reinterpret_cast<uint64_t*>(smem + SmemLayout::kFull);
  uint64_t* empty = reinterpret_cast<uint64_t*>(smem + SmemLayout::kEmpty);
  StageInfo* info = reinterpret_cast<StageInfo*>(smem + SmemLayout::kInfo);
  for (int32_t kb = kb0; kb < kb1; ++kb) {
    const int s = ring.stage;
    mbar_wait(&empty[s], ring.phase ^ 1u);
    info[s] = StageInfo{a_row0, row_end, n0, group, kb, kb + 1 == kb1 ? kLast : 0, tile, 0};
    mbar_arrive_expect_tx(&full[s], kStageBytesA + kStageBytesB);
    tma_load_2d(smem + SmemLayout::kA + s * kStageBytesA, &a.tma_a, &full[s], kb * kBlockK, static_cast<int32_t>(a_row0));
    tma_load_2d(smem + SmemLayout::kB + s * kStageBytesB, &a.tma_b, &full[s], kb * kBlockK, static_cast<int32_t>(b_row0));
    advance(ring);
  }
}

__device__ __forceinline__ void producer_loop(const Args& a, uint8_t* smem) {
  Ring ring;
  const int64_t units = a.num_tiles * a.splits;
  for (int64_t u = blockIdx.x; u < units; u += gridDim.x) {
    const int64_t t = u / a.splits;  // the pieces of a tile go to consecutive blocks
    const int32_t sp = static_cast<int32_t>(u % a.splits);
    const int32_t kb0 = sp * a.kb_per_split;
    const int32_t kb1 = kb0 + a.kb_per_split < a.k_blocks ? kb0 + a.kb_per_split : a.k_blocks;
    const int32_t tile = static_cast<int32_t>(t);
    const int32_t mb = static_cast<int32_t>(t % a.m_blocks);
    const int64_t rest = t / a.m_blocks;
    const int32_t nb = static_cast<int32_t>(rest % a.n_blocks);
    const int32_t g = static_cast<int32_t>(rest / a.n_blocks);  // masked: the group; else 0
    const int32_t n0 = nb * kBlockN;
    if (a.variant == kDense) {
      produce(a, smem, ring, int64_t{mb} * kBlockM, a.rows_a, n0, n0, 0, tile, kb0, kb1);
    } else if (a.variant == kMasked) {
      const int64_t valid = ldg_i32(a.masked_m + g);
      if (int64_t{mb} * kBlockM >= valid) continue;  // nothing of this group in the tile
      const int64_t base = g * a.m_max;
      produce(a, smem, ring, base + int64_t{mb} * kBlockM, base + (valid < a.m_max ? valid : a.m_max), g * a.n + n0,
              n0, g, tile, kb0, kb1);
    } else {  // contiguous: one pass per group present in the tile (one, when groups are 128-aligned)
      const int64_t r0 = int64_t{mb} * kBlockM;
      const int64_t r1 = r0 + kBlockM < a.rows_a ? r0 + kBlockM : a.rows_a;
      for (int32_t grp = next_group(a, r0, r1, -1); grp >= 0; grp = next_group(a, r0, r1, grp))
        produce(a, smem, ring, r0, a.rows_a, grp * a.n + n0, n0, grp, tile, kb0, kb1);  // (never split)
    }
  }
  // No more work: a stage whose info says so, published through its full barrier without bytes.
  uint64_t* full = reinterpret_cast<uint64_t*>(smem + SmemLayout::kFull);
  uint64_t* empty = reinterpret_cast<uint64_t*>(smem + SmemLayout::kEmpty);
  StageInfo* info = reinterpret_cast<StageInfo*>(smem + SmemLayout::kInfo);
  mbar_wait(&empty[ring.stage], ring.phase ^ 1u);
  info[ring.stage].flags = kEnd;
  mbar_arrive(&full[ring.stage]);
}

// A consumer warpgroup: rows 64*wg .. 64*wg+63 of every tile, all 128 columns.
__device__ __forceinline__ void consumer_loop(const Args& a, uint8_t* smem, int wg, int t) {
  uint64_t* full = reinterpret_cast<uint64_t*>(smem + SmemLayout::kFull);
  uint64_t* empty = reinterpret_cast<uint64_t*>(smem + SmemLayout::kEmpty);
  const StageInfo* info = reinterpret_cast<const StageInfo*>(smem + SmemLayout::kInfo);
  float acc[64];    // promoted FP32 sums of the tile (this thread's D fragment)
  float part[64];   // one K block's wgmma partial sums
#pragma unroll
  for (int i = 0; i < 64; ++i) acc[i] = 0.0f;
  const int row_lo = wg * 64 + wgmma_d_row(t, 0);  // values with bit 1 clear; row_lo + 8 the others
  Ring ring;
  for (;;) {
    const int s = ring.stage;
    mbar_wait(&full[s], ring.phase);
    const StageInfo in = info[s];
    if (in.flags & kEnd) break;
    // The scales of this K block, loaded while the tensor cores work.
    const int64_t r_lo = in.a_row0 + row_lo, r_hi = r_lo + 8;
    const int64_t nbs = (a.n + kBlockN - 1) / kBlockN;
    const float sb = scale_at(a.sb, (int64_t{in.group} * nbs + in.n0 / kBlockN) * a.k_blocks + in.kb, a.ue8m0 != 0);
    const float sa_lo = r_lo < a.rows_a ? scale_at(a.sa, r_lo * a.k_blocks + in.kb, a.ue8m0 != 0) : 0.0f;
    const float sa_hi = r_hi < a.rows_a ? scale_at(a.sa, r_hi * a.k_blocks + in.kb, a.ue8m0 != 0) : 0.0f;

    const uint32_t tile_a = smem_addr(smem + SmemLayout::kA + s * kStageBytesA + wg * 64 * kBlockK);
    const uint32_t tile_b = smem_addr(smem + SmemLayout::kB + s * kStageBytesB);
    wgmma_fence();
#pragma unroll
    for (int ks = 0; ks < kBlockK / kWgmmaK; ++ks) {
      // K-major, 128-byte swizzle: 128-byte rows, 8-row groups 1024 bytes apart (SBO); the k-th
      // 32-element slice starts 32 bytes further (the swizzle applies to the address bits).
      const uint64_t da = wgmma_make_desc(tile_a + ks * kWgmmaK, 16, 1024, kWgmmaSwizzle128B);
      const uint64_t db = wgmma_make_desc(tile_b + ks * kWgmmaK, 16, 1024, kWgmmaSwizzle128B);
      wgmma_m64n128k32_e4m3(part, da, db, ks > 0);
    }
    wgmma_commit();
    wgmma_wait_all();
    fence_regs(part);
    mbar_arrive(&empty[s]);  // the stage's shared memory is free again
    // Promotion: this K block's partial sums, scaled, into the FP32 accumulators.
    const float s_lo = sa_lo * sb, s_hi = sa_hi * sb;
#pragma unroll
    for (int i = 0; i < 64; ++i) acc[i] += part[i] * (((i >> 1) & 1) ? s_hi : s_lo);
    if (in.flags & kLast) {
      const bool contiguous = a.variant == kContiguous;
      bool row_ok[2];
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int64_t row = in.a_row0 + row_lo + 8 * half;
        row_ok[half] = row < in.row_end;
        if (row_ok[half] && contiguous) row_ok[half] = ldg_i32(a.m_indices + row) == in.group;
      }
      if (a.splits == 1) {
#pragma unroll
        for (int i = 0; i < 64; ++i) {
          const int half = (i >> 1) & 1;
          const int64_t row = in.a_row0 + row_lo + 8 * half, col = in.n0 + wgmma_d_col(t, i);
          if (row_ok[half] && col < a.n) a.d[row * a.n + col] = dsbench::bf16_from_f32(acc[i]);
        }
      } else {
        // Split-K: add this piece's sums into the workspace; the tile's last piece rounds them.
#pragma unroll
        for (int i = 0; i < 64; ++i) {
          const int half = (i >> 1) & 1;
          const int64_t row = in.a_row0 + row_lo + 8 * half, col = in.n0 + wgmma_d_col(t, i);
          if (row_ok[half] && col < a.n) atomic_add_f32(a.ws + row * a.n + col, acc[i]);
        }
        threadfence();
        consumers_sync();
        int32_t* last = reinterpret_cast<int32_t*>(smem + SmemLayout::kFlag);
        if (wg == 0 && t == 0) *last = atomic_add_u32(a.counters + in.tile, 1u) + 1u == static_cast<uint32_t>(a.splits);
        consumers_sync();
        if (*last) {
          threadfence();
#pragma unroll
          for (int i = 0; i < 64; ++i) {
            const int half = (i >> 1) & 1;
            const int64_t row = in.a_row0 + row_lo + 8 * half, col = in.n0 + wgmma_d_col(t, i);
            if (row_ok[half] && col < a.n) a.d[row * a.n + col] = dsbench::bf16_from_f32(ldcg_f32(a.ws + row * a.n + col));
          }
        }
      }
#pragma unroll
      for (int i = 0; i < 64; ++i) acc[i] = 0.0f;
    }
    advance(ring);
  }
}
#endif  // DSB_SM90_BODY

// The persistent kernel: grid = min(tiles, SMs) blocks of kThreads, kSmemBytes of dynamic shared memory.
__global__ void __launch_bounds__(kThreads, 1) gemm_fp8_sm90_kernel(const __grid_constant__ Args a) {
#if defined(DSB_SM90_BODY)
  DSB_EXTERN_SHARED(uint8_t, smem_raw);
  const uint32_t raw = smem_addr(smem_raw);
  uint8_t* smem = smem_raw + (((raw + 1023u) & ~1023u) - raw);
  const int tid = static_cast<int>(threadIdx.x);
  if (tid == 0) {
    uint64_t* full = reinterpret_cast<uint64_t*>(smem + SmemLayout::kFull);
    uint64_t* empty = reinterpret_cast<uint64_t*>(smem + SmemLayout::kEmpty);
    for (int s = 0; s < kStages; ++s) {
      mbar_init(&full[s], 1);                             // the producer's arrive (+ the TMA bytes)
      mbar_init(&empty[s], 128 * kConsumerWarpgroups);    // every consumer thread
    }
    fence_barrier_init();
  }
  __syncthreads();
  // Registers: 40 for the producer warpgroup, 232 for each consumer one (128 x 40 + 256 x 232 <= 64 Ki).
  if (tid < 128) {
    regs_dec<kProducerRegs>();
    if (tid == 0) producer_loop(a, smem);  // the rest of the producer warpgroup has nothing to do
  } else {
    regs_inc<kConsumerRegs>();
    consumer_loop(a, smem, tid / 128 - 1, tid % 128);
  }
#elif defined(__CUDA_ARCH__)
  __trap();  // not an sm_90a build: supports() refuses devices other than compute capability 9.0
#endif
}

}  // namespace dsbench::cuda::sm90
