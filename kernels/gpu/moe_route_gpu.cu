// Portable DeepSeek-V3 MoE routing (cuda.moe_route.warp), the GPU counterpart of the CPU reference.
//
// Design: one logical 32-lane warp per token, 4 tokens (warps) per block, also on 64-wide AMD waves
// (two tokens per wave; every shuffle has width 32). Lane l holds experts e = l + 32*i in register
// slot i < kSlots (kSlots = E/32 rounded up to a power of two, a template parameter, so the slots
// stay in registers), which makes the logits loads coalesced. Per token:
//   1. scores: sigmoid, or softmax over all experts (warp max, expf(x - max), warp sum); biased
//      selection keys = s + bias (NaN keys count as -inf so the selection is always well-defined).
//   2. group score = sum of the group's top-2 keys. Power-of-two group sizes (DeepSeek-V3: 32): a
//      segmented butterfly of xor shuffles (offsets < group size never leave the group's lanes) on
//      (top1, top2) pairs, all slots at once. Other sizes (2..32): keys go to shared memory and one
//      lane per group scans its experts.
//   3. kept groups: group g is kept when fewer than topk_groups groups beat it on (score, -index)
//      (rank count over the scores in shared memory, one lane per group), gathered by ballots.
//   4. topk rounds of a warp arg-max over the eligible experts (kept group, not yet chosen): each
//      lane keeps its local best, a 5-step xor butterfly on (key, index) pairs ordered by key, then
//      lower index on exact ties, so every lane agrees on the winner; its owner fetches the unbiased
//      score, marks the slot chosen and rescans its own slots only. Round j's winner is output j,
//      so the output is in descending key order (ties: lower index first).
//   5. weights: lane j writes slot j: s / (sum of the chosen s, summed in FP32 in output order) when
//      normalize, times routed_scale.
// All arithmetic FP32 with expf and IEEE division, no fast math: the selection equals the FP64
// reference's except at near-ties (a few ulp of FP32, expf's last bit included; softmax also sums in
// another order). Shared memory per warp: the group scores, kept-group bit words and, for
// non-power-of-two group sizes, the token's keys. Limits: 2..32 experts per group, E <= 1024,
// topk <= 32 (one lane per output); the rank count of step 3 costs O(G^2 / 32) per lane, cheap for
// DeepSeek-V3 (G = 8) and slow only for hundreds of groups.
#include "kernels/gpu/moe_route_gpu.hpp"

#include <climits>
#include <cmath>
#include <cstdint>
#include <string>

#include "kernels/gpu/gpu_portability.hpp"

