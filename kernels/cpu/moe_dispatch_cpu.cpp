// MoE dispatch and combine on the CPU with OpenMP. Dispatch: one serial pass over the (token, slot)
// pairs computes the layout and every row's destination; then threads over tokens quantise each
// token once (bit-identical to reference/quantize.cpp: the same block_scale and fp8_encode) and copy
// it to its rows; with AVX-512 on one rank each 1x128 block goes from registers straight to every row
// of its token. Combine: a serial pass maps each (token, slot) to the row that holds its expert
// output, then threads over tokens sum w*y in FP32 (slots in order) and round once to BF16. Outputs of
// 8 MB and more are written with non-temporal stores. With more than one rank, rows travel as int32
// records (token, slot[, expert], payload) through alltoallv.
#include "kernels/cpu/moe_dispatch_cpu.hpp"

// GCC 12 warns inside avx512fintrin.h's own _mm512_undefined_* idiom wherever its intrinsics inline
// (GCC bug 105593, fixed in 13): a false positive, silenced for this file only.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "kernels/cpu/moe_cpu_avx512.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "dsbench/numerics/bf16.hpp"
#include "dsbench/numerics/fp8.hpp"
#include "reference/moe_dispatch_reference.hpp"
#include "reference/quantize.hpp"

namespace dsbench::cpu {
namespace {

// Cuts the workspace into 64-byte aligned arrays; with a null base it only counts the bytes.
class Carve {
 public:
  explicit Carve(void* base) : base_(static_cast<uint8_t*>(base)) {}
  template <class T> T* take(int64_t n) {
    T* p = base_ ? reinterpret_cast<T*>(base_ + used_) : nullptr;
    used_ += (static_cast<size_t>(std::max<int64_t>(n, 0)) * sizeof(T) + 63) / 64 * 64;
    return p;
  }
  size_t used() const { return used_; }

