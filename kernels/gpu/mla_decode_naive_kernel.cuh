// Device code of the portable MLA decode (the design is described in mla_decode_naive.cu). A
// header so that the SIMT emulator of tests/cuda/emu can compile the same body for the CPU.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dsbench/numerics/bf16.hpp"
#include "dsbench/numerics/fp8.hpp"
#include "kernels/gpu/mla_decode_gpu_common.cuh"
#include "kernels/gpu/mla_decode_naive.hpp"

#ifndef DSB_EXTERN_SHARED
#define DSB_EXTERN_SHARED(type, name) extern __shared__ __align__(16) type name[]
#endif

namespace dsbench::gpu::mla_naive {


constexpr int kThreads = 128;
constexpr int kDvPerThread = kMlaNaiveMaxDv / kThreads;
static_assert(kMlaNaiveMaxDv % kThreads == 0, "output dims split evenly over the block");

struct DecodeTable {
  float v[256];  // E4M3FN code -> value, built on the host with the shared codec
};

struct Args {
  MlaGeometry g;
  float scale;
  bool causal, fp8;
  const uint16_t* q;
  const void* cache;
  const int32_t* block_table;
  const int32_t* seqlens;
  uint16_t* out;
  float* lse;
};

__device__ __forceinline__ float pos_inf() { return __int_as_float(0x7f800000); }
__device__ __forceinline__ float neg_inf() { return __int_as_float(static_cast<int>(0xff800000u)); }
__device__ __forceinline__ float qnan() { return __int_as_float(0x7fc00000); }

// Dim d of a cached key: BF16 as stored, or (FP8 token) code x its group's FP32 scale for the 512
// latent dims and the BF16 RoPE part after the scales.
__device__ __forceinline__ float key_at(const Args& a, const DecodeTable& lut, const uint8_t* tok, int d) {
  if (!a.fp8) return bf16_to_f32(reinterpret_cast<const uint16_t*>(tok)[d]);
  if (d < 512) return lut.v[tok[d]] * reinterpret_cast<const float*>(tok + 512)[d / 128];
  return bf16_to_f32(reinterpret_cast<const uint16_t*>(tok + 528)[d - 512]);
}

__global__ void mla_decode_naive_kernel(Args a, DecodeTable lut) {
  DSB_EXTERN_SHARED(float, smem);
  float* q = smem;                 // [d_qk]
  float* s = smem + a.g.d_qk;      // [kThreads] this chunk's scores
  __shared__ int bad;              // a bad page was met: the row is poisoned

  const MlaGeometry& g = a.g;
  const int64_t row = blockIdx.x;  // ((i * s_q + t) * h_q + h)
  const int32_t h = static_cast<int32_t>(row % g.h_q);
  const int32_t t = static_cast<int32_t>((row / g.h_q) % g.s_q);
  const int32_t i = static_cast<int32_t>(row / (static_cast<int64_t>(g.h_q) * g.s_q));
  const int32_t kvh = h / (g.h_q / g.h_kv);
  const int tid = threadIdx.x;

  const int64_t len = mla_checked_len(g, a.seqlens, i);
  const int64_t n = len < 0 ? 0 : mla_visible(len, g.s_q, t, a.causal);
  if (tid == 0) bad = len < 0;
  for (int d = tid; d < g.d_qk; d += kThreads) q[d] = bf16_to_f32(a.q[row * g.d_qk + d]);
  __syncthreads();

  float acc[kDvPerThread];
#pragma unroll
  for (int c = 0; c < kDvPerThread; ++c) acc[c] = 0.0f;
  float m = neg_inf(), l = 0.0f;

  // `bad` is read only right after a barrier, so every thread leaves the loop together.
  for (int64_t base = 0; base < n; base += kThreads) {
    const int64_t j = base + tid;
    float score = neg_inf();
    if (j < n) {
      const int64_t pg = mla_page(g, a.block_table, i, j / g.page);
      if (pg < 0) {
        bad = 1;
      } else {
        const uint8_t* tok = mla_token(g, a.cache, pg, j % g.page, kvh);
        float dot = 0.0f;
        for (int d = 0; d < g.d_qk; ++d) dot = fmaf(q[d], key_at(a, lut, tok, d), dot);
        score = dot * a.scale;
      }
    }
    s[tid] = score;
    __syncthreads();
    if (bad) break;  // uniform: every thread reads the flag after the barrier
    const int cnt = static_cast<int>(n - base < kThreads ? n - base : kThreads);
    float mt = neg_inf();
    for (int k = 0; k < cnt; ++k) mt = fmaxf(mt, s[k]);
    const float m_new = fmaxf(m, mt);
    const float alpha = m == neg_inf() ? 0.0f : expf(m - m_new);
    l *= alpha;
#pragma unroll
    for (int c = 0; c < kDvPerThread; ++c) acc[c] *= alpha;
    for (int k = 0; k < cnt; ++k) {
      const float p = expf(s[k] - m_new);
      l += p;
      const int64_t jk = base + k;  // its page was checked when its score was formed
      const uint8_t* tok = mla_token(g, a.cache, mla_page(g, a.block_table, i, jk / g.page), jk % g.page, kvh);
#pragma unroll
      for (int c = 0; c < kDvPerThread; ++c) {
        const int d = tid + c * kThreads;
        if (d < g.d_v) acc[c] = fmaf(p, key_at(a, lut, tok, d), acc[c]);
      }
    }
    m = m_new;
    __syncthreads();  // s[] is rewritten by the next chunk
  }

  const bool poisoned = bad != 0;
#pragma unroll
  for (int c = 0; c < kDvPerThread; ++c) {
    const int d = tid + c * kThreads;
    if (d >= g.d_v) continue;
    const float v = poisoned ? qnan() : (n == 0 ? 0.0f : acc[c] / l);
    a.out[row * g.d_v + d] = bf16_from_f32(v);
  }
  if (tid == 0)
    a.lse[(static_cast<int64_t>(i) * g.h_q + h) * g.s_q + t] = poisoned ? qnan() : (n == 0 ? pos_inf() : m + logf(l));
}

// The kernel's arguments and FP8 table for params p.
inline Args make_args(const dsb_mla_decode_params& p) {
  const bool fp8 = p.kv_dtype == DSB_DTYPE_E4M3FN;
  return Args{MlaGeometry{p.b, p.s_q, p.h_q, p.h_kv, p.d_qk, p.d_v, p.page_block_size, p.num_blocks,
                          p.max_blocks_per_seq, fp8 ? int64_t{DSB_MLA_FP8_TOKEN_BYTES} : 2 * int64_t{p.d_qk}},
              p.softmax_scale, p.causal != 0, fp8, static_cast<const uint16_t*>(p.q), p.kv_cache, p.block_table,
              p.cache_seqlens, static_cast<uint16_t*>(p.out), p.lse};
}
inline DecodeTable make_table() {
  DecodeTable lut;
  for (int c = 0; c < 256; ++c) lut.v[c] = fp8_decode(static_cast<uint8_t>(c), DSB_DTYPE_E4M3FN);
  return lut;
}
inline size_t smem_bytes(const dsb_mla_decode_params& p) { return (static_cast<size_t>(p.d_qk) + kThreads) * sizeof(float); }

}  // namespace dsbench::gpu::mla_naive
