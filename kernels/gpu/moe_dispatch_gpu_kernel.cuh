// Device code of the portable MoE dispatch and combine for one device (world size 1): counts per
// expert, offsets (each expert's rows padded to 128 in the contiguous layout), the scatter of every
// (token, slot) pair with the 1x128 FP8 cast fused (bit-identical to reference/quantize.cpp through
// fp8_block_scale and the shared codec), and the weighted combine through the inverse of recv_src.
// Row order within an expert follows atomic arrival (the contract leaves it free). A header, with
// the launch sequences written once over a launcher, so the SIMT emulator runs exactly this code.
#pragma once

#include <cstdint>

#include "dsbench/numerics/bf16.hpp"
#include "dsbench/numerics/fp8.hpp"
#include "dsbench/ops.h"
#include "dsbench/status.hpp"

#ifndef DSB_GPU_ATOMIC_ADD
#define DSB_GPU_ATOMIC_ADD(ptr, v) atomicAdd((ptr), (v))
#endif

namespace dsbench::gpu::moe {

constexpr int kThreads = 128;  // one FP8 block of 128 channels per pass: thread i owns channel i
constexpr int64_t kRowAlign = 128;

struct Workspace {  // carved from the kernel's workspace
  int32_t* counts;  // [E] pairs per expert
  int32_t* cursor;  // [E] rows handed out so far
  int64_t* offset;  // [E] first row of each expert (contiguous)
};

inline size_t dispatch_workspace_bytes(int32_t num_experts) { return static_cast<size_t>(num_experts) * 16; }
inline Workspace carve(void* ws, int32_t e) {
  auto* p = static_cast<uint8_t*>(ws);
  return {reinterpret_cast<int32_t*>(p), reinterpret_cast<int32_t*>(p + 4 * e), reinterpret_cast<int64_t*>(p + 8 * e)};
}

__global__ void moe_count_kernel(dsb_moe_dispatch_params p, Workspace w) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < p.num_tokens; t += stride) {
    int any = 0;
    for (int j = 0; j < p.topk; ++j) {
      const int32_t e = p.topk_idx[t * p.topk + j];
      if (e < 0 || e >= p.num_experts) continue;  // -1 is an unused slot; others are refused by validation
      DSB_GPU_ATOMIC_ADD(&w.counts[e], 1);
      any = 1;
    }
    p.is_token_in_rank[t] = any;
    if (any) DSB_GPU_ATOMIC_ADD(&p.num_tokens_per_rank[0], 1);
  }
}

// One thread: the expert offsets, the counts outputs and the rows used.
__global__ void moe_offsets_kernel(dsb_moe_dispatch_params p, Workspace w) {
  if (threadIdx.x != 0 || blockIdx.x != 0) return;
  int64_t off = 0;
  for (int32_t e = 0; e < p.num_experts; ++e) {
    w.offset[e] = off;
    off += (w.counts[e] + kRowAlign - 1) / kRowAlign * kRowAlign;
    p.recv_count[e] = w.counts[e];
    p.num_tokens_per_expert[e] = w.counts[e];
  }
  if (p.layout == DSB_MOE_LAYOUT_CONTIGUOUS) *p.num_recv_rows = off;
}

// Contiguous: every row starts as padding (-1s); the scatter overwrites the delivered ones.
__global__ void moe_padding_kernel(dsb_moe_dispatch_params p) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; r < p.recv_capacity; r += stride) {
    p.recv_m_indices[r] = -1;
    p.recv_src[r * 3] = p.recv_src[r * 3 + 1] = p.recv_src[r * 3 + 2] = -1;
  }
}

// One block per (token, slot) pair: claims a row of its expert, then copies or quantises the token.
__global__ void moe_scatter_kernel(dsb_moe_dispatch_params p, Workspace w) {
  __shared__ int64_t row_s;
  __shared__ float red[kThreads];
  const int64_t pair = blockIdx.x;
  const int64_t t = pair / p.topk;
  const int32_t j = static_cast<int32_t>(pair % p.topk);
  const int tid = threadIdx.x;
  if (tid == 0) {
    const int32_t e = p.topk_idx[pair];
    int64_t row = -1;
    if (e >= 0 && e < p.num_experts) {
      const int64_t k = DSB_GPU_ATOMIC_ADD(&w.cursor[e], 1);
      if (p.layout == DSB_MOE_LAYOUT_CONTIGUOUS) {
        row = w.offset[e] + k;
        if (row >= p.recv_capacity) row = -1;  // capacity too small: nothing is written past it
      } else {
        row = k < p.recv_capacity ? static_cast<int64_t>(e) * p.recv_capacity + k : -1;
      }
      if (row >= 0) {
        p.recv_src[row * 3] = 0;
        p.recv_src[row * 3 + 1] = static_cast<int32_t>(t);
        p.recv_src[row * 3 + 2] = j;
        if (p.layout == DSB_MOE_LAYOUT_CONTIGUOUS) p.recv_m_indices[row] = e;
      }
    }
    row_s = row;
  }
  __syncthreads();
  const int64_t row = row_s;
  if (row < 0) return;  // uniform: every thread read the same value after the barrier
  const auto* x = static_cast<const uint16_t*>(p.x) + t * p.hidden;
  if (p.recv_dtype == DSB_DTYPE_BF16) {  // else an FP8 type (supports() allows no other)
    auto* out = static_cast<uint16_t*>(p.recv_x) + row * p.hidden;
    for (int32_t c = tid; c < p.hidden; c += kThreads) out[c] = x[c];
    return;
  }
  auto* out = static_cast<uint8_t*>(p.recv_x) + row * p.hidden;
  const int32_t blocks = p.hidden / 128;
  const bool ue8m0 = p.scale_dtype == DSB_DTYPE_UE8M0;
  for (int32_t b = 0; b < blocks; ++b) {
    const float v = bf16_to_f32(x[b * 128 + tid]);
    red[tid] = fabsf(v);
    __syncthreads();
    for (int s = kThreads / 2; s > 0; s >>= 1) {
      if (tid < s) red[tid] = fmaxf(red[tid], red[tid + s]);
      __syncthreads();
    }
    const float scale = fp8_block_scale(red[0], p.recv_dtype, ue8m0);
    out[b * 128 + tid] = fp8_encode(v / scale, p.recv_dtype);
    if (tid == 0) {
      if (ue8m0) static_cast<uint8_t*>(p.recv_scale)[row * blocks + b] = ue8m0_from_f32_ceil(scale);
      else static_cast<float*>(p.recv_scale)[row * blocks + b] = scale;
    }
    __syncthreads();  // red[] is rewritten by the next block
  }
}