 private:
  uint8_t* base_;
  size_t used_ = 0;
};

int64_t words(int64_t bytes) { return (bytes + 3) / 4; }
int threads() { return std::max(1, omp_get_max_threads()); }
// Below this many bytes moved, one thread: waking a team costs more than the copy (and on a loaded
// host a descheduled worker costs a whole time slice).
constexpr int64_t kParallelMinBytes = int64_t{1} << 20;

int64_t dispatch_max_rows(const dsb_moe_dispatch_params& p) {
  const int64_t L = p.num_experts / std::max(1, p.world_size);
  return p.layout == DSB_MOE_LAYOUT_CONTIGUOUS ? p.recv_capacity : L * p.recv_capacity;
}
int64_t combine_max_rows(const dsb_moe_combine_params& p) {
  const int64_t L = p.num_experts / std::max(1, p.world_size);
  return p.layout == DSB_MOE_LAYOUT_CONTIGUOUS ? p.recv_capacity : L * p.recv_capacity;
}

struct DispatchWs {
  int64_t* pos;       // [T*K] W=1: layout row of the pair; W>1: word offset of its record in send
  int64_t* cnt;       // [max(E, W)] rows per expert (W=1) or per destination (W>1)
  int64_t* cur;       // [max(E, W)]
  uint8_t* tbuf;      // [threads][payload] one quantised token per thread
  int32_t* send;      // W>1: [T*K*rec]
  int32_t* recv;      // W>1: [max_rows*rec]
  int64_t* rrow;      // W>1: [max_rows] layout row of each received record
  int64_t *sw, *sd, *rw, *rd;
  size_t bytes;
};

DispatchWs carve_dispatch(const dsb_moe_dispatch_params& p, void* base) {
  const int64_t T = p.num_tokens, K = p.topk, E = p.num_experts, W = p.world_size;
  const int64_t payload = ref::moe_row_bytes(p.hidden, p.recv_dtype) + ref::moe_scale_bytes(p.hidden, p.recv_dtype, p.scale_dtype);
  const int64_t rec = 3 + words(payload), R = dispatch_max_rows(p);
  Carve c(base);
  DispatchWs w{};
  w.pos = c.take<int64_t>(T * K);
  w.cnt = c.take<int64_t>(std::max(E, W));
  w.cur = c.take<int64_t>(std::max(E, W));
  w.tbuf = c.take<uint8_t>(threads() * (payload + 64));
  if (W > 1) {
    w.send = c.take<int32_t>(T * K * rec);
    w.recv = c.take<int32_t>(R * rec);
    w.rrow = c.take<int64_t>(R);
    w.sw = c.take<int64_t>(W);
    w.sd = c.take<int64_t>(W);
    w.rw = c.take<int64_t>(W);
    w.rd = c.take<int64_t>(W);
  }
  w.bytes = c.used();
  return w;
}

// A block with a NaN or infinity, exactly as reference/quantize.cpp (std::max drops NaNs): codes
// into qb, the scale returned.
template <const Fp8Format& F>
float quantize_block_special(const uint16_t* xb, const ref::QuantRecipe& recipe, uint8_t* qb) {
  float amax = 0.0f;
  for (int c = 0; c < DSB_FP8_BLOCK; ++c) amax = std::max(amax, std::fabs(bf16_to_f32(xb[c])));
  const float s = ref::block_scale(amax, recipe);
  for (int c = 0; c < DSB_FP8_BLOCK; ++c) qb[c] = fp8_encode(bf16_to_f32(xb[c]) / s, F);
  return s;
}

void store_scale(uint8_t* scales, int32_t b, float s, bool ue8m0) {
  if (ue8m0) scales[b] = ue8m0_from_f32_ceil(s);
  else std::memcpy(scales + 4 * b, &s, 4);
}

// Quantises one token 1x128 into q (codes) and scales; F fixed at compile time so that the encoder's
// shifts are constants and the block loop vectorises.
template <dsb_dtype kType, const Fp8Format& F>
inline __attribute__((always_inline)) void quantize_token_body(const uint16_t* x, int32_t hidden, bool ue8m0, uint8_t* q,
                                                               uint8_t* scales) {
  ref::QuantRecipe recipe;
  recipe.fp8 = kType;
  recipe.ue8m0 = ue8m0;
  for (int32_t b = 0; b < hidden / DSB_FP8_BLOCK; ++b) {
    const uint16_t* xb = x + b * DSB_FP8_BLOCK;
    // amax on the bits: for finite BF16 values the largest |bits| is the largest |value|.
    uint16_t amax_bits = 0, special = 0;  // special: a NaN or infinity
    for (int c = 0; c < DSB_FP8_BLOCK; ++c) {
      const uint16_t m = xb[c] & 0x7fffu;
      amax_bits = std::max(amax_bits, m);
      special |= static_cast<uint16_t>(m >= 0x7f80u);
    }
    uint8_t* qb = q + b * DSB_FP8_BLOCK;
    float s;
    if (special) {
      s = quantize_block_special<F>(xb, recipe, qb);
    } else {
      s = ref::block_scale(bf16_to_f32(amax_bits), recipe);
      for (int c = 0; c < DSB_FP8_BLOCK; ++c) qb[c] = fp8_encode_finite(bf16_to_f32(xb[c]) / s, F);
    }
    store_scale(scales, b, s, ue8m0);
  }
}

// One block's codes (two 64-byte vectors) and scale with the AVX-512 encoder; blocks with a NaN or
// infinity take the scalar path.
template <dsb_dtype kType, const Fp8Format& F>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"), always_inline)) inline float quantize_block_avx512(
    const uint16_t* xb, const ref::QuantRecipe& recipe, __m512i* lo, __m512i* hi) {
  const uint32_t amax_bits = avx512::block_amax_bits(xb);
  if (amax_bits >= 0x7f80u) {
    alignas(64) uint8_t qb[DSB_FP8_BLOCK];
    const float s = quantize_block_special<F>(xb, recipe, qb);
    *lo = _mm512_load_si512(qb);
    *hi = _mm512_load_si512(qb + 64);
    return s;
  }
  const float s = ref::block_scale(bf16_to_f32(static_cast<uint16_t>(amax_bits)), recipe);
  avx512::encode_block<F>(xb, s, lo, hi);
  return s;
}

// The baseline ISA and AVX2 (8 lanes) build the same auto-vectorised loops; AVX-512 uses the
// intrinsics of kernels/cpu/moe_cpu_avx512.hpp. Chosen at run time.
template <dsb_dtype kType, const Fp8Format& F>
void quantize_token_base(const uint16_t* x, int32_t hidden, bool ue8m0, uint8_t* q, uint8_t* scales) {
  quantize_token_body<kType, F>(x, hidden, ue8m0, q, scales);
}
template <dsb_dtype kType, const Fp8Format& F>
__attribute__((target("avx2"))) void quantize_token_avx2(const uint16_t* x, int32_t hidden, bool ue8m0, uint8_t* q,
                                                         uint8_t* scales) {
  quantize_token_body<kType, F>(x, hidden, ue8m0, q, scales);
}
template <dsb_dtype kType, const Fp8Format& F>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) void quantize_token_avx512(const uint16_t* x, int32_t hidden,
                                                                                       bool ue8m0, uint8_t* q,
                                                                                       uint8_t* scales) {
  ref::QuantRecipe recipe;
  recipe.fp8 = kType;
  recipe.ue8m0 = ue8m0;
  for (int32_t b = 0; b < hidden / DSB_FP8_BLOCK; ++b) {
    __m512i lo, hi;
    const float s = quantize_block_avx512<kType, F>(x + b * DSB_FP8_BLOCK, recipe, &lo, &hi);
    _mm512_storeu_si512(q + b * DSB_FP8_BLOCK, lo);
    _mm512_storeu_si512(q + b * DSB_FP8_BLOCK + 64, hi);
    store_scale(scales, b, s, ue8m0);
  }
}

bool has_avx512() {
  static const bool yes = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  return yes;
}

template <dsb_dtype kType, const Fp8Format& F>
void quantize_token(const uint16_t* x, int32_t hidden, bool ue8m0, uint8_t* q, uint8_t* scales) {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (has_avx512()) quantize_token_avx512<kType, F>(x, hidden, ue8m0, q, scales);
  else if (avx2) quantize_token_avx2<kType, F>(x, hidden, ue8m0, q, scales);
  else quantize_token_base<kType, F>(x, hidden, ue8m0, q, scales);
}

