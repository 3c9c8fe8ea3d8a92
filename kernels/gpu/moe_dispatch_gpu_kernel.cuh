// Device code of the portable MoE dispatch and combine, and their launch sequences.
//
// One device (world size 1): counts per expert, offsets (each expert's rows padded to 128 in the
// contiguous layout), one thread per (token, slot) pair claiming its row, then the token-major cast:
// each token read and quantised 1x128 once (a 1x128 block per 32 lanes, amax by shuffles, bit-identical
// to reference/quantize.cpp through fp8_block_scale and the shared codec) and written to all of its
// rows. Combine: the inverse of recv_src, then one block per token summing w * y in FP32.
//
// Expert parallelism (world size W > 1, experts split evenly): rows travel as int32 records through
// the communicator's alltoallv on the stream (NCCL/RCCL on device buffers), DeepEP's "normal" mode:
//   dispatch: count pairs per destination rank -> claim records [src, t, j, e | payload], the same
//   cast writing the payloads -> exchange the counts -> (host) read them, check every rank has room
//   -> exchange the records -> count per local expert -> offsets -> place each record in its
//   expert's rows;
//   combine: count rows per source rank -> pack [t, j | y] -> exchange -> inverse (pair -> record)
//   -> the same weighted sum, reading y from the received records.
// The host reads the exchanged counts between the two exchanges (one sync per exchange round, as
// DeepEP's normal mode does); every rank takes part in every exchange, also with no tokens.
//
// Row order within an expert follows atomic arrival (the contract leaves it free). A header, with
// the launch sequences written once over a launcher, so the SIMT emulator runs exactly this code.
// The launcher L gives:
//   L.fill(ptr, byte, bytes), L.launch(kernel, grid, args...)   enqueue in order (kThreads per block)
//   L.exchange(comm, send, send_counts, send_displs, recv, recv_counts, recv_displs, dtype)
//                                                               enqueue comm's alltoallv on the stream
//   L.wait(comm)                  block until all of the above is done (polled: a missing peer times out)
//   L.to_host(dst, src, bytes)    copy device to host, done on return (only after wait: a copy behind
//                                 an exchange whose peer never arrives would block for ever)
// (the last three only with W > 1).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "dsbench/numerics/bf16.hpp"
#include "dsbench/numerics/fp8.hpp"
#include "dsbench/ops.h"
#include "dsbench/status.hpp"

#ifndef DSB_GPU_ATOMIC_ADD
#define DSB_GPU_ATOMIC_ADD(ptr, v) atomicAdd((ptr), (v))
#endif

