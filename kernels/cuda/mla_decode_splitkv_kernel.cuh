// Device code of the split-KV MLA decode (the design is described in mla_decode_splitkv.cu): the
// page loader, the attention kernel and the combine kernel. A header so that the SIMT emulator of
// tests/cuda/emu can compile the same bodies for the CPU.
#pragma once

#include <algorithm>
#include <cstdint>

#include "dsbench/numerics/bf16.hpp"
#include "dsbench/numerics/fp8.hpp"
#include "kernels/cuda/mla_decode_splitkv.hpp"
#include "kernels/cuda/mma_fragment.hpp"
#include "kernels/gpu/mla_decode_gpu_common.cuh"

#ifndef DSB_EXTERN_SHARED
#define DSB_EXTERN_SHARED(type, name) extern __shared__ __align__(16) type name[]
#endif

namespace dsbench::cuda::splitkv {


using gpu::MlaGeometry;

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr int kRows = 16;                   // query rows per block: one mma M tile
constexpr int kPage = 64;                   // tokens per page = tokens per step
constexpr int kDqk = 576, kDv = 512;
constexpr int kTokensPerWarp = kPage / kWarps;  // 16: two 8-wide n tiles of scores
constexpr int kDvPerWarp = kDv / kWarps;        // 128: sixteen 8-wide n tiles of output
constexpr int kStride = kDqk + 8;   // BF16 per shared row: +16 bytes makes fragment loads conflict-free
constexpr int kPStride = kPage + 8;
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

struct Smem {
  uint16_t q[kRows * kStride];
  uint16_t k[kPage * kStride];
  uint16_t p[kRows * kPStride];
  float red_max[kWarps][kRows];
  float red_sum[kWarps][kRows];
  float lut[256];  // E4M3FN code -> value (FP8 cache)
  int bad;
};

struct Args {
  MlaGeometry g;
  float scale_log2;  // softmax_scale * log2(e): scores in log2 units, exp2 for the weights
  bool causal, fp8;
  int32_t row_tiles, num_splits, pages_per_split;
  const uint16_t* q;
  const void* cache;
  const int32_t* block_table;
  const int32_t* seqlens;
  float* ws_o;    // [num_splits, rows, d_v]
  float* ws_lse;  // [num_splits, rows]
  uint16_t* out;
  float* lse;
};

__device__ __forceinline__ float neg_inf() { return __int_as_float(static_cast<int>(0xff800000u)); }
__device__ __forceinline__ float pos_inf() { return __int_as_float(0x7f800000); }
__device__ __forceinline__ float qnan() { return __int_as_float(0x7fc00000); }

__device__ __forceinline__ uint32_t ld_u32(const uint16_t* p) { return *reinterpret_cast<const uint32_t*>(p); }
__device__ __forceinline__ uint32_t pack(uint16_t lo, uint16_t hi) { return lo | (static_cast<uint32_t>(hi) << 16); }

// D += A.B for one m16n8k16 tile, BF16 operands, FP32 accumulators.
__device__ __forceinline__ void mma_bf16(float c[4], const uint32_t a[4], const uint32_t b[2]) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#elif defined(DSB_EMU_MMA_BF16)
  DSB_EMU_MMA_BF16(c, a, b);  // tests/cuda/emu: the instruction's definition, on the CPU
#else
  __trap();  // supports() refuses devices below compute capability 8.0
#endif
}

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  const uint32_t s = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(s), "l"(gmem));
#else
  *static_cast<uint4*>(smem) = *static_cast<const uint4*>(gmem);
#endif
}

__device__ __forceinline__ void cp_async_wait_all() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_all;\n" ::);
#endif
}