// Calls f.template operator()<kType, F>() for the FP8 type t (E4M3FN for anything else: callers
// validate first): f is a struct with a templated call operator (C++17 has no templated lambdas).
template <class Fn>
decltype(auto) with_fp8_format(dsb_dtype t, Fn&& f) {
  switch (t) {
    case DSB_DTYPE_E5M2: return f.template operator()<DSB_DTYPE_E5M2, kE5M2>();
    case DSB_DTYPE_E4M3FNUZ: return f.template operator()<DSB_DTYPE_E4M3FNUZ, kE4M3FNUZ>();
    case DSB_DTYPE_E5M2FNUZ: return f.template operator()<DSB_DTYPE_E5M2FNUZ, kE5M2FNUZ>();
    default: return f.template operator()<DSB_DTYPE_E4M3FN, kE4M3FN>();
  }
}

struct QuantizeToken {
  const uint16_t* x;
  int32_t hidden;
  bool ue8m0;
  uint8_t *q, *scales;
  template <dsb_dtype kType, const Fp8Format& F>
  void operator()() const {
    quantize_token<kType, F>(x, hidden, ue8m0, q, scales);
  }
};

}  // namespace

void quantize_bf16_1x128(const uint16_t* x, int32_t hidden, dsb_dtype fp8, dsb_dtype scale_dtype, uint8_t* q,
                         uint8_t* scales) {
  with_fp8_format(fp8, QuantizeToken{x, hidden, scale_dtype == DSB_DTYPE_UE8M0, q, scales});
}

namespace {
template <const Fp8Format& F>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) void encode_many_avx512(const float* x, int64_t n,
                                                                                   uint8_t* out) {
  for (int64_t i = 0; i < n; i += 16)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), avx512::fp8_encode_finite_x16<F>(_mm512_loadu_ps(x + i)));
}
struct EncodeMany {
  const float* x;
  int64_t n;
  uint8_t* out;
  template <dsb_dtype, const Fp8Format& F>
  void operator()() const {
    encode_many_avx512<F>(x, n, out);
  }
};
}  // namespace

bool fp8_encode_finite_avx512(const float* x, int64_t n, dsb_dtype fp8, uint8_t* out) {
  if (!has_avx512() || n % 16 != 0) return false;
  with_fp8_format(fp8, EncodeMany{x, n, out});
  return true;
}

namespace {

// The token's payload: BF16 rows are x itself; FP8 rows are quantised into buf (codes, then scales).
const uint8_t* token_payload(const dsb_moe_dispatch_params& p, int64_t t, uint8_t* buf) {
  const uint16_t* x = static_cast<const uint16_t*>(p.x) + t * p.hidden;
  if (!dsb_dtype_is_fp8(p.recv_dtype)) return reinterpret_cast<const uint8_t*>(x);
  quantize_bf16_1x128(x, p.hidden, p.recv_dtype, p.scale_dtype, buf, buf + p.hidden);
  return buf;
}

// Padding rows of the contiguous layout: m_indices and recv_src -1. counts[le] rows start at off.
void fill_padding(const dsb_moe_dispatch_params& p, const int64_t* counts, int64_t L, int64_t used) {
  int64_t off = 0;
  for (int64_t le = 0; le < L; ++le) {
    for (int64_t r = off + counts[le]; r < off + ref::moe_align(counts[le]); ++r) {
      p.recv_m_indices[r] = -1;
      p.recv_src[3 * r] = p.recv_src[3 * r + 1] = p.recv_src[3 * r + 2] = -1;
    }
    off += ref::moe_align(counts[le]);
  }
  for (int64_t r = used; r < p.recv_capacity; ++r) {
    p.recv_m_indices[r] = -1;
    p.recv_src[3 * r] = p.recv_src[3 * r + 1] = p.recv_src[3 * r + 2] = -1;
  }
}

// Row bases per local expert from counts; false when the layout does not fit recv_capacity.
bool place(const dsb_moe_dispatch_params& p, const int64_t* counts, int64_t L, int64_t* base) {
  int64_t off = 0;
  for (int64_t le = 0; le < L; ++le) {
    if (p.layout == DSB_MOE_LAYOUT_MASKED) {
      if (counts[le] > p.recv_capacity) return false;
      base[le] = le * p.recv_capacity;
    } else {
      base[le] = off;
    }
    off += ref::moe_align(counts[le]);
  }
  if (p.layout == DSB_MOE_LAYOUT_CONTIGUOUS) {
    if (off > p.recv_capacity) return false;
    *p.num_recv_rows = off;
    fill_padding(p, counts, L, off);
  }
  for (int64_t le = 0; le < L; ++le) p.recv_count[le] = static_cast<int32_t>(counts[le]);
  return true;
}

// Orders every thread's non-temporal stores before what follows (OpenMP's barrier does not drain
// them): each thread fences inside a parallel region.
void store_fence() {
#pragma omp parallel
  _mm_sfence();
}

// A row copy with non-temporal stores where the row is whole 64-byte lines: the rows of a prefill
// dispatch (hundreds of MB) are written once and read by another kernel later, so fetching each
// destination line first (what a plain store does) would double the traffic. The caller fences.
__attribute__((target("avx512f"))) void stream_row_avx512(uint8_t* dst, const uint8_t* src, int64_t n) {
  for (int64_t i = 0; i < n; i += 64) _mm512_stream_si512(reinterpret_cast<__m512i*>(dst + i), _mm512_loadu_si512(src + i));
}
__attribute__((target("avx2"))) void stream_row_avx2(uint8_t* dst, const uint8_t* src, int64_t n) {
  for (int64_t i = 0; i < n; i += 32)
    _mm256_stream_si256(reinterpret_cast<__m256i*>(dst + i), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(src + i)));
}
void copy_row(uint8_t* dst, const uint8_t* src, int64_t n) {
  static const int isa = __builtin_cpu_supports("avx512f") ? 2 : __builtin_cpu_supports("avx2") ? 1 : 0;
  if (isa == 0 || n < 4096) {
    std::memcpy(dst, src, static_cast<size_t>(n));
    return;
  }
  // Plain stores up to the first 64-byte line boundary and after the last whole line.
  const int64_t head = static_cast<int64_t>((64 - reinterpret_cast<uintptr_t>(dst) % 64) % 64);
  const int64_t body = (n - head) / 64 * 64;
  std::memcpy(dst, src, static_cast<size_t>(head));
  if (isa == 2) stream_row_avx512(dst + head, src + head, body);
  else stream_row_avx2(dst + head, src + head, body);
  std::memcpy(dst + head + body, src + head + body, static_cast<size_t>(n - head - body));
}