namespace dsbench::gpu {
namespace {

constexpr int kLanes = 32;          // logical warp, on every vendor
constexpr int kWarpsPerBlock = 4;   // tokens per block
constexpr int kMaxThreads = kWarpsPerBlock * kLanes;
constexpr int kNone = INT_MAX;      // "no candidate": loses every comparison against a real expert
// Shared memory per warp at most: scores [E/2] + kept words [16] + keys [E]; within the 48 KiB a
// launch gets without opting in.
static_assert(kWarpsPerBlock * (kMoeRouteMaxExperts / 2 + 16 + kMoeRouteMaxExperts) * 4 <= 48 * 1024);

// Width-32 warp primitives. The whole logical warp is always converged at these calls.
#if defined(__HIPCC__) || defined(DSB_GPU_HIP)
__device__ __forceinline__ float lanes_xor(float v, int m) { return __shfl_xor(v, m, kLanes); }
__device__ __forceinline__ int lanes_xor(int v, int m) { return __shfl_xor(v, m, kLanes); }
__device__ __forceinline__ float lanes_shfl(float v, int src) { return __shfl(v, src, kLanes); }
__device__ __forceinline__ uint32_t lanes_ballot(bool p) {
  return static_cast<uint32_t>(__ballot(p) >> (__lane_id() & kLanes));  // this half of a wave64
}
__device__ __forceinline__ void lanes_sync() {
  __builtin_amdgcn_fence(__ATOMIC_RELEASE, "wavefront");
  __builtin_amdgcn_wave_barrier();
  __builtin_amdgcn_fence(__ATOMIC_ACQUIRE, "wavefront");
}
#else
constexpr unsigned kFullMask = 0xffffffffu;
__device__ __forceinline__ float lanes_xor(float v, int m) { return __shfl_xor_sync(kFullMask, v, m, kLanes); }
__device__ __forceinline__ int lanes_xor(int v, int m) { return __shfl_xor_sync(kFullMask, v, m, kLanes); }
__device__ __forceinline__ float lanes_shfl(float v, int src) { return __shfl_sync(kFullMask, v, src, kLanes); }
__device__ __forceinline__ uint32_t lanes_ballot(bool p) { return __ballot_sync(kFullMask, p); }
__device__ __forceinline__ void lanes_sync() { __syncwarp(); }
#endif

struct Args {
  int32_t num_tokens, num_experts, num_groups, group_size;
  int32_t group_shift;  // log2(group_size) when a power of two, else -1
  int32_t topk_groups, topk;
  int32_t softmax, normalize;
  float routed_scale;
  int32_t kept_words;      // ceil(num_groups / 32)
  int32_t smem_per_warp;   // 4-byte words: scores [G], kept bits [kept_words], keys [E] (generic groups)
  const float* logits;
  const float* bias;
  int32_t* topk_idx;
  float* topk_weights;
};

// (va, ia) ranks above (vb, ib): higher value, then lower index. A strict total order on non-NaN keys.
__device__ __forceinline__ bool better(float va, int ia, float vb, int ib) { return va > vb || (va == vb && ia < ib); }

__device__ __forceinline__ float key_of(float v) { return v != v ? -INFINITY : v; }

// Top-2 values of the multiset {a1, a2, b1, b2} with a1 >= a2, b1 >= b2, into (a1, a2).
__device__ __forceinline__ void top2_merge(float& a1, float& a2, float b1, float b2) {
  if (a1 >= b1) {
    a2 = fmaxf(a2, b1);
  } else {
    a2 = fmaxf(a1, b2);
    a1 = b1;
  }
}

// This lane's best eligible expert: key, index (kNone if none) and unbiased score.
template <int kSlots>
__device__ __forceinline__ void local_best(const float (&key)[kSlots], const float (&s)[kSlots], uint32_t elig,
                                           int lane, float& bv, int& bi, float& bs) {
  bv = -INFINITY;
  bi = kNone;
  bs = 0.0f;
#pragma unroll
  for (int i = 0; i < kSlots; ++i) {
    const int e = lane + kLanes * i;
    if (((elig >> i) & 1u) && better(key[i], e, bv, bi)) {
      bv = key[i];
      bi = e;
      bs = s[i];
    }
  }
}

template <int kSlots>
__global__ void __launch_bounds__(kMaxThreads) moe_route_kernel(const Args a) {
  extern __shared__ float smem[];
  const int lane = static_cast<int>(threadIdx.x) % kLanes;
  const int warp = static_cast<int>(threadIdx.x) / kLanes;
  const int64_t t = static_cast<int64_t>(blockIdx.x) * (blockDim.x / kLanes) + warp;
  if (t >= a.num_tokens) return;  // whole logical warps only: blockDim is a multiple of 32

  const int E = a.num_experts, G = a.num_groups, gsz = a.group_size;
  float* gscore = smem + static_cast<int64_t>(warp) * a.smem_per_warp;
  uint32_t* kept_sm = reinterpret_cast<uint32_t*>(gscore + G);
  float* keys_sm = gscore + G + a.kept_words;
  const float* row = a.logits + t * E;

  // 1. Scores and selection keys.
  float s[kSlots], key[kSlots];
#pragma unroll
  for (int i = 0; i < kSlots; ++i) {
    const int e = lane + kLanes * i;
    s[i] = e < E ? row[e] : -INFINITY;
  }
  if (a.softmax) {
    float m = -INFINITY;
#pragma unroll
    for (int i = 0; i < kSlots; ++i) m = fmaxf(m, s[i]);
#pragma unroll
    for (int off = kLanes / 2; off > 0; off >>= 1) m = fmaxf(m, lanes_xor(m, off));
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < kSlots; ++i) {
      s[i] = lane + kLanes * i < E ? expf(s[i] - m) : 0.0f;
      sum += s[i];
    }
#pragma unroll
    for (int off = kLanes / 2; off > 0; off >>= 1) sum += lanes_xor(sum, off);  // same bits on every lane
#pragma unroll
    for (int i = 0; i < kSlots; ++i) s[i] = s[i] / sum;
  } else {
#pragma unroll
    for (int i = 0; i < kSlots; ++i) s[i] = lane + kLanes * i < E ? 1.0f / (1.0f + expf(-s[i])) : 0.0f;
  }
#pragma unroll
  for (int i = 0; i < kSlots; ++i) {
    const int e = lane + kLanes * i;
    key[i] = e < E ? key_of(s[i] + (a.bias != nullptr ? a.bias[e] : 0.0f)) : -INFINITY;
  }