namespace dsbench::gpu::moe {

constexpr int kThreads = 128;  // per block, in every kernel here
constexpr int64_t kRowAlign = 128;
constexpr int64_t kHeaderWords = 4;  // of a record (expert parallelism, below)

// ---- the payload of a row: BF16 copied, or FP8 codes and 1x128 scales ------------------------------

__host__ __device__ inline int64_t payload_row_bytes(const dsb_moe_dispatch_params& p) {
  return p.recv_dtype == DSB_DTYPE_BF16 ? int64_t{2} * p.hidden : p.hidden;
}
__host__ __device__ inline int64_t payload_scale_bytes(const dsb_moe_dispatch_params& p) {
  if (p.recv_dtype == DSB_DTYPE_BF16) return 0;
  return static_cast<int64_t>(p.hidden / 128) * (p.scale_dtype == DSB_DTYPE_UE8M0 ? 1 : 4);
}

// A shuffle within a group of 32 lanes: a CUDA warp, half of a 64-lane AMD wave.
__device__ inline float lanes32_xor(float v, int mask) {
#if defined(__HIPCC__) || defined(DSB_GPU_HIP)
  return __shfl_xor(v, mask, 32);
#else
  return __shfl_xor_sync(0xffffffffu, v, mask);
#endif
}

// Where the cast writes each (token, slot) pair: where[pair] is a layout row (records null) or the
// word offset of the pair's record in records; -1 for a pair with no destination.
struct CastTarget {
  const int64_t* where;
  int32_t* records;
};
__device__ inline uint8_t* pair_row(const dsb_moe_dispatch_params& p, const CastTarget& g, int64_t at) {
  if (g.records) return reinterpret_cast<uint8_t*>(g.records + at + kHeaderWords);
  return static_cast<uint8_t*>(p.recv_x) + at * payload_row_bytes(p);
}
__device__ inline uint8_t* pair_scales(const dsb_moe_dispatch_params& p, const CastTarget& g, int64_t at) {
  if (g.records) return pair_row(p, g, at) + payload_row_bytes(p);
  return static_cast<uint8_t*>(p.recv_scale) + at * payload_scale_bytes(p);
}

constexpr int kCastChannels = 4 * kThreads;  // channels per block: 4 groups of 32 lanes x 4 channels

// Grid: tokens x ceil(hidden / 512) blocks (flattened), 128 threads. Each token is read and
// quantised once, and its codes written to every row (or record) of its pairs: a 1x128 block is one
// group of 32 lanes holding 4 channels each, its amax a 5-step shuffle (no shared memory, no block
// barrier). BF16: the same 4 channels per thread copied to every destination.
__global__ void moe_cast_kernel(dsb_moe_dispatch_params p, CastTarget g) {
  const int64_t chunks = (p.hidden + kCastChannels - 1) / kCastChannels;
  const int64_t t = blockIdx.x / chunks, chunk = blockIdx.x % chunks;
  const int tid = threadIdx.x;
  const uint16_t* x = static_cast<const uint16_t*>(p.x) + t * p.hidden;
  const int64_t* where = g.where + t * p.topk;
  if (p.recv_dtype == DSB_DTYPE_BF16) {  // else an FP8 type (supports() allows no other)
    const int64_t c0 = chunk * kCastChannels + tid * 4;
    if (c0 >= p.hidden) return;
    // 8-byte moves when every row starts 8-byte aligned (layout rows: hidden % 4 == 0; records are
    // 16-byte aligned with a 16-byte header).
    const bool vec = p.hidden % 4 == 0;
    for (int j = 0; j < p.topk; ++j) {
      if (where[j] < 0) continue;
      auto* o = reinterpret_cast<uint16_t*>(pair_row(p, g, where[j]));
      if (vec) {
        *reinterpret_cast<uint64_t*>(o + c0) = *reinterpret_cast<const uint64_t*>(x + c0);
      } else {
        for (int64_t c = c0; c < c0 + 4 && c < p.hidden; ++c) o[c] = x[c];
      }
    }
    return;
  }
  const int lane = tid % 32;
  const int64_t b = chunk * 4 + tid / 32;  // this group's 1x128 block
  if (b >= p.hidden / 128) return;         // uniform over the group
  const uint64_t bits = *reinterpret_cast<const uint64_t*>(x + b * 128 + lane * 4);
  float v[4], amax = 0.0f;
  for (int k = 0; k < 4; ++k) {
    v[k] = bf16_to_f32(static_cast<uint16_t>(bits >> (16 * k)));
    amax = fmaxf(amax, fabsf(v[k]));  // fmaxf drops NaNs, as the reference's std::max does
  }
  for (int m = 16; m > 0; m >>= 1) amax = fmaxf(amax, lanes32_xor(amax, m));
  const bool ue8m0 = p.scale_dtype == DSB_DTYPE_UE8M0;
  const float scale = fp8_block_scale(amax, p.recv_dtype, ue8m0);
  uint32_t codes = 0;
  for (int k = 0; k < 4; ++k) codes |= static_cast<uint32_t>(fp8_encode(v[k] / scale, p.recv_dtype)) << (8 * k);
  for (int j = 0; j < p.topk; ++j) {
    if (where[j] < 0) continue;
    *reinterpret_cast<uint32_t*>(pair_row(p, g, where[j]) + b * 128 + lane * 4) = codes;
    if (lane == 0) {
      uint8_t* sc = pair_scales(p, g, where[j]);
      if (ue8m0) sc[b] = ue8m0_from_f32_ceil(scale);
      else reinterpret_cast<float*>(sc)[b] = scale;
    }
  }
}

inline unsigned cast_grid(const dsb_moe_dispatch_params& p) {
  return static_cast<unsigned>(static_cast<int64_t>(p.num_tokens) * ((p.hidden + kCastChannels - 1) / kCastChannels));
}

// n elements from src to dst by the whole block.
template <class T>
__device__ inline void copy_n(const T* src, T* dst, int64_t n) {
  for (int64_t i = threadIdx.x; i < n; i += kThreads) dst[i] = src[i];
}
// n bytes by the whole block, in the widest words both ends' alignment allows (uniform over it).
__device__ inline void copy_bytes(const void* src, void* dst, int64_t n) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(src) | reinterpret_cast<uintptr_t>(dst) | static_cast<uintptr_t>(n);
  if (a % 16 == 0) copy_n(static_cast<const uint4*>(src), static_cast<uint4*>(dst), n / 16);
  else if (a % 8 == 0) copy_n(static_cast<const uint64_t*>(src), static_cast<uint64_t*>(dst), n / 8);
  else if (a % 4 == 0) copy_n(static_cast<const uint32_t*>(src), static_cast<uint32_t*>(dst), n / 4);
  else if (a % 2 == 0) copy_n(static_cast<const uint16_t*>(src), static_cast<uint16_t*>(dst), n / 2);
  else copy_n(static_cast<const uint8_t*>(src), static_cast<uint8_t*>(dst), n);
}

// ---- one device ------------------------------------------------------------------------------------