// Copies logical page `lp` of sequence i (its first `valid` slots) into s.k as BF16 rows; the rest
// of the tile is zero. A page index outside the cache sets s.bad and loads nothing.
__device__ void load_page(const Args& a, Smem& s, int32_t i, int32_t kvh, int64_t lp, int valid) {
  const MlaGeometry& g = a.g;
  const int64_t pg = gpu::mla_page(g, a.block_table, i, lp);
  if (pg < 0) {
    if (threadIdx.x == 0) s.bad = 1;
    valid = 0;
  }
  const uint4 zero = make_uint4(0, 0, 0, 0);
  if (!a.fp8) {
    constexpr int kChunks = kDqk * 2 / 16;  // 72 x 16 bytes per token
    for (int c = threadIdx.x; c < kPage * kChunks; c += kThreads) {
      const int tok = c / kChunks, ch = c % kChunks;
      uint16_t* dst = s.k + tok * kStride + ch * 8;
      if (tok < valid)
        cp_async16(dst, gpu::mla_token(g, a.cache, pg, tok, kvh) + ch * 16);
      else
        *reinterpret_cast<uint4*>(dst) = zero;
    }
    cp_async_wait_all();
    return;
  }
  // FP8 token: 32 chunks of 16 codes (dims 16c..16c+15, scale c / 8) and 8 chunks of 8 BF16 RoPE dims.
  constexpr int kChunks = 40;
  for (int c = threadIdx.x; c < kPage * kChunks; c += kThreads) {
    const int tok = c / kChunks, ch = c % kChunks;
    if (tok >= valid) {
      uint16_t* dst = s.k + tok * kStride + (ch < 32 ? ch * 16 : 512 + (ch - 32) * 8);
      *reinterpret_cast<uint4*>(dst) = zero;
      if (ch < 32) *reinterpret_cast<uint4*>(dst + 8) = zero;
      continue;
    }
    const uint8_t* tp = gpu::mla_token(g, a.cache, pg, tok, kvh);
    if (ch >= 32) {
      *reinterpret_cast<uint4*>(s.k + tok * kStride + 512 + (ch - 32) * 8) =
          *reinterpret_cast<const uint4*>(tp + 528 + (ch - 32) * 16);
      continue;
    }
    const uint4 codes = *reinterpret_cast<const uint4*>(tp + ch * 16);
    const float scale = reinterpret_cast<const float*>(tp + 512)[ch / 8];
    const uint32_t w[4] = {codes.x, codes.y, codes.z, codes.w};
    uint32_t o[8];
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      const uint32_t word = w[e / 2] >> ((e % 2) * 16);
      o[e] = pack(bf16_from_f32(s.lut[word & 0xff] * scale), bf16_from_f32(s.lut[(word >> 8) & 0xff] * scale));
    }
    uint16_t* dst = s.k + tok * kStride + ch * 16;
    *reinterpret_cast<uint4*>(dst) = make_uint4(o[0], o[1], o[2], o[3]);
    *reinterpret_cast<uint4*>(dst + 8) = make_uint4(o[4], o[5], o[6], o[7]);
  }
}