  // 2. Group scores (sum of the top-2 keys) into gscore[G].
  if (a.group_shift >= 0) {
    float t1[kSlots], t2[kSlots];
#pragma unroll
    for (int i = 0; i < kSlots; ++i) {
      t1[i] = key[i];
      t2[i] = -INFINITY;
    }
    for (int off = 1; off < gsz; off <<= 1) {
#pragma unroll
      for (int i = 0; i < kSlots; ++i) {
        const float o1 = lanes_xor(t1[i], off), o2 = lanes_xor(t2[i], off);
        top2_merge(t1[i], t2[i], o1, o2);
      }
    }
    if ((lane & (gsz - 1)) == 0) {
#pragma unroll
      for (int i = 0; i < kSlots; ++i) {
        const int g = (lane + kLanes * i) >> a.group_shift;
        if (g < G) gscore[g] = key_of(t1[i] + t2[i]);
      }
    }
  } else {
#pragma unroll
    for (int i = 0; i < kSlots; ++i) {
      const int e = lane + kLanes * i;
      if (e < E) keys_sm[e] = key[i];
    }
    lanes_sync();
    for (int g = lane; g < G; g += kLanes) {
      const float* v = keys_sm + g * gsz;
      float t1 = -INFINITY, t2 = -INFINITY;
      for (int j = 0; j < gsz; ++j) {
        const float x = v[j];
        if (x > t1) {
          t2 = t1;
          t1 = x;
        } else if (x > t2) {
          t2 = x;
        }
      }
      gscore[g] = key_of(t1 + t2);
    }
  }
  lanes_sync();

  // 3. Kept groups: rank < topk_groups on (score, -index). Bit g of word g/32.
  uint32_t kept0 = 0;
  for (int k = 0; k < a.kept_words; ++k) {
    const int g = lane + kLanes * k;
    bool keep = false;
    if (g < G) {
      const float mine = gscore[g];
      int rank = 0;
      for (int h = 0; h < G && rank < a.topk_groups; ++h) rank += better(gscore[h], h, mine, g) ? 1 : 0;
      keep = rank < a.topk_groups;
    }
    const uint32_t word = lanes_ballot(keep);
    if (k == 0) kept0 = word;
    if (a.kept_words > 1 && lane == 0) kept_sm[k] = word;
  }
  if (a.kept_words > 1) lanes_sync();

  uint32_t elig = 0;  // bit i: slot i is a real expert of a kept group, not chosen yet
#pragma unroll
  for (int i = 0; i < kSlots; ++i) {
    const int e = lane + kLanes * i;
    if (e < E) {
      const int g = a.group_shift >= 0 ? e >> a.group_shift : e / gsz;
      const uint32_t word = a.kept_words == 1 ? kept0 : kept_sm[g / kLanes];
      elig |= ((word >> (g % kLanes)) & 1u) << i;
    }
  }

  // 4. topk rounds of warp arg-max; round j's winner is output j.
  float bv, bs;
  int bi;
  local_best(key, s, elig, lane, bv, bi, bs);
  int out_i = -1;
  float out_s = 0.0f, chosen_sum = 0.0f;
  for (int r = 0; r < a.topk; ++r) {
    float v = bv;
    int idx = bi;
#pragma unroll
    for (int off = kLanes / 2; off > 0; off >>= 1) {
      const float ov = lanes_xor(v, off);
      const int oi = lanes_xor(idx, off);
      if (better(ov, oi, v, idx)) {
        v = ov;
        idx = oi;
      }
    }
    const int owner = idx % kLanes;
    const float sw = lanes_shfl(bs, owner);  // the owner's local best is the winner
    if (lane == r) {
      out_i = idx < E ? idx : -1;
      out_s = sw;
    }
    chosen_sum += sw;  // in output order, like a sequential host sum
    if (lane == owner && idx < E) {
      elig &= ~(1u << (idx / kLanes));
      local_best(key, s, elig, lane, bv, bi, bs);
    }
  }