struct Workspace {  // carved from the kernel's workspace
  int32_t* counts;  // [E] pairs per expert
  int32_t* cursor;  // [E] rows handed out so far
  int64_t* offset;  // [E] first row of each expert (contiguous)
  int64_t* where;   // [T*K] the row of each pair, or -1
};

inline size_t local_counters_bytes(int32_t num_experts) { return static_cast<size_t>(num_experts) * 16; }
inline size_t local_workspace_bytes(const dsb_moe_dispatch_params& p) {
  return local_counters_bytes(p.num_experts) + static_cast<size_t>(p.num_tokens) * static_cast<size_t>(p.topk) * 8;
}
inline Workspace carve(void* ws, int32_t e) {
  auto* p = static_cast<uint8_t*>(ws);
  return {reinterpret_cast<int32_t*>(p), reinterpret_cast<int32_t*>(p + 4 * e), reinterpret_cast<int64_t*>(p + 8 * e),
          reinterpret_cast<int64_t*>(p + 16 * e)};
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

// The row the k-th pair of local expert le lands in, or -1 past the capacity (nothing is written
// past it; the check then reports the missing rows).
__device__ inline int64_t claim_row(const dsb_moe_dispatch_params& p, int64_t first_row, int32_t le, int64_t k) {
  if (p.layout == DSB_MOE_LAYOUT_CONTIGUOUS) {
    const int64_t row = first_row + k;
    return row < p.recv_capacity ? row : -1;
  }
  return k < p.recv_capacity ? static_cast<int64_t>(le) * p.recv_capacity + k : -1;
}

__device__ inline void write_row_source(const dsb_moe_dispatch_params& p, int64_t row, int32_t src, int32_t t, int32_t j,
                                        int32_t le) {
  p.recv_src[row * 3] = src;
  p.recv_src[row * 3 + 1] = t;
  p.recv_src[row * 3 + 2] = j;
  if (p.layout == DSB_MOE_LAYOUT_CONTIGUOUS) p.recv_m_indices[row] = le;
}

// One thread per (token, slot) pair: claims the next row of its expert and writes its source; the
// cast kernel then fills the rows.
__global__ void moe_claim_rows_kernel(dsb_moe_dispatch_params p, Workspace w) {
  const int64_t pairs = static_cast<int64_t>(p.num_tokens) * p.topk;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t pair = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; pair < pairs; pair += stride) {
    const int32_t e = p.topk_idx[pair];
    int64_t row = -1;
    if (e >= 0 && e < p.num_experts) {
      row = claim_row(p, w.offset[e], e, DSB_GPU_ATOMIC_ADD(&w.cursor[e], 1));
      if (row >= 0) write_row_source(p, row, 0, static_cast<int32_t>(pair / p.topk), static_cast<int32_t>(pair % p.topk), e);
    }
    w.where[pair] = row;
  }
}

// ---- expert parallelism: records through the communicator ------------------------------------------

// Records are whole multiples of 16 bytes with a 16-byte header, so payloads move in 8- and 16-byte
// words. Dispatch: [source rank, token, slot, expert | payload]; combine: [token, slot, -, - | y].

inline int64_t record_words(int64_t payload_bytes) { return (kHeaderWords + (payload_bytes + 3) / 4 + 3) / 4 * 4; }
inline int64_t dispatch_record_words(const dsb_moe_dispatch_params& p) {
  return record_words(payload_row_bytes(p) + payload_scale_bytes(p));
}
inline int64_t combine_record_words(const dsb_moe_combine_params& p) { return record_words(int64_t{2} * p.hidden); }
__host__ __device__ inline int64_t layout_rows(dsb_moe_layout layout, int64_t capacity, int64_t local_experts) {
  return layout == DSB_MOE_LAYOUT_CONTIGUOUS ? capacity : local_experts * capacity;
}

// The device side of one exchange of records: pairs per peer, where each peer's records start, and
// the int64 word counts alltoallv exchanges (on the device: NCCL reads device buffers only).
struct ExchangeWs {
  int32_t* count;        // [W] records to each peer
  int32_t* cursor;       // [W] records packed so far
  int64_t* first;        // [W] first record of each peer's run in send
  int64_t* send_words;   // [W]
  int64_t* recv_words;   // [W]
  int64_t* fits_send;    // [W] this rank can take what it is sent (nonzero) or not
  int64_t* fits_recv;    // [W]
  int32_t* send;         // records
  int32_t* recv;
};

struct DispatchEpWs {
  ExchangeWs x;
  int32_t* expert_count;  // [E] this rank's pairs per expert (num_tokens_per_expert)
  int32_t* local_count;   // [L] received records per local expert
  int32_t* local_cursor;  // [L]
  int64_t* local_first;   // [L] first row of each local expert
  int64_t* where;         // [T*K] word offset of each pair's record in send, or -1
};