// A placed row's handle: its source (rank, token, slot) and, in the contiguous layout, its expert.
void mark_row(const dsb_moe_dispatch_params& p, int64_t row, int32_t src, int32_t t, int32_t j, int32_t le) {
  p.recv_src[3 * row] = src;
  p.recv_src[3 * row + 1] = t;
  p.recv_src[3 * row + 2] = j;
  if (p.layout == DSB_MOE_LAYOUT_CONTIGUOUS) p.recv_m_indices[row] = le;
}

void put_row(const dsb_moe_dispatch_params& p, int64_t row, const uint8_t* payload, int64_t row_bytes,
             int64_t scale_bytes, int32_t src, int32_t t, int32_t j, int32_t le) {
  copy_row(static_cast<uint8_t*>(p.recv_x) + row * row_bytes, payload, row_bytes);
  if (scale_bytes > 0)
    std::memcpy(static_cast<uint8_t*>(p.recv_scale) + row * scale_bytes, payload + row_bytes, static_cast<size_t>(scale_bytes));
  mark_row(p, row, src, t, j, le);
}

// Rows to be written at least this large in all are written with non-temporal stores: past the
// last-level cache they would be evicted before anyone reads them, and a plain store first reads
// each line. Smaller outputs stay in cache for the kernel that reads them next.
constexpr int64_t kStreamMinBytes = int64_t{8} << 20;
// Whether `bytes` of output at dst are streamed: enough of them, and dst on a 64-byte line (the
// callers' rows are whole lines, so every row then is).
bool streams_to(const void* dst, int64_t bytes) {
  return bytes >= kStreamMinBytes && reinterpret_cast<uintptr_t>(dst) % 64 == 0;
}
// The fused FP8 dispatch keeps a token's row pointers on the stack.
constexpr int64_t kFusedMaxTopk = 32;

// FP8 dispatch of tokens [t0, t1) on one rank, AVX-512: each 1x128 block is quantised once into two
// registers and stored straight to every row of the token (no staging buffer, no second pass).
template <dsb_dtype kType, const Fp8Format& F>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) void dispatch_fp8_tokens_avx512(
    const dsb_moe_dispatch_params& p, const int64_t* pos, int64_t t0, int64_t t1, bool stream) {
  const int64_t K = p.topk, H = p.hidden;
  ref::QuantRecipe recipe;
  recipe.fp8 = kType;
  recipe.ue8m0 = p.scale_dtype == DSB_DTYPE_UE8M0;
  const int64_t scale_bytes = ref::moe_scale_bytes(p.hidden, p.recv_dtype, p.scale_dtype);
  uint8_t* rows[kFusedMaxTopk];
  uint8_t* scale_rows[kFusedMaxTopk];
  for (int64_t t = t0; t < t1; ++t) {
    int n = 0;
    for (int64_t j = 0; j < K; ++j) {
      const int64_t at = pos[t * K + j];
      if (at < 0) continue;
      rows[n] = static_cast<uint8_t*>(p.recv_x) + at * H;
      scale_rows[n++] = static_cast<uint8_t*>(p.recv_scale) + at * scale_bytes;
      mark_row(p, at, 0, static_cast<int32_t>(t), static_cast<int32_t>(j), p.topk_idx[t * K + j]);
    }
    const uint16_t* x = static_cast<const uint16_t*>(p.x) + t * H;
    for (int64_t b = 0; n > 0 && b < H / DSB_FP8_BLOCK; ++b) {
      __m512i lo, hi;
      const float s = quantize_block_avx512<kType, F>(x + b * DSB_FP8_BLOCK, recipe, &lo, &hi);
      for (int i = 0; i < n; ++i) {
        auto* d = reinterpret_cast<__m512i*>(rows[i] + b * DSB_FP8_BLOCK);
        if (stream) {
          _mm512_stream_si512(d, lo);
          _mm512_stream_si512(d + 1, hi);
        } else {
          _mm512_storeu_si512(d, lo);
          _mm512_storeu_si512(d + 1, hi);
        }
        store_scale(scale_rows[i], static_cast<int32_t>(b), s, recipe.ue8m0);
      }
    }
  }
}