__global__ void __launch_bounds__(kThreads) mla_splitkv_kernel(Args a) {
  DSB_EXTERN_SHARED(unsigned char, smem_raw);
  Smem& s = *reinterpret_cast<Smem*>(smem_raw);
  const MlaGeometry& g = a.g;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

  // blockIdx.x = (i * h_kv + kvh) * row_tiles + tile; blockIdx.y = split.
  const int32_t tile = blockIdx.x % a.row_tiles;
  const int32_t kvh = (blockIdx.x / a.row_tiles) % g.h_kv;
  const int32_t i = blockIdx.x / (a.row_tiles * g.h_kv);
  const int32_t split = blockIdx.y;
  const int32_t hpg = g.h_q / g.h_kv;             // query heads per KV head
  const int32_t rows_here = g.s_q * hpg;          // rows sharing this KV head
  const int64_t rows_total = static_cast<int64_t>(g.b) * g.s_q * g.h_q;

  const int64_t len = gpu::mla_checked_len(g, a.seqlens, i);
  if (threadIdx.x == 0) s.bad = len < 0;
  for (int c = threadIdx.x; c < 256; c += kThreads) s.lut[c] = fp8_decode(static_cast<uint8_t>(c), DSB_DTYPE_E4M3FN);

  // The 16 query rows: local row r -> (query t, head h); rows past rows_here are zero and discarded.
  constexpr int kQChunks = kDqk * 2 / 16;
  for (int c = threadIdx.x; c < kRows * kQChunks; c += kThreads) {
    const int r = c / kQChunks, ch = c % kQChunks;
    const int32_t rg = tile * kRows + r;
    uint4 v = make_uint4(0, 0, 0, 0);
    if (rg < rows_here) {
      const int32_t t = rg / hpg, h = kvh * hpg + rg % hpg;
      v = *reinterpret_cast<const uint4*>(a.q + ((static_cast<int64_t>(i) * g.s_q + t) * g.h_q + h) * kDqk + ch * 8);
    }
    *reinterpret_cast<uint4*>(s.q + r * kStride + ch * 8) = v;
  }

  // This lane's two rows (mma rows `group` and `group + 8`): visible keys, running max and sum.
  int64_t nvis[2];
  float m[2] = {neg_inf(), neg_inf()}, l[2] = {0.0f, 0.0f};
#pragma unroll
  for (int hf = 0; hf < 2; ++hf) {
    const int32_t rg = tile * kRows + mma_group(lane) + 8 * hf;
    nvis[hf] = (rg < rows_here && len > 0) ? gpu::mla_visible(len, g.s_q, rg / hpg, a.causal) : 0;
  }
  float o[kDvPerWarp / 8][4];
#pragma unroll
  for (int nt = 0; nt < kDvPerWarp / 8; ++nt) o[nt][0] = o[nt][1] = o[nt][2] = o[nt][3] = 0.0f;

  const int64_t pages = len > 0 ? (len + kPage - 1) / kPage : 0;
  const int64_t lp0 = static_cast<int64_t>(split) * a.pages_per_split;
  const int64_t lp1 = std::min<int64_t>(pages, lp0 + a.pages_per_split);
  __syncthreads();

  // s.bad is read only right after a barrier, so every thread leaves the loop together.
  for (int64_t lp = lp0; lp < lp1; ++lp) {
    const int valid = static_cast<int>(std::min<int64_t>(kPage, len - lp * kPage));
    load_page(a, s, i, kvh, lp, valid);
    __syncthreads();
    if (s.bad) break;

    // Scores of tokens 16w .. 16w+15: two n tiles.
    float sc[2][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}};
#pragma unroll 4
    for (int kk = 0; kk < kDqk / 16; ++kk) {
      uint32_t af[4];
#pragma unroll
      for (int r = 0; r < 4; ++r) af[r] = ld_u32(s.q + mma_a_row(lane, r) * kStride + kk * 16 + mma_a_col(lane, r, 0));
#pragma unroll
      for (int nt = 0; nt < 2; ++nt) {
        const uint16_t* krow = s.k + (warp * kTokensPerWarp + nt * 8 + mma_b_col(lane)) * kStride + kk * 16;
        const uint32_t bf[2] = {ld_u32(krow + mma_b_row(lane, 0, 0)), ld_u32(krow + mma_b_row(lane, 1, 0))};
        mma_bf16(sc[nt], af, bf);
      }
    }
    // Scale, mask past each row's visible keys, and the row maxima of this warp's 16 tokens.
    float mx[2] = {neg_inf(), neg_inf()};
#pragma unroll
    for (int nt = 0; nt < 2; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int hf = e >> 1;
        const int64_t j = lp * kPage + warp * kTokensPerWarp + nt * 8 + mma_c_col(lane, e);
        sc[nt][e] = j < nvis[hf] ? sc[nt][e] * a.scale_log2 : neg_inf();
        mx[hf] = fmaxf(mx[hf], sc[nt][e]);
      }
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
      mx[hf] = fmaxf(mx[hf], __shfl_xor_sync(0xffffffffu, mx[hf], 1));
      mx[hf] = fmaxf(mx[hf], __shfl_xor_sync(0xffffffffu, mx[hf], 2));
      if ((lane & 3) == 0) s.red_max[warp][mma_group(lane) + 8 * hf] = mx[hf];
    }
    __syncthreads();

    float m_new[2], sum[2] = {0.0f, 0.0f};
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
      m_new[hf] = m[hf];