  // 5. Weights.
  if (lane < a.topk) {
    float w = out_s;
    if (a.normalize) w = w / chosen_sum;
    w *= a.routed_scale;
    const int64_t o = t * a.topk + lane;
    a.topk_idx[o] = out_i;
    a.topk_weights[o] = w;
  }
}

template <int kSlots>
void enqueue(const Args& a, unsigned grid, int warps, size_t smem, gpuStream_t stream) {
  moe_route_kernel<kSlots><<<grid, warps * kLanes, smem, stream>>>(a);
}

Status invalid(const std::string& why) {
  return Status::error(DSB_STATUS_INVALID_ARGUMENT, "moe_route_gpu: " + why);
}

}  // namespace

Status moe_route_gpu(const dsb_moe_route_params& p, void* stream) {
  const int E = p.num_experts, G = p.num_groups;
  if (p.num_tokens < 0) return invalid("num_tokens < 0");
  if (E <= 0 || G <= 0 || E % G != 0) return invalid("num_experts must be a positive multiple of num_groups");
  const int gsz = E / G;
  if (gsz < 2 || gsz > kMoeRouteMaxGroupSize || E > kMoeRouteMaxExperts)
    return Status::error(DSB_STATUS_NOT_SUPPORTED,
                         "moe_route_gpu: needs 2..32 experts per group and at most 1024 experts");
  if (p.topk_groups < 1 || p.topk_groups > G) return invalid("topk_groups must be in [1, num_groups]");
  if (p.topk < 1 || p.topk > kMoeRouteMaxTopk || p.topk > p.topk_groups * gsz)
    return invalid("topk must be in [1, min(32, experts in the kept groups)]");
  if (p.scoring != DSB_MOE_SCORING_SIGMOID && p.scoring != DSB_MOE_SCORING_SOFTMAX)
    return invalid("unknown scoring");
  if (p.num_tokens == 0) return Status::success();
  if (p.logits == nullptr || p.topk_idx == nullptr || p.topk_weights == nullptr) return invalid("null tensor");

  int shift = -1;  // log2(gsz) for power-of-two groups
  if ((gsz & (gsz - 1)) == 0) {
    shift = 0;
    while ((1 << shift) < gsz) ++shift;
  }
  const int kept_words = (G + kLanes - 1) / kLanes;
  const int per_warp = G + kept_words + (shift >= 0 ? 0 : E);
  const Args a{p.num_tokens, E, G, gsz, shift, p.topk_groups, p.topk, p.scoring == DSB_MOE_SCORING_SOFTMAX ? 1 : 0,
               p.normalize != 0 ? 1 : 0, p.routed_scale, kept_words, per_warp, p.logits, p.bias, p.topk_idx,
               p.topk_weights};

  const int warps = kWarpsPerBlock;
  const size_t smem = static_cast<size_t>(warps) * per_warp * 4;
  const unsigned grid = static_cast<unsigned>((static_cast<int64_t>(p.num_tokens) + warps - 1) / warps);
  const int slots_needed = (E + kLanes - 1) / kLanes;
  const gpuStream_t s = static_cast<gpuStream_t>(stream);
  if (slots_needed <= 1) enqueue<1>(a, grid, warps, smem, s);
  else if (slots_needed <= 2) enqueue<2>(a, grid, warps, smem, s);
  else if (slots_needed <= 4) enqueue<4>(a, grid, warps, smem, s);
  else if (slots_needed <= 8) enqueue<8>(a, grid, warps, smem, s);
  else if (slots_needed <= 16) enqueue<16>(a, grid, warps, smem, s);
  else enqueue<32>(a, grid, warps, smem, s);
  DSB_GPU_CHECK_LAUNCH();
  return Status::success();
}

}  // namespace dsbench::gpu