struct DispatchFp8Tokens {
  const dsb_moe_dispatch_params& p;
  const int64_t* pos;
  int64_t t0, t1;
  bool stream;
  template <dsb_dtype kType, const Fp8Format& F>
  void operator()() const {
    dispatch_fp8_tokens_avx512<kType, F>(p, pos, t0, t1, stream);
  }
};

}  // namespace

std::string moe_dispatch_unsupported(const dsb_moe_dispatch_params& p) {
  if (p.recv_dtype != DSB_DTYPE_BF16 && !dsb_dtype_is_fp8(p.recv_dtype))
    return std::string("recv_dtype ") + dsb_dtype_name(p.recv_dtype) + ": BF16 or an FP8 type";
  if (dsb_dtype_is_fp8(p.recv_dtype) && p.hidden % DSB_FP8_BLOCK != 0)
    return "hidden = " + std::to_string(p.hidden) + " is not a multiple of 128: no 1x128 FP8 quantisation";
  if (dsb_dtype_is_fp8(p.recv_dtype) && p.scale_dtype != DSB_DTYPE_F32 && p.scale_dtype != DSB_DTYPE_UE8M0)
    return "scale_dtype: F32 or UE8M0";
  if (p.world_size > 1 && (p.comm == nullptr || p.comm->alltoallv == nullptr)) return "no communicator for this run";
  if (p.comm != nullptr && (p.comm->world_size != p.world_size || p.comm->rank != p.rank))
    return "the communicator's world is not the case's";
  if (p.num_experts % std::max(1, p.world_size) != 0) return "num_experts is not a multiple of world_size";
  return "";
}

std::string moe_combine_unsupported(const dsb_moe_combine_params& p) {
  if (p.world_size > 1 && (p.comm == nullptr || p.comm->alltoallv == nullptr)) return "no communicator for this run";
  if (p.comm != nullptr && (p.comm->world_size != p.world_size || p.comm->rank != p.rank))
    return "the communicator's world is not the case's";
  if (p.num_experts % std::max(1, p.world_size) != 0) return "num_experts is not a multiple of world_size";
  return "";
}

size_t moe_dispatch_optimized_workspace(const dsb_moe_dispatch_params& p) { return carve_dispatch(p, nullptr).bytes; }