// A bump allocator over the workspace, 256-byte aligned; with a null base it only counts.
struct Carver {
  uint8_t* base;
  size_t used = 0;
  template <class T>
  T* take(int64_t n) {
    T* p = base ? reinterpret_cast<T*>(base + used) : nullptr;
    used += (static_cast<size_t>(std::max<int64_t>(n, 0)) * sizeof(T) + 255) / 256 * 256;
    return p;
  }
};

inline ExchangeWs carve_exchange(Carver& c, int64_t W, int64_t send_words, int64_t recv_words) {
  ExchangeWs x;
  x.count = c.take<int32_t>(W);
  x.cursor = c.take<int32_t>(W);
  x.first = c.take<int64_t>(W);
  x.send_words = c.take<int64_t>(W);
  x.recv_words = c.take<int64_t>(W);
  x.fits_send = c.take<int64_t>(W);
  x.fits_recv = c.take<int64_t>(W);
  x.send = c.take<int32_t>(send_words);
  x.recv = c.take<int32_t>(recv_words);
  return x;
}
// Bytes from a to b in the workspace: the counters zeroed before each run lie before the records.
inline size_t bytes_between(const void* a, const void* b) {
  return static_cast<size_t>(static_cast<const uint8_t*>(b) - static_cast<const uint8_t*>(a));
}

inline DispatchEpWs carve_dispatch_ep(const dsb_moe_dispatch_params& p, void* ws, size_t* bytes) {
  const int64_t W = p.world_size, E = p.num_experts, L = E / std::max(1, p.world_size), rec = dispatch_record_words(p);
  Carver c{static_cast<uint8_t*>(ws)};
  DispatchEpWs w;
  w.expert_count = c.take<int32_t>(E);
  w.local_count = c.take<int32_t>(L);
  w.local_cursor = c.take<int32_t>(L);
  w.local_first = c.take<int64_t>(L);
  w.where = c.take<int64_t>(static_cast<int64_t>(p.num_tokens) * p.topk);
  // Every record sent fits T*K; every record received is a row of the layout.
  w.x = carve_exchange(c, W, static_cast<int64_t>(p.num_tokens) * p.topk * rec,
                       layout_rows(p.layout, p.recv_capacity, L) * rec);
  if (bytes) *bytes = c.used;
  return w;
}

// Per token: pairs per expert and per destination rank, is_token_in_rank, num_tokens_per_rank.
__global__ void moe_ep_count_kernel(dsb_moe_dispatch_params p, DispatchEpWs w) {
  const int32_t W = p.world_size, L = p.num_experts / p.world_size;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < p.num_tokens; t += stride) {
    for (int32_t r = 0; r < W; ++r) p.is_token_in_rank[t * W + r] = 0;
    for (int j = 0; j < p.topk; ++j) {
      const int32_t e = p.topk_idx[t * p.topk + j];
      if (e < 0 || e >= p.num_experts) continue;  // -1 is an unused slot; others are refused by validation
      DSB_GPU_ATOMIC_ADD(&w.expert_count[e], 1);
      DSB_GPU_ATOMIC_ADD(&w.x.count[e / L], 1);
      p.is_token_in_rank[t * W + e / L] = 1;
    }
    for (int32_t r = 0; r < W; ++r)
      if (p.is_token_in_rank[t * W + r]) DSB_GPU_ATOMIC_ADD(&p.num_tokens_per_rank[r], 1);
  }
}

// One thread: each peer's first record and word count; num_tokens_per_expert.
__global__ void moe_ep_send_plan_kernel(ExchangeWs x, int32_t world_size, int64_t rec, int32_t* expert_count_out,
                                        const int32_t* expert_count, int32_t num_experts) {
  if (threadIdx.x != 0 || blockIdx.x != 0) return;
  int64_t first = 0;
  for (int32_t r = 0; r < world_size; ++r) {
    x.first[r] = first;
    x.send_words[r] = x.count[r] * rec;
    first += x.count[r];
  }
  for (int32_t e = 0; e < num_experts && expert_count_out; ++e) expert_count_out[e] = expert_count[e];
}

// One thread per (token, slot) pair: the pair's record [rank, t, j, e | ...] in its destination's
// run; the cast kernel then fills the payloads.
__global__ void moe_ep_claim_records_kernel(dsb_moe_dispatch_params p, DispatchEpWs w, int64_t rec) {
  const int64_t pairs = static_cast<int64_t>(p.num_tokens) * p.topk;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t pair = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; pair < pairs; pair += stride) {
    const int32_t e = p.topk_idx[pair];
    int64_t at = -1;
    if (e >= 0 && e < p.num_experts) {
      const int32_t d = e / (p.num_experts / p.world_size);
      at = (w.x.first[d] + DSB_GPU_ATOMIC_ADD(&w.x.cursor[d], 1)) * rec;
      int32_t* r = w.x.send + at;
      r[0] = p.rank;
      r[1] = static_cast<int32_t>(pair / p.topk);
      r[2] = static_cast<int32_t>(pair % p.topk);
      r[3] = e;
    }
    w.where[pair] = at;
  }
}