// inv[t * topk + j] = the row that holds pair (t, j); rows are found through recv_src.
__global__ void moe_inverse_kernel(dsb_moe_combine_params p, int32_t* inv) {
  const int64_t rows = p.layout == DSB_MOE_LAYOUT_CONTIGUOUS ? p.recv_capacity
                                                             : static_cast<int64_t>(p.num_experts) * p.recv_capacity;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += stride) {
    if (p.layout == DSB_MOE_LAYOUT_MASKED && r % p.recv_capacity >= p.recv_count[r / p.recv_capacity]) continue;
    const int32_t* s = p.recv_src + r * 3;
    if (s[0] != 0 || s[1] < 0 || s[1] >= p.num_tokens || s[2] < 0 || s[2] >= p.topk) continue;  // padding
    inv[static_cast<int64_t>(s[1]) * p.topk + s[2]] = static_cast<int32_t>(r);
  }
}

// One block per token: out[t, c] = sum over its slots of w * y[row, c], FP32, slots in order.
__global__ void moe_combine_kernel(dsb_moe_combine_params p, const int32_t* inv) {
  const int64_t t = blockIdx.x;
  const auto* y = static_cast<const uint16_t*>(p.expert_out);
  auto* out = static_cast<uint16_t*>(p.out) + t * p.hidden;
  for (int32_t c = threadIdx.x; c < p.hidden; c += kThreads) {
    float acc = 0.0f;
    for (int j = 0; j < p.topk; ++j) {
      const int32_t r = inv[t * p.topk + j];
      if (r >= 0) acc = fmaf(p.topk_weights[t * p.topk + j], bf16_to_f32(y[static_cast<int64_t>(r) * p.hidden + c]), acc);
    }
    out[c] = bf16_from_f32(acc);
  }
}

inline unsigned grid_for(int64_t n) { return static_cast<unsigned>(n <= 0 ? 1 : (n + kThreads - 1) / kThreads < 4096 ? (n + kThreads - 1) / kThreads : 4096); }

// The launch sequences, over L: L.fill(ptr, byte, bytes) and L.launch(kernel, grid, args...) with
// kThreads threads per block, both
// enqueueing in order (a CUDA/HIP stream, or the emulator).
template <class L>
Status dispatch_sequence(const dsb_moe_dispatch_params& p, void* workspace, L& l) {
  const Workspace w = carve(workspace, p.num_experts);
  if (Status s = l.fill(workspace, 0, dispatch_workspace_bytes(p.num_experts)); !s.ok()) return s;
  if (Status s = l.fill(p.num_tokens_per_rank, 0, 4); !s.ok()) return s;
  if (Status s = l.launch(moe_count_kernel, grid_for(p.num_tokens), p, w); !s.ok()) return s;
  if (Status s = l.launch(moe_offsets_kernel, 1u, p, w); !s.ok()) return s;
  if (p.layout == DSB_MOE_LAYOUT_CONTIGUOUS)
    if (Status s = l.launch(moe_padding_kernel, grid_for(p.recv_capacity), p); !s.ok()) return s;
  const int64_t pairs = static_cast<int64_t>(p.num_tokens) * p.topk;
  if (pairs == 0) return Status::success();
  return l.launch(moe_scatter_kernel, static_cast<unsigned>(pairs), p, w);
}

template <class L>
Status combine_sequence(const dsb_moe_combine_params& p, void* workspace, L& l) {
  auto* inv = static_cast<int32_t*>(workspace);
  const int64_t pairs = static_cast<int64_t>(p.num_tokens) * p.topk;
  if (pairs == 0) return Status::success();
  if (Status s = l.fill(inv, 0xff, static_cast<size_t>(pairs) * 4); !s.ok()) return s;  // -1: no row
  const int64_t rows = p.layout == DSB_MOE_LAYOUT_CONTIGUOUS ? p.recv_capacity
                                                             : static_cast<int64_t>(p.num_experts) * p.recv_capacity;
  if (Status s = l.launch(moe_inverse_kernel, grid_for(rows), p, inv); !s.ok()) return s;
  return l.launch(moe_combine_kernel, static_cast<unsigned>(p.num_tokens), p, static_cast<const int32_t*>(inv));
}

}  // namespace dsbench::gpu::moe