dsb_status moe_dispatch_optimized(const dsb_moe_dispatch_params& p, void* workspace) {
  if (ref::moe_dispatch_invalid(p)) return DSB_STATUS_INVALID_ARGUMENT;
  const int64_t T = p.num_tokens, K = p.topk, E = p.num_experts, W = p.world_size, L = E / W;
  const int64_t row_bytes = ref::moe_row_bytes(p.hidden, p.recv_dtype);
  const int64_t scale_bytes = ref::moe_scale_bytes(p.hidden, p.recv_dtype, p.scale_dtype);
  const int64_t payload = row_bytes + scale_bytes, rec = 3 + words(payload);
  const DispatchWs w = carve_dispatch(p, workspace);

  // Layout of this rank's tokens, and each pair's destination.
  std::memset(p.num_tokens_per_rank, 0, static_cast<size_t>(W) * 4);
  std::memset(p.num_tokens_per_expert, 0, static_cast<size_t>(E) * 4);
  if (T > 0) std::memset(p.is_token_in_rank, 0, static_cast<size_t>(T * W) * 4);
  std::fill(w.cnt, w.cnt + std::max(E, W), int64_t{0});
  bool bad = false;
  for (int64_t i = 0; i < T * K; ++i) {
    const int32_t e = p.topk_idx[i];
    if (e < 0 || e >= E) {
      bad = bad || e != -1;
      continue;
    }
    p.num_tokens_per_expert[e] += 1;
    p.is_token_in_rank[i / K * W + e / L] = 1;
    w.cnt[W == 1 ? e : e / L] += 1;
  }
  for (int64_t t = 0; t < T; ++t)
    for (int64_t r = 0; r < W; ++r) p.num_tokens_per_rank[r] += p.is_token_in_rank[t * W + r];

  if (W == 1) {
    if (bad || !place(p, w.cnt, E, w.cur)) return DSB_STATUS_INVALID_ARGUMENT;
    for (int64_t i = 0; i < T * K; ++i) {
      const int32_t e = p.topk_idx[i];
      w.pos[i] = e >= 0 ? w.cur[e]++ : -1;
    }
    if (dsb_dtype_is_fp8(p.recv_dtype) && has_avx512() && K <= kFusedMaxTopk) {
      const bool stream = streams_to(p.recv_x, T * K * payload);  // rows are whole 128-byte blocks
      constexpr int64_t kTokens = 4;  // tokens per task
#pragma omp parallel for schedule(static) if (T * K * payload > kParallelMinBytes)
      for (int64_t t0 = 0; t0 < T; t0 += kTokens)
        with_fp8_format(p.recv_dtype, DispatchFp8Tokens{p, w.pos, t0, std::min(T, t0 + kTokens), stream});
      if (stream) store_fence();
      return DSB_STATUS_OK;
    }
#pragma omp parallel for schedule(static) if (T * K * payload > kParallelMinBytes)
    for (int64_t t = 0; t < T; ++t) {
      uint8_t* buf = w.tbuf + static_cast<int64_t>(omp_get_thread_num()) * (payload + 64);
      const uint8_t* row = nullptr;
      for (int64_t j = 0; j < K; ++j) {
        if (w.pos[t * K + j] < 0) continue;
        if (row == nullptr) row = token_payload(p, t, buf);
        put_row(p, w.pos[t * K + j], row, row_bytes, scale_bytes, 0, static_cast<int32_t>(t), static_cast<int32_t>(j),
                p.topk_idx[t * K + j]);
      }
    }
    store_fence();
    return DSB_STATUS_OK;
  }

  // Records to each destination, in (token, slot) order; none at all after a bad expert id (the
  // exchange still runs, so that the other ranks do not wait for this one).
  int64_t off = 0;
  for (int64_t d = 0; d < W; ++d) {
    w.sd[d] = off;
    w.sw[d] = bad ? 0 : w.cnt[d] * rec;
    w.cur[d] = off;
    off += w.sw[d];
  }
  if (!bad) {
    for (int64_t i = 0; i < T * K; ++i) {
      const int32_t e = p.topk_idx[i];
      w.pos[i] = -1;
      if (e >= 0) {
        w.pos[i] = w.cur[e / L];
        w.cur[e / L] += rec;
      }
    }
#pragma omp parallel for schedule(static) if (T * K * payload > kParallelMinBytes)
    for (int64_t t = 0; t < T; ++t) {
      uint8_t* buf = w.tbuf + static_cast<int64_t>(omp_get_thread_num()) * (payload + 64);
      const uint8_t* row = nullptr;
      for (int64_t j = 0; j < K; ++j) {
        const int64_t at = w.pos[t * K + j];
        if (at < 0) continue;
        if (row == nullptr) row = token_payload(p, t, buf);
        int32_t* r = w.send + at;
        r[0] = static_cast<int32_t>(t);
        r[1] = static_cast<int32_t>(j);
        r[2] = p.topk_idx[t * K + j];
        std::memcpy(r + 3, row, static_cast<size_t>(payload));
      }
    }
  }
  const int64_t R = dispatch_max_rows(p);
  const dsb_status st = ref::moe_exchange(p.comm, p.world_size, w.send, w.sw, w.sd, w.recv, R * rec, w.rw, w.rd);
  if (st != DSB_STATUS_OK) return st;
  if (bad) return DSB_STATUS_INVALID_ARGUMENT;

  // Received records in (source rank, arrival) order: count per local expert, then place.
  int64_t n = 0;
  for (int64_t s = 0; s < W; ++s) n += w.rw[s] / rec;
  std::fill(w.cnt, w.cnt + L, int64_t{0});
  for (int64_t k = 0; k < n; ++k) {
    const int64_t le = w.recv[k * rec + 2] - p.rank * L;
    if (le < 0 || le >= L) return DSB_STATUS_INTERNAL;  // a peer sent a row of another rank's expert
    w.cnt[le] += 1;
  }
  if (!place(p, w.cnt, L, w.cur)) return DSB_STATUS_INVALID_ARGUMENT;
  for (int64_t k = 0; k < n; ++k) w.rrow[k] = w.cur[w.recv[k * rec + 2] - p.rank * L]++;
  for (int64_t s = 0; s < W; ++s) {
    const int64_t k0 = w.rd[s] / rec, k1 = k0 + w.rw[s] / rec;
#pragma omp parallel for schedule(static) if ((k1 - k0) * payload > kParallelMinBytes)
    for (int64_t k = k0; k < k1; ++k) {
      const int32_t* r = w.recv + k * rec;
      put_row(p, w.rrow[k], reinterpret_cast<const uint8_t*>(r + 3), row_bytes, scale_bytes, static_cast<int32_t>(s), r[0],
              r[1], static_cast<int32_t>(r[2] - p.rank * L));
    }
  }
  store_fence();
  return DSB_STATUS_OK;
}