#pragma unroll
      for (int w = 0; w < kWarps; ++w) m_new[hf] = fmaxf(m_new[hf], s.red_max[w][mma_group(lane) + 8 * hf]);
    }
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {
      float pv[4];
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int hf = e >> 1;
        pv[e] = m_new[hf] == neg_inf() ? 0.0f : exp2f(sc[nt][e] - m_new[hf]);
        sum[hf] += pv[e];
      }
      const int col = warp * kTokensPerWarp + nt * 8 + mma_c_col(lane, 0);
      *reinterpret_cast<uint32_t*>(s.p + mma_c_row(lane, 0) * kPStride + col) = pack(bf16_from_f32(pv[0]), bf16_from_f32(pv[1]));
      *reinterpret_cast<uint32_t*>(s.p + mma_c_row(lane, 2) * kPStride + col) = pack(bf16_from_f32(pv[2]), bf16_from_f32(pv[3]));
    }
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
      sum[hf] += __shfl_xor_sync(0xffffffffu, sum[hf], 1);
      sum[hf] += __shfl_xor_sync(0xffffffffu, sum[hf], 2);
      if ((lane & 3) == 0) s.red_sum[warp][mma_group(lane) + 8 * hf] = sum[hf];
    }
    __syncthreads();

    float alpha[2];
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
      alpha[hf] = m[hf] == neg_inf() ? 0.0f : exp2f(m[hf] - m_new[hf]);
      float tile_sum = 0.0f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) tile_sum += s.red_sum[w][mma_group(lane) + 8 * hf];
      l[hf] = l[hf] * alpha[hf] + tile_sum;
      m[hf] = m_new[hf];
    }
#pragma unroll
    for (int nt = 0; nt < kDvPerWarp / 8; ++nt)
#pragma unroll
      for (int e = 0; e < 4; ++e) o[nt][e] *= alpha[e >> 1];

    // out[:, 128w .. 128w+127] += P (16 x 64) . V (64 x 128); V = the first 512 dims of the keys.
#pragma unroll
    for (int kk = 0; kk < kPage / 16; ++kk) {
      uint32_t af[4];
#pragma unroll
      for (int r = 0; r < 4; ++r) af[r] = ld_u32(s.p + mma_a_row(lane, r) * kPStride + kk * 16 + mma_a_col(lane, r, 0));
#pragma unroll
      for (int nt = 0; nt < kDvPerWarp / 8; ++nt) {
        const int n = warp * kDvPerWarp + nt * 8 + mma_b_col(lane);
        uint32_t bf[2];
#pragma unroll
        for (int r = 0; r < 2; ++r)
          bf[r] = pack(s.k[(kk * 16 + mma_b_row(lane, r, 0)) * kStride + n], s.k[(kk * 16 + mma_b_row(lane, r, 1)) * kStride + n]);
        mma_bf16(o[nt], af, bf);
      }
    }
    __syncthreads();  // the next page overwrites s.k, s.p and the reductions
  }

  // This piece's normalised output and natural log-sum-exp (-inf when it saw no key).
  const bool poisoned = s.bad != 0;