// Received records per local expert (records naming another rank's expert are dropped: the check
// then reports the rows missing).
__global__ void moe_ep_local_count_kernel(dsb_moe_dispatch_params p, DispatchEpWs w, int64_t n, int64_t rec) {
  const int32_t L = p.num_experts / p.world_size;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < n; k += stride) {
    const int32_t le = w.x.recv[k * rec + 3] - p.rank * L;
    if (le >= 0 && le < L) DSB_GPU_ATOMIC_ADD(&w.local_count[le], 1);
  }
}

// One thread: each local expert's first row, recv_count, num_recv_rows.
__global__ void moe_ep_local_offsets_kernel(dsb_moe_dispatch_params p, DispatchEpWs w) {
  if (threadIdx.x != 0 || blockIdx.x != 0) return;
  const int32_t L = p.num_experts / p.world_size;
  int64_t off = 0;
  for (int32_t le = 0; le < L; ++le) {
    w.local_first[le] = off;
    off += (w.local_count[le] + kRowAlign - 1) / kRowAlign * kRowAlign;
    p.recv_count[le] = w.local_count[le];
  }
  if (p.layout == DSB_MOE_LAYOUT_CONTIGUOUS) *p.num_recv_rows = off;
}

// One block per received record: claims a row of its local expert and copies the payload there.
__global__ void moe_ep_place_kernel(dsb_moe_dispatch_params p, DispatchEpWs w, int64_t rec) {
  __shared__ int64_t row_s;
  const int32_t* r = w.x.recv + static_cast<int64_t>(blockIdx.x) * rec;
  const int32_t le = r[3] - p.rank * (p.num_experts / p.world_size);
  if (le < 0 || le >= p.num_experts / p.world_size) return;  // uniform over the block
  if (threadIdx.x == 0) {
    const int64_t row = claim_row(p, w.local_first[le], le, DSB_GPU_ATOMIC_ADD(&w.local_cursor[le], 1));
    if (row >= 0) write_row_source(p, row, r[0], r[1], r[2], le);
    row_s = row;
  }
  __syncthreads();
  const int64_t row = row_s;
  if (row < 0) return;
  const int64_t row_bytes = payload_row_bytes(p), scale_bytes = payload_scale_bytes(p);
  const auto* payload = reinterpret_cast<const uint8_t*>(r + kHeaderWords);
  copy_bytes(payload, static_cast<uint8_t*>(p.recv_x) + row * row_bytes, row_bytes);
  copy_bytes(payload + row_bytes, static_cast<uint8_t*>(p.recv_scale) + row * scale_bytes, scale_bytes);
}

// ---- combine ---------------------------------------------------------------------------------------

// inv[t * topk + j] = the row that holds pair (t, j); rows are found through recv_src.
__global__ void moe_inverse_kernel(dsb_moe_combine_params p, int32_t* inv) {
  const int64_t rows = layout_rows(p.layout, p.recv_capacity, p.num_experts);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += stride) {
    if (p.layout == DSB_MOE_LAYOUT_MASKED && r % p.recv_capacity >= p.recv_count[r / p.recv_capacity]) continue;
    const int32_t* s = p.recv_src + r * 3;
    if (s[0] != 0 || s[1] < 0 || s[1] >= p.num_tokens || s[2] < 0 || s[2] >= p.topk) continue;  // padding
    inv[static_cast<int64_t>(s[1]) * p.topk + s[2]] = static_cast<int32_t>(r);
  }
}

// One block per token: out[t, c] = sum over its slots of w * y[row, c], FP32, slots in order. Row r
// of y starts at y + r * stride (BF16 elements): the expert outputs, or the received records. Each
// thread sums 4 adjacent channels, moved as 8-byte words when every row is 8-byte aligned.
__global__ void moe_combine_kernel(dsb_moe_combine_params p, const uint16_t* y, int64_t stride, const int32_t* inv) {
  const int64_t t = blockIdx.x;
  auto* out = static_cast<uint16_t*>(p.out) + t * p.hidden;
  const int32_t* rows = inv + t * p.topk;
  const float* wts = p.topk_weights + t * p.topk;
  const bool vec = p.hidden % 4 == 0 && stride % 4 == 0;
  for (int64_t c0 = static_cast<int64_t>(threadIdx.x) * 4; c0 < p.hidden; c0 += 4 * kThreads) {
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    const int n = p.hidden - c0 < 4 ? static_cast<int>(p.hidden - c0) : 4;
    for (int j = 0; j < p.topk; ++j) {
      if (rows[j] < 0) continue;
      const uint16_t* yr = y + static_cast<int64_t>(rows[j]) * stride + c0;
      if (vec) {
        const uint64_t bits = *reinterpret_cast<const uint64_t*>(yr);
        for (int k = 0; k < 4; ++k) acc[k] = fmaf(wts[j], bf16_to_f32(static_cast<uint16_t>(bits >> (16 * k))), acc[k]);
      } else {
        for (int k = 0; k < n; ++k) acc[k] = fmaf(wts[j], bf16_to_f32(yr[k]), acc[k]);
      }
    }
    if (vec) {
      uint64_t bits = 0;
      for (int k = 0; k < 4; ++k) bits |= static_cast<uint64_t>(bf16_from_f32(acc[k])) << (16 * k);
      *reinterpret_cast<uint64_t*>(out + c0) = bits;
    } else {
      for (int k = 0; k < n; ++k) out[c0 + k] = bf16_from_f32(acc[k]);
    }
  }
}