namespace {

struct CombineWs {
  int64_t* row_of;  // [T*K] offset (in BF16 elements from `base`) of the pair's expert output, or -1
  int32_t* send;    // W>1: [max_rows*rec]
  int32_t* recv;    // W>1: [T*K*rec]
  int64_t* spos;    // W>1: [max_rows] the rows that hold expert outputs, in order
  int64_t* soff;    // W>1: [max_rows] word offset of each such row's record in send
  int64_t *cnt, *sw, *sd, *rw, *rd;
  size_t bytes;
};

CombineWs carve_combine(const dsb_moe_combine_params& p, void* base) {
  const int64_t T = p.num_tokens, K = p.topk, W = p.world_size, R = combine_max_rows(p);
  const int64_t rec = 2 + words(static_cast<int64_t>(p.hidden) * 2);
  Carve c(base);
  CombineWs w{};
  w.row_of = c.take<int64_t>(T * K);
  if (W > 1) {
    w.send = c.take<int32_t>(R * rec);
    w.recv = c.take<int32_t>(T * K * rec);
    w.spos = c.take<int64_t>(R);
    w.soff = c.take<int64_t>(R);
    w.cnt = c.take<int64_t>(W);
    w.sw = c.take<int64_t>(W);
    w.sd = c.take<int64_t>(W);
    w.rw = c.take<int64_t>(W);
    w.rd = c.take<int64_t>(W);
  }
  w.bytes = c.used();
  return w;
}

// out[t] = bf16(sum_j w[t,j] * y[t,j]) in FP32, slots in order; missing pairs add nothing. One token
// (columns t0 ... in chunks that stay in registers/L1).
inline __attribute__((always_inline)) void reduce_token(const dsb_moe_combine_params& p, const uint16_t* base,
                                                        const int64_t* row_of, int64_t t, int64_t c_begin = 0) {
  const int64_t K = p.topk, H = p.hidden;
  constexpr int64_t kChunk = 512;
  auto* out = static_cast<uint16_t*>(p.out);
  for (int64_t c0 = c_begin; c0 < H; c0 += kChunk) {
    const int64_t n = std::min(kChunk, H - c0);
    float acc[kChunk];
    for (int64_t c = 0; c < n; ++c) acc[c] = 0.0f;
    for (int64_t j = 0; j < K; ++j) {
      const int64_t at = row_of[t * K + j];
      if (at < 0) continue;
      const float wt = p.topk_weights[t * K + j];
      const uint16_t* y = base + at + c0;
      for (int64_t c = 0; c < n; ++c) acc[c] += wt * bf16_to_f32(y[c]);
    }
    for (int64_t c = 0; c < n; ++c) out[t * H + c0 + c] = bf16_from_f32(acc[c]);
  }
}

void reduce_tokens_base(const dsb_moe_combine_params& p, const uint16_t* base, const int64_t* row_of, int64_t t0,
                        int64_t t1) {
  for (int64_t t = t0; t < t1; ++t) reduce_token(p, base, row_of, t);
}
__attribute__((target("avx2"))) void reduce_tokens_avx2(const dsb_moe_combine_params& p, const uint16_t* base,
                                                        const int64_t* row_of, int64_t t0, int64_t t1) {
  for (int64_t t = t0; t < t1; ++t) reduce_token(p, base, row_of, t);
}

// Columns [c_begin, hidden) of token t with the loop above, built for the baseline ISA (no FMA to
// fuse its multiply-add into): the AVX-512 kernel's last columns.
__attribute__((noinline)) void reduce_token_tail(const dsb_moe_combine_params& p, const uint16_t* base,
                                                 const int64_t* row_of, int64_t t, int64_t c_begin) {
  reduce_token(p, base, row_of, t, c_begin);
}

// The same sum with AVX-512 intrinsics: kCombineCols columns of a token in 16-lane FP32 accumulators
// (registers), the slots read in order, the product rounded before the add as in the loop above (an
// asm barrier keeps the compiler from fusing them, so every ISA gives the same bits), 32 BF16
// results per 64-byte store (non-temporal when `stream`: out is 64-byte aligned and too large to
// stay in cache).
constexpr int64_t kCombineCols = 64;

__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) void reduce_tokens_avx512(const dsb_moe_combine_params& p,
                                                                                     const uint16_t* base,
                                                                                     const int64_t* row_of, int64_t t0,
                                                                                     int64_t t1, bool stream) {
  constexpr int kAcc = kCombineCols / 16;
  const int64_t K = p.topk, H = p.hidden, Hv = H / kCombineCols * kCombineCols;
  auto* out = static_cast<uint16_t*>(p.out);
  for (int64_t t = t0; t < t1; ++t) {
    uint16_t* o = out + t * H;
    for (int64_t c = 0; c < Hv; c += kCombineCols) {
      __m512 acc[kAcc];
      for (int i = 0; i < kAcc; ++i) acc[i] = _mm512_setzero_ps();
      for (int64_t j = 0; j < K; ++j) {
        const int64_t at = row_of[t * K + j];
        if (at < 0) continue;
        const __m512 wt = _mm512_set1_ps(p.topk_weights[t * K + j]);
        const uint16_t* y = base + at + c;
        for (int i = 0; i < kAcc; ++i) {
          __m512 prod = _mm512_mul_ps(wt, avx512::load_bf16x16(y + 16 * i));
          asm("" : "+v"(prod));
          acc[i] = _mm512_add_ps(acc[i], prod);
        }
      }
      auto* d = reinterpret_cast<__m512i*>(o + c);
      for (int i = 0; i < kAcc; i += 2) {
        const __m512i v = avx512::pack_bf16x32(acc[i], acc[i + 1]);
        if (stream) _mm512_stream_si512(d + i / 2, v);
        else _mm512_storeu_si512(d + i / 2, v);
      }
    }
    if (Hv < H) reduce_token_tail(p, base, row_of, t, Hv);
  }
}