#pragma unroll
  for (int hf = 0; hf < 2; ++hf) {
    const int32_t rg = tile * kRows + mma_group(lane) + 8 * hf;
    if (rg >= rows_here) continue;
    const int32_t t = rg / hpg, h = kvh * hpg + rg % hpg;
    const int64_t row = (static_cast<int64_t>(i) * g.s_q + t) * g.h_q + h;
    const float inv = l[hf] > 0.0f ? 1.0f / l[hf] : 0.0f;
    float* dst = a.ws_o + (static_cast<int64_t>(split) * rows_total + row) * kDv + warp * kDvPerWarp;
#pragma unroll
    for (int nt = 0; nt < kDvPerWarp / 8; ++nt) {
      const int col = nt * 8 + mma_c_col(lane, 2 * hf);
      dst[col] = poisoned ? qnan() : o[nt][2 * hf] * inv;
      dst[col + 1] = poisoned ? qnan() : o[nt][2 * hf + 1] * inv;
    }
    if (warp == 0 && (lane & 3) == 0)
      a.ws_lse[static_cast<int64_t>(split) * rows_total + row] =
          poisoned ? qnan() : (l[hf] > 0.0f ? (m[hf] + log2f(l[hf])) * kLn2 : neg_inf());
  }
}

// One block per row (sequence, query, head): merges the pieces by their log-sum-exps.
__global__ void __launch_bounds__(kThreads) mla_splitkv_combine(Args a) {
  const MlaGeometry& g = a.g;
  const int64_t row = blockIdx.x;
  const int64_t rows_total = static_cast<int64_t>(g.b) * g.s_q * g.h_q;
  float mx = neg_inf();
  bool nan = false;
  for (int sp = 0; sp < a.num_splits; ++sp) {
    const float v = a.ws_lse[sp * rows_total + row];
    nan |= v != v;
    mx = fmaxf(mx, v);
  }
  float total = 0.0f;
  if (!nan && mx != neg_inf())
    for (int sp = 0; sp < a.num_splits; ++sp) total += expf(a.ws_lse[sp * rows_total + row] - mx);
  const float lse = nan ? qnan() : (mx == neg_inf() ? pos_inf() : mx + logf(total));
  for (int d = threadIdx.x; d < kDv; d += kThreads) {
    float acc = 0.0f;
    if (nan) {
      acc = qnan();
    } else if (mx != neg_inf()) {
      for (int sp = 0; sp < a.num_splits; ++sp) {
        const float w = a.ws_lse[sp * rows_total + row];
        if (w != neg_inf()) acc += expf(w - lse) * a.ws_o[(sp * rows_total + row) * kDv + d];
      }
    }
    a.out[row * kDv + d] = bf16_from_f32(acc);
  }
  if (threadIdx.x == 0) {
    const int32_t h = static_cast<int32_t>(row % g.h_q);
    const int32_t t = static_cast<int32_t>((row / g.h_q) % g.s_q);
    const int64_t i = row / (static_cast<int64_t>(g.h_q) * g.s_q);
    a.lse[(i * g.h_q + h) * g.s_q + t] = lse;
  }
}

// The kernels' arguments for params p under plan, over a workspace of plan.workspace_bytes.
inline Args make_args(const dsb_mla_decode_params& p, const MlaSplitPlan& plan, void* workspace) {
  const bool fp8 = p.kv_dtype == DSB_DTYPE_E4M3FN;
  const int64_t rows_total = static_cast<int64_t>(p.b) * p.s_q * p.h_q;
  float* ws = static_cast<float*>(workspace);
  return Args{MlaGeometry{p.b, p.s_q, p.h_q, p.h_kv, p.d_qk, p.d_v, p.page_block_size, p.num_blocks,
                          p.max_blocks_per_seq, fp8 ? int64_t{DSB_MLA_FP8_TOKEN_BYTES} : 2 * int64_t{p.d_qk}},
              p.softmax_scale * kLog2e, p.causal != 0, fp8, plan.row_tiles, plan.num_splits, plan.pages_per_split,
              static_cast<const uint16_t*>(p.q), p.kv_cache, p.block_table, p.cache_seqlens,
              ws, ws + static_cast<int64_t>(plan.num_splits) * rows_total * kDv, static_cast<uint16_t*>(p.out), p.lse};
}

}  // namespace dsbench::cuda::splitkv