// Whether row r of the expert-output layout holds a pair (rather than padding or an unused row).
__device__ inline bool combine_row_used(const dsb_moe_combine_params& p, int64_t r) {
  if (p.layout == DSB_MOE_LAYOUT_MASKED && r % p.recv_capacity >= p.recv_count[r / p.recv_capacity]) return false;
  const int32_t s = p.recv_src[r * 3];
  return s >= 0 && s < p.world_size;
}

struct CombineEpWs {
  ExchangeWs x;
  int32_t* inv;  // [T*K] record holding pair (t, j), or -1
};

inline CombineEpWs carve_combine_ep(const dsb_moe_combine_params& p, void* ws, size_t* bytes) {
  const int64_t W = p.world_size, L = p.num_experts / std::max(1, p.world_size), rec = combine_record_words(p);
  const int64_t pairs = static_cast<int64_t>(p.num_tokens) * p.topk;
  Carver c{static_cast<uint8_t*>(ws)};
  CombineEpWs w;
  w.inv = c.take<int32_t>(pairs);
  w.x = carve_exchange(c, W, layout_rows(p.layout, p.recv_capacity, L) * rec, pairs * rec);
  if (bytes) *bytes = c.used;
  return w;
}

// Rows per source rank (where each row goes home).
__global__ void moe_ep_home_count_kernel(dsb_moe_combine_params p, ExchangeWs x) {
  const int64_t rows = layout_rows(p.layout, p.recv_capacity, p.num_experts / p.world_size);
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += stride)
    if (combine_row_used(p, r)) DSB_GPU_ATOMIC_ADD(&x.count[p.recv_src[r * 3]], 1);
}

// One block per row: a record [t, j | y] in its source rank's run.
__global__ void moe_ep_home_pack_kernel(dsb_moe_combine_params p, ExchangeWs x, int64_t rec) {
  __shared__ int64_t at_s;
  const int64_t r = blockIdx.x;
  if (!combine_row_used(p, r)) return;  // uniform over the block
  if (threadIdx.x == 0) {
    const int32_t s = p.recv_src[r * 3];
    const int64_t at = (x.first[s] + DSB_GPU_ATOMIC_ADD(&x.cursor[s], 1)) * rec;
    x.send[at] = p.recv_src[r * 3 + 1];
    x.send[at + 1] = p.recv_src[r * 3 + 2];
    at_s = at;
  }
  __syncthreads();
  const auto* y = static_cast<const uint16_t*>(p.expert_out) + r * p.hidden;
  copy_bytes(y, x.send + at_s + kHeaderWords, int64_t{2} * p.hidden);
}

// inv[t * topk + j] = the received record of pair (t, j).
__global__ void moe_ep_inverse_kernel(dsb_moe_combine_params p, CombineEpWs w, int64_t n, int64_t rec) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t k = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; k < n; k += stride) {
    const int32_t t = w.x.recv[k * rec], j = w.x.recv[k * rec + 1];
    if (t >= 0 && t < p.num_tokens && j >= 0 && j < p.topk) w.inv[static_cast<int64_t>(t) * p.topk + j] = static_cast<int32_t>(k);
  }
}

inline unsigned grid_for(int64_t n) { return static_cast<unsigned>(n <= 0 ? 1 : (n + kThreads - 1) / kThreads < 4096 ? (n + kThreads - 1) / kThreads : 4096); }

// ---- launch sequences ------------------------------------------------------------------------------

inline size_t dispatch_workspace_bytes(const dsb_moe_dispatch_params& p) {
  if (p.world_size <= 1) return local_workspace_bytes(p);
  size_t bytes = 0;
  carve_dispatch_ep(p, nullptr, &bytes);
  return bytes;
}
inline size_t combine_workspace_bytes(const dsb_moe_combine_params& p) {
  if (p.world_size <= 1) return static_cast<size_t>(p.num_tokens) * static_cast<size_t>(p.topk) * 4;
  size_t bytes = 0;
  carve_combine_ep(p, nullptr, &bytes);
  return bytes;
}