void reduce(const dsb_moe_combine_params& p, const uint16_t* base, const int64_t* row_of) {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  const int64_t T = p.num_tokens, K = p.topk, H = p.hidden;
  const bool avx512 = has_avx512();
  const bool stream = avx512 && H % 32 == 0 && streams_to(p.out, T * H * 2);  // H % 32: rows of whole lines
  constexpr int64_t kTokens = 8;  // tokens per task
  const int64_t tasks = (T + kTokens - 1) / kTokens;
#pragma omp parallel for schedule(static) if (T * K * H * 2 > kParallelMinBytes)
  for (int64_t i = 0; i < tasks; ++i) {
    const int64_t t0 = i * kTokens, t1 = std::min(T, t0 + kTokens);
    if (avx512) reduce_tokens_avx512(p, base, row_of, t0, t1, stream);
    else if (avx2) reduce_tokens_avx2(p, base, row_of, t0, t1);
    else reduce_tokens_base(p, base, row_of, t0, t1);
  }
  if (stream) store_fence();
}

// Calls f(row) for each row that holds an expert output; false if recv_count is out of range.
template <class F>
bool for_each_row(const dsb_moe_combine_params& p, F f) {
  const int64_t L = p.num_experts / p.world_size;
  if (p.layout == DSB_MOE_LAYOUT_CONTIGUOUS) {
    for (int64_t r = 0; r < p.recv_capacity; ++r)
      if (p.recv_src[3 * r] != -1) f(r);
    return true;
  }
  for (int64_t le = 0; le < L; ++le)
    if (p.recv_count[le] < 0 || p.recv_count[le] > p.recv_capacity) return false;
  for (int64_t le = 0; le < L; ++le)
    for (int64_t k = 0; k < p.recv_count[le]; ++k) f(le * p.recv_capacity + k);
  return true;
}

}  // namespace

size_t moe_combine_optimized_workspace(const dsb_moe_combine_params& p) { return carve_combine(p, nullptr).bytes; }

dsb_status moe_combine_optimized(const dsb_moe_combine_params& p, void* workspace) {
  if (ref::moe_combine_invalid(p)) return DSB_STATUS_INVALID_ARGUMENT;
  const int64_t T = p.num_tokens, K = p.topk, W = p.world_size, H = p.hidden;
  const int64_t rec = 2 + words(H * 2);
  const CombineWs w = carve_combine(p, workspace);
  std::fill(w.row_of, w.row_of + T * K, int64_t{-1});
  bool bad = false;
  // Maps pair (t, j) of this rank to the BF16 offset of its row; false on a pair that does not exist
  // or arrives twice.
  auto claim = [&](int64_t t, int64_t j, int64_t at) {
    if (t < 0 || t >= T || j < 0 || j >= K || w.row_of[t * K + j] >= 0) return false;
    w.row_of[t * K + j] = at;
    return true;
  };
  if (W == 1) {
    const bool ok = for_each_row(p, [&](int64_t r) {
      const int32_t* s = p.recv_src + 3 * r;
      if (s[0] != 0 || !claim(s[1], s[2], r * H)) bad = true;
    });
    if (!ok || bad) return DSB_STATUS_INVALID_ARGUMENT;
    reduce(p, static_cast<const uint16_t*>(p.expert_out), w.row_of);
    return DSB_STATUS_OK;
  }
  // Rows go home: records (token, slot, y) to the source rank, in row order.
  std::fill(w.cnt, w.cnt + W, int64_t{0});
  const bool ok = for_each_row(p, [&](int64_t r) {
    const int32_t s = p.recv_src[3 * r];
    if (s < 0 || s >= W) bad = true;
    else w.cnt[s] += 1;
  });
  bad = bad || !ok;
  int64_t off = 0;
  for (int64_t d = 0; d < W; ++d) {
    w.sd[d] = off;
    w.sw[d] = bad ? 0 : w.cnt[d] * rec;
    w.cnt[d] = off;  // now the cursor
    off += w.sw[d];
  }
  if (!bad) {
    int64_t nrows = 0;
    for_each_row(p, [&](int64_t r) { w.spos[nrows++] = r; });
    for (int64_t k = 0; k < nrows; ++k) {  // serial: records keep row order per destination
      const int32_t s = p.recv_src[3 * w.spos[k]];
      w.soff[k] = w.cnt[s];
      w.cnt[s] += rec;
    }
#pragma omp parallel for schedule(static) if (nrows * H * 2 > kParallelMinBytes)
    for (int64_t k = 0; k < nrows; ++k) {
      const int64_t r = w.spos[k];
      int32_t* o = w.send + w.soff[k];
      o[0] = p.recv_src[3 * r + 1];
      o[1] = p.recv_src[3 * r + 2];
      std::memcpy(o + 2, static_cast<const uint16_t*>(p.expert_out) + r * H, static_cast<size_t>(H) * 2);
    }
  }
  const dsb_status st = ref::moe_exchange(p.comm, p.world_size, w.send, w.sw, w.sd, w.recv, T * K * rec, w.rw, w.rd);
  if (st != DSB_STATUS_OK) return st;
  if (bad) return DSB_STATUS_INVALID_ARGUMENT;
  int64_t n = 0;
  for (int64_t s = 0; s < W; ++s) n += w.rw[s] / rec;
  for (int64_t k = 0; k < n; ++k)
    if (!claim(w.recv[k * rec], w.recv[k * rec + 1], (k * rec + 2) * 2)) return DSB_STATUS_INVALID_ARGUMENT;
  reduce(p, reinterpret_cast<const uint16_t*>(w.recv), w.row_of);
  return DSB_STATUS_OK;
}

}  // namespace dsbench::cpu