// The exchange of packed records (x.count and x.first already on the device): the word counts, then
// whether every rank has room for what it is sent (a peer without room cannot post its receive, and
// NCCL would write past it), then the records. On return *records holds how many arrived. Every
// rank makes the same calls in the same order, records or not.
template <class L>
Status exchange_records(L& l, dsb_comm* comm, int32_t world_size, int32_t rank, const ExchangeWs& x, int64_t rec,
                        int64_t recv_capacity_words, int64_t* records) {
  const size_t W = static_cast<size_t>(world_size);
  std::vector<int64_t> ones(W, 1), idx(W), send_words(W), send_displs(W), recv_words(W), recv_displs(W), fits(W);
  for (size_t i = 0; i < W; ++i) idx[i] = static_cast<int64_t>(i);
  if (Status s = l.exchange(comm, x.send_words, ones.data(), idx.data(), x.recv_words, ones.data(), idx.data(), DSB_DTYPE_I64); !s.ok())
    return s;
  if (Status s = l.wait(comm); !s.ok()) return s;
  if (Status s = l.to_host(send_words.data(), x.send_words, W * 8); !s.ok()) return s;
  if (Status s = l.to_host(recv_words.data(), x.recv_words, W * 8); !s.ok()) return s;
  int64_t sent = 0, total = 0;
  for (size_t i = 0; i < W; ++i) {
    send_displs[i] = sent;
    sent += send_words[i];
    recv_displs[i] = total;
    total += recv_words[i];
  }
  const bool fits_here = total <= recv_capacity_words;
  if (Status s = l.fill(x.fits_send, fits_here ? 1 : 0, W * 8); !s.ok()) return s;
  if (Status s = l.exchange(comm, x.fits_send, ones.data(), idx.data(), x.fits_recv, ones.data(), idx.data(), DSB_DTYPE_I64); !s.ok())
    return s;
  if (Status s = l.wait(comm); !s.ok()) return s;
  if (Status s = l.to_host(fits.data(), x.fits_recv, W * 8); !s.ok()) return s;
  for (size_t i = 0; i < W; ++i)
    if (fits[i] == 0)
      return Status::error(DSB_STATUS_INVALID_ARGUMENT,
                           "rank " + std::to_string(i) + " has no room for the rows it is sent (recv_capacity too small" +
                               (static_cast<int32_t>(i) == rank ? ": " + std::to_string(total / rec) + " rows arrive, room for " +
                                                                     std::to_string(recv_capacity_words / rec)
                                                                : std::string()) +
                               "); no rank sent its rows");
  if (Status s = l.exchange(comm, x.send, send_words.data(), send_displs.data(), x.recv, recv_words.data(),
                            recv_displs.data(), DSB_DTYPE_I32);
      !s.ok())
    return s;
  *records = total / rec;
  return Status::success();
}

template <class L>
Status dispatch_ep_sequence(const dsb_moe_dispatch_params& p, void* workspace, L& l) {
  const int64_t W = p.world_size, L_ = p.num_experts / p.world_size, rec = dispatch_record_words(p);
  const DispatchEpWs w = carve_dispatch_ep(p, workspace, nullptr);
  if (Status s = l.fill(w.expert_count, 0, bytes_between(w.expert_count, w.x.send)); !s.ok()) return s;  // all counters
  if (Status s = l.fill(p.num_tokens_per_rank, 0, static_cast<size_t>(W) * 4); !s.ok()) return s;
  if (p.num_tokens > 0)
    if (Status s = l.launch(moe_ep_count_kernel, grid_for(p.num_tokens), p, w); !s.ok()) return s;
  if (Status s = l.launch(moe_ep_send_plan_kernel, 1u, w.x, p.world_size, rec, p.num_tokens_per_expert,
                          static_cast<const int32_t*>(w.expert_count), p.num_experts);
      !s.ok())
    return s;
  const int64_t pairs = static_cast<int64_t>(p.num_tokens) * p.topk;
  if (pairs > 0) {
    if (Status s = l.launch(moe_ep_claim_records_kernel, grid_for(pairs), p, w, rec); !s.ok()) return s;
    if (Status s = l.launch(moe_cast_kernel, cast_grid(p), p, CastTarget{w.where, w.x.send}); !s.ok()) return s;
  }
  int64_t n = 0;
  if (Status s = exchange_records(l, p.comm, p.world_size, p.rank, w.x, rec, layout_rows(p.layout, p.recv_capacity, L_) * rec, &n);
      !s.ok())
    return s;
  if (n > 0)
    if (Status s = l.launch(moe_ep_local_count_kernel, grid_for(n), p, w, n, rec); !s.ok()) return s;
  if (Status s = l.launch(moe_ep_local_offsets_kernel, 1u, p, w); !s.ok()) return s;
  if (p.layout == DSB_MOE_LAYOUT_CONTIGUOUS)
    if (Status s = l.launch(moe_padding_kernel, grid_for(p.recv_capacity), p); !s.ok()) return s;
  if (n > 0)
    if (Status s = l.launch(moe_ep_place_kernel, static_cast<unsigned>(n), p, w, rec); !s.ok()) return s;
  return Status::success();
}

template <class L>
Status combine_ep_sequence(const dsb_moe_combine_params& p, void* workspace, L& l) {
  const int64_t L_ = p.num_experts / p.world_size, rec = combine_record_words(p);
  const int64_t pairs = static_cast<int64_t>(p.num_tokens) * p.topk, rows = layout_rows(p.layout, p.recv_capacity, L_);
  const CombineEpWs w = carve_combine_ep(p, workspace, nullptr);
  if (Status s = l.fill(w.x.count, 0, bytes_between(w.x.count, w.x.send)); !s.ok()) return s;
  if (rows > 0)
    if (Status s = l.launch(moe_ep_home_count_kernel, grid_for(rows), p, w.x); !s.ok()) return s;
  if (Status s = l.launch(moe_ep_send_plan_kernel, 1u, w.x, p.world_size, rec, static_cast<int32_t*>(nullptr),
                          static_cast<const int32_t*>(nullptr), 0);
      !s.ok())
    return s;
  if (rows > 0)
    if (Status s = l.launch(moe_ep_home_pack_kernel, static_cast<unsigned>(rows), p, w.x, rec); !s.ok()) return s;
  int64_t n = 0;
  if (Status s = exchange_records(l, p.comm, p.world_size, p.rank, w.x, rec, pairs * rec, &n); !s.ok()) return s;
  if (pairs == 0) return Status::success();
  if (Status s = l.fill(w.inv, 0xff, static_cast<size_t>(pairs) * 4); !s.ok()) return s;  // -1: no record
  if (n > 0)
    if (Status s = l.launch(moe_ep_inverse_kernel, grid_for(n), p, w, n, rec); !s.ok()) return s;
  // y of record k: its words after the header, as BF16.
  const auto* y = reinterpret_cast<const uint16_t*>(w.x.recv + kHeaderWords);
  return l.launch(moe_combine_kernel, static_cast<unsigned>(p.num_tokens), p, y, rec * 2, static_cast<const int32_t*>(w.inv));
}

template <class L>
Status dispatch_sequence(const dsb_moe_dispatch_params& p, void* workspace, L& l) {
  if (p.world_size > 1) return dispatch_ep_sequence(p, workspace, l);
  const Workspace w = carve(workspace, p.num_experts);
  if (Status s = l.fill(workspace, 0, local_counters_bytes(p.num_experts)); !s.ok()) return s;
  if (Status s = l.fill(p.num_tokens_per_rank, 0, 4); !s.ok()) return s;
  if (Status s = l.launch(moe_count_kernel, grid_for(p.num_tokens), p, w); !s.ok()) return s;
  if (Status s = l.launch(moe_offsets_kernel, 1u, p, w); !s.ok()) return s;
  if (p.layout == DSB_MOE_LAYOUT_CONTIGUOUS)
    if (Status s = l.launch(moe_padding_kernel, grid_for(p.recv_capacity), p); !s.ok()) return s;
  const int64_t pairs = static_cast<int64_t>(p.num_tokens) * p.topk;
  if (pairs == 0) return Status::success();
  if (Status s = l.launch(moe_claim_rows_kernel, grid_for(pairs), p, w); !s.ok()) return s;
  return l.launch(moe_cast_kernel, cast_grid(p), p, CastTarget{w.where, nullptr});
}

template <class L>
Status combine_sequence(const dsb_moe_combine_params& p, void* workspace, L& l) {
  if (p.world_size > 1) return combine_ep_sequence(p, workspace, l);
  auto* inv = static_cast<int32_t*>(workspace);
  const int64_t pairs = static_cast<int64_t>(p.num_tokens) * p.topk;
  if (pairs == 0) return Status::success();
  if (Status s = l.fill(inv, 0xff, static_cast<size_t>(pairs) * 4); !s.ok()) return s;  // -1: no row
  const int64_t rows = layout_rows(p.layout, p.recv_capacity, p.num_experts);
  if (Status s = l.launch(moe_inverse_kernel, grid_for(rows), p, inv); !s.ok()) return s;
  return l.launch(moe_combine_kernel, static_cast<unsigned>(p.num_tokens), p, static_cast<const uint16_t*>(p.expert_out),
                  static_cast<int64_t>(p.hidden), static_cast<const int32_t*>(inv));
}

}  // namespace dsbench::gpu::moe
