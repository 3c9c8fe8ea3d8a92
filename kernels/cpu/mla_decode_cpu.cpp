// Driver of the optimised CPU MLA decode. The query rows that share a KV head (s_q x h_q/h_kv of them)
// are cut into head groups of at most 64 rows; each (sequence, KV head, head group) walks its keys
// in chunks of up to 64 (never across a page, never past the sequence's length) with the online
// softmax: scores by the micro-kernels, weights 2^(s - running max), and the value sum rescaled when
// the max grows, all in FP32. When there are too few such items for the threads, long sequences are
// split along the keys: each split leaves (O, max, sum) in the workspace and a combine step merges
// them. Items run longest first with dynamic scheduling. docs/ops/mla_decode.md has the details.
#include "kernels/cpu/mla_decode_cpu.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <thread>
#include <vector>

#include "dsbench/numerics/bf16.hpp"
#include "kernels/cpu/mla_decode_cpu_microkernel.hpp"
#include "reference/mla_decode_reference.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace dsbench::cpu {
namespace {

using namespace mla_detail;

constexpr int32_t kMaxGroupRows = 64;    // O (64 x 512 FP32 = 128 KiB) and the scores stay in L2
constexpr int64_t kItemsPerThread = 4;   // enough items for dynamic scheduling to balance
constexpr int64_t kMinSplitKeys = 256;   // a split shorter than this costs more to combine than it saves
constexpr int64_t kMaxSplits = 64;
constexpr int kPiece = 16;      // keys per micro-kernel call when prefetching in pieces
constexpr int kPieceRows = 8;   // up to this many rows per item the keys' loads are what limits
constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr double kLog2e = 1.4426950408889634;
constexpr double kLn2 = 0.6931471805599453;

int max_threads() {
#if defined(_OPENMP)
  return omp_get_max_threads();
#else
  return 1;
#endif
}

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

struct Layout {
  int32_t hpk = 0;         // query heads per KV head
  int32_t rows = 0;        // query rows per (sequence, KV head): s_q * hpk, row m = (m / hpk, m % hpk)
  int32_t groups = 0;      // head groups per (sequence, KV head)
  int32_t group_rows = 0;  // rows per head group (the last may have fewer)
  int64_t max_splits = 1;  // splits per sequence the workspace has room for
  int64_t slot_floats = 0; // one split's partial result: O [group_rows, d_v], max, sum [group_rows]
};

// From the params alone (the workspace size may not depend on tensor contents). The split room
// targets the machine's hardware threads, not the OpenMP setting, so it never shrinks between
// workspace_bytes() and run().
Layout layout_of(const dsb_mla_decode_params& p) {
  Layout l;
  if (p.b < 1 || p.s_q < 1 || p.h_kv < 1 || p.h_q < p.h_kv || p.h_q % p.h_kv != 0 || p.d_v < 1) return l;
  l.hpk = p.h_q / p.h_kv;
  l.rows = p.s_q * l.hpk;
  l.groups = static_cast<int32_t>(ceil_div(l.rows, kMaxGroupRows));
  l.group_rows = static_cast<int32_t>(ceil_div(l.rows, l.groups));
  const int64_t base = static_cast<int64_t>(p.b) * p.h_kv * l.groups;
  const int64_t want = kItemsPerThread * std::max<int64_t>(16, std::thread::hardware_concurrency());
  l.max_splits = base >= want ? 1 : std::min<int64_t>(kMaxSplits, ceil_div(want, base));
  l.slot_floats = static_cast<int64_t>(l.group_rows) * (p.d_v + 2);
  return l;
}

struct Item {
  int32_t i, g, grp;
  int32_t split;  // -1: the whole sequence, written straight to out and lse
  int64_t k0, k1; // keys [k0, k1)
};

// Per-thread buffers, grown on demand and kept between calls (OpenMP reuses its threads), so
// steady-state calls allocate nothing.
struct Scratch {
  std::vector<uint16_t> qb;  // [group_rows, d_qk] the item's query rows, BF16
  std::vector<float> qf;     // [group_rows, d_qk] the same in FP32 (without BF16 dot products)
  std::vector<float> kf;     // [kChunk, d_qk] an FP8 chunk dequantised
  std::vector<float> s;      // [group_rows, kChunk] scores, then weights
  std::vector<float> o;      // [group_rows, d_v] running weighted sum of values
  std::vector<float> m, l;   // [group_rows] running max (log2 domain) and sum of weights
  std::vector<int64_t> lim;  // [group_rows] keys the row sees
};
thread_local Scratch tls_scratch;

class Runner {
 public:
  Runner(const dsb_mla_decode_params& p, const Layout& l, float* ws)
      : p_(p), l_(l), ws_(ws), kern_(mla_kernels()),
        fp8_(p.kv_dtype == DSB_DTYPE_E4M3FN),
        token_bytes_(fp8_ ? DSB_MLA_FP8_TOKEN_BYTES : 2 * static_cast<int64_t>(p.d_qk)),
        scale2_(static_cast<float>(static_cast<double>(p.softmax_scale) * kLog2e)) {}

  void item(const Item& it, Scratch& sc) const {
    const int32_t r0 = it.grp * l_.group_rows, rows = std::min(l_.group_rows, l_.rows - r0);
    const int32_t d_qk = p_.d_qk, d_v = p_.d_v;
    const bool bf16_dots = !fp8_ && kern_.qk_bf16 != nullptr;
    sc.qb.resize(static_cast<size_t>(rows) * d_qk);
    if (fp8_) sc.kf.resize(static_cast<size_t>(kChunk) * d_qk);
    sc.s.resize(static_cast<size_t>(rows) * kChunk);
    sc.o.assign(static_cast<size_t>(rows) * d_v, 0.0f);
    sc.m.assign(rows, kNegInf);
    sc.l.assign(rows, 0.0f);
    sc.lim.resize(rows);
    const int64_t len = p_.cache_seqlens[it.i];
    int64_t end = it.k0;  // past the last key any row of the item sees
    for (int32_t r = 0; r < rows; ++r) {
      const int32_t t = (r0 + r) / l_.hpk, h = it.g * l_.hpk + (r0 + r) % l_.hpk;
      sc.lim[r] = std::min(it.k1, ref::mla_visible_keys(len, p_.s_q, t, p_.causal != 0));
      end = std::max(end, sc.lim[r]);
      const auto* q = static_cast<const uint16_t*>(p_.q) + ((static_cast<int64_t>(it.i) * p_.s_q + t) * p_.h_q + h) * d_qk;
      std::memcpy(sc.qb.data() + static_cast<size_t>(r) * d_qk, q, 2 * static_cast<size_t>(d_qk));
    }
    if (!bf16_dots) {
      sc.qf.resize(static_cast<size_t>(rows) * d_qk);
      kern_.bf16_to_f32(sc.qb.data(), d_qk, rows, d_qk, sc.qf.data(), d_qk);
    }
    const int64_t ld = static_cast<int64_t>(p_.h_kv) * token_bytes_;  // bytes between tokens of a page
    const auto* cache = static_cast<const uint8_t*>(p_.kv_cache);
    const int32_t* table = p_.block_table + static_cast<int64_t>(it.i) * p_.max_blocks_per_seq;
    for (int64_t c0 = it.k0; c0 < end;) {
      const int64_t page = c0 / p_.page_block_size, off = c0 % p_.page_block_size;
      const int n = static_cast<int>(std::min<int64_t>({kChunk, p_.page_block_size - off, end - c0}));
      const uint8_t* base = cache + ((static_cast<int64_t>(table[page]) * p_.page_block_size + off) * p_.h_kv + it.g) *
                                        token_bytes_;
      const auto* keys = reinterpret_cast<const uint16_t*>(base);  // BF16 tokens, ld / 2 elements apart
      // The next chunk is fetched while this one computes (pages sit at random places, so the hardware
      // prefetcher cannot run ahead). With few rows the keys' loads are what limits: the chunk then
      // goes in pieces of kPiece keys, each followed by a share of the prefetches, so the loads
      // overlap the arithmetic instead of stalling the core in one burst.
      const bool next = c0 + n < end;
      const int piece = next && rows <= kPieceRows ? kPiece : n;
      const int parts = !next ? 0 : piece == n ? 1 : 2 * ((n + piece - 1) / piece);
      int part = 0;
      if (parts == 1) prefetch_chunk(table, it.g, c0 + n, end, ld, part++, parts);
      // Scores, then weights; then the weighted values (the first d_v dims of each key). BF16 keys
      // are read straight from the page; FP8 ones are dequantised into kf first.
      if (fp8_) kern_.fp8_to_f32(base, ld, n, sc.kf.data(), d_qk);
      for (int j = 0; j < n; j += piece) {
        const int m = std::min(piece, n - j);
        float* s = sc.s.data() + j;
        if (fp8_) kern_.qk_f32(sc.qf.data(), d_qk, rows, sc.kf.data() + j * d_qk, d_qk, m, d_qk, s, kChunk);
        else if (bf16_dots) kern_.qk_bf16(sc.qb.data(), d_qk, rows, keys + j * ld / 2, ld / 2, m, d_qk, s, kChunk);
        else kern_.qk_f32_bf16(sc.qf.data(), d_qk, rows, keys + j * ld / 2, ld / 2, m, d_qk, s, kChunk);
        if (part < parts) prefetch_chunk(table, it.g, c0 + n, end, ld, part++, parts);
      }
      for (int32_t r = 0; r < rows; ++r) softmax_step(sc, r, c0, n, d_v);
      for (int j = 0; j < n; j += piece) {
        const int m = std::min(piece, n - j);
        const float* w = sc.s.data() + j;
        if (fp8_) kern_.pv_f32(w, kChunk, rows, m, sc.kf.data() + j * d_qk, d_qk, d_v, sc.o.data(), d_v);
        else kern_.pv_bf16(w, kChunk, rows, m, keys + j * ld / 2, ld / 2, d_v, sc.o.data(), d_v);
        if (part < parts) prefetch_chunk(table, it.g, c0 + n, end, ld, part++, parts);
      }
      c0 += n;
    }
    if (it.split < 0) finish(it, r0, rows, sc);
    else save_partial(it, rows, sc);
  }

  // Merges the splits of (i, g, grp) row by row: weights 2^(m_s - max) on each split's sum and O.
  void combine(int32_t i, int32_t g, int32_t grp, int64_t splits) const {
    const int32_t r0 = grp * l_.group_rows, rows = std::min(l_.group_rows, l_.rows - r0);
    const float* first = slot(i, g, grp, 0);
    std::vector<float> o(p_.d_v);
    for (int32_t r = 0; r < rows; ++r) {
      float mx = kNegInf;
      bool seen = false;
      for (int64_t s = 0; s < splits; ++s) {
        const float* sl = first + s * l_.slot_floats;
        if (sl[l_offset() + r] == 0.0f) continue;  // the row saw no key in this split
        seen = true;
        mx = std::max(mx, sl[m_offset() + r]);
      }
      double sum = 0.0;
      std::fill(o.begin(), o.end(), 0.0f);
      if (seen) {
        for (int64_t s = 0; s < splits; ++s) {
          const float* sl = first + s * l_.slot_floats;
          const float ls = sl[l_offset() + r];
          if (ls == 0.0f) continue;
          const float w = std::exp2(sl[m_offset() + r] - mx);
          sum += static_cast<double>(ls) * w;
          const float* os = sl + static_cast<int64_t>(r) * p_.d_v;
          for (int32_t d = 0; d < p_.d_v; ++d) o[d] += w * os[d];
        }
      }
      write_row(i, g, r0 + r, seen, o.data(), mx, static_cast<float>(sum));
    }
  }

 private:
  // Online softmax for row r on a chunk of n keys starting at key c0: weights 2^(s*scale2 - m) for
  // the keys the row sees (0 for the others), the running sum and O rescaled to the new max.
  void softmax_step(Scratch& sc, int32_t r, int64_t c0, int n, int32_t d_v) const {
    float* x = sc.s.data() + static_cast<size_t>(r) * kChunk;
    const int nr = static_cast<int>(std::clamp<int64_t>(sc.lim[r] - c0, 0, n));
    if (nr == 0) {
      std::fill(x, x + n, 0.0f);
      return;
    }
    float mx = sc.m[r];
    for (int j = 0; j < nr; ++j) {
      x[j] *= scale2_;
      if (x[j] > mx) mx = x[j];
    }
    const float alpha = sc.m[r] == kNegInf ? 0.0f : std::exp2(sc.m[r] - mx);
    const float sum = kern_.exp2_sum(x, nr, mx);
    std::fill(x + nr, x + n, 0.0f);
    if (alpha != 1.0f) {
      float* o = sc.o.data() + static_cast<size_t>(r) * d_v;
      for (int32_t d = 0; d < d_v; ++d) o[d] *= alpha;
    }
    sc.l[r] = sc.l[r] * alpha + sum;
    sc.m[r] = mx;
  }

  // Prefetches share `part` of `parts` of the chunk of keys starting at c0 into L2. The first share
  // also loads one byte of every 4 KiB the chunk spans: a prefetch that misses the TLB may be dropped.
  void prefetch_chunk(const int32_t* table, int32_t g, int64_t c0, int64_t end, int64_t ld, int part, int parts) const {
    const int64_t page = c0 / p_.page_block_size, off = c0 % p_.page_block_size;
    const int64_t n = std::min<int64_t>({kChunk, p_.page_block_size - off, end - c0});
    const auto* base = static_cast<const char*>(p_.kv_cache) +
                       ((static_cast<int64_t>(table[page]) * p_.page_block_size + off) * p_.h_kv + g) * token_bytes_;
    if (part == 0) {
      const char* last = base + (n - 1) * ld + token_bytes_ - 1;
      for (const char* a = base; a < last; a += 4096) (void)*static_cast<const volatile char*>(a);
      (void)*static_cast<const volatile char*>(last);
    }
    for (int64_t j = n * part / parts; j < n * (part + 1) / parts; ++j)
      for (int64_t b = 0; b < token_bytes_; b += 64) __builtin_prefetch(base + j * ld + b, 0, 2);
  }

  void finish(const Item& it, int32_t r0, int32_t rows, const Scratch& sc) const {
    for (int32_t r = 0; r < rows; ++r)
      write_row(it.i, it.g, r0 + r, sc.lim[r] > it.k0, sc.o.data() + static_cast<size_t>(r) * p_.d_v, sc.m[r], sc.l[r]);
  }

  // Row m of (i, g): out = o / sum as BF16, lse = (max + log2(sum)) * ln 2. No key seen: out = 0,
  // lse = +inf.
  void write_row(int32_t i, int32_t g, int32_t m, bool seen, const float* o, float mx, float sum) const {
    const int32_t t = m / l_.hpk, h = g * l_.hpk + m % l_.hpk;
    auto* out = static_cast<uint16_t*>(p_.out) + ((static_cast<int64_t>(i) * p_.s_q + t) * p_.h_q + h) * p_.d_v;
    float* lse = p_.lse + (static_cast<int64_t>(i) * p_.h_q + h) * p_.s_q + t;
    if (!seen) {
      std::fill(out, out + p_.d_v, uint16_t{0});
      *lse = std::numeric_limits<float>::infinity();
      return;
    }
    const float inv = 1.0f / sum;
    for (int32_t d = 0; d < p_.d_v; ++d) out[d] = bf16_from_f32(o[d] * inv);
    *lse = static_cast<float>((static_cast<double>(mx) + std::log2(static_cast<double>(sum))) * kLn2);
  }

  void save_partial(const Item& it, int32_t rows, const Scratch& sc) const {
    float* sl = slot(it.i, it.g, it.grp, it.split);
    std::memcpy(sl, sc.o.data(), sizeof(float) * static_cast<size_t>(rows) * p_.d_v);
    for (int32_t r = 0; r < rows; ++r) {
      const bool seen = sc.lim[r] > it.k0;
      sl[m_offset() + r] = seen ? sc.m[r] : kNegInf;
      sl[l_offset() + r] = seen ? sc.l[r] : 0.0f;
    }
  }

  int64_t m_offset() const { return static_cast<int64_t>(l_.group_rows) * p_.d_v; }
  int64_t l_offset() const { return m_offset() + l_.group_rows; }
  float* slot(int32_t i, int32_t g, int32_t grp, int64_t split) const {
    const int64_t cell = (static_cast<int64_t>(i) * p_.h_kv + g) * l_.groups + grp;
    return ws_ + (cell * l_.max_splits + split) * l_.slot_floats;
  }

  const dsb_mla_decode_params& p_;
  const Layout l_;
  float* ws_;
  const MlaKernels& kern_;
  const bool fp8_;
  const int64_t token_bytes_;
  const float scale2_;  // softmax_scale * log2(e): weights are powers of two
};

Status run(const dsb_mla_decode_params& p, void* workspace) {
  if (p.b == 0 || p.s_q == 0) return Status::success();
  const Layout l = layout_of(p);
  const int threads = max_threads();
  // Splits per sequence: only when the items are too few for the threads and the workspace has
  // room; about equal pieces of at least kMinSplitKeys keys, page aligned.
  std::vector<int64_t> splits(p.b, 1), piece(p.b, 0);
  if (workspace != nullptr && l.max_splits > 1) {
    double keys = 0;
    for (int32_t i = 0; i < p.b; ++i) keys += p.cache_seqlens[i];
    const int64_t target = std::max<int64_t>(
        kMinSplitKeys, static_cast<int64_t>(std::ceil(keys * p.h_kv * l.groups / (kItemsPerThread * threads))));
    for (int32_t i = 0; i < p.b; ++i) {
      const int64_t len = p.cache_seqlens[i];
      const int64_t want = std::min(l.max_splits, std::max<int64_t>(1, ceil_div(len, target)));
      if (want < 2) continue;
      piece[i] = ceil_div(ceil_div(len, want), p.page_block_size) * p.page_block_size;
      splits[i] = ceil_div(len, piece[i]);
    }
  }
  std::vector<Item> items;
  std::vector<Item> merges;  // (i, g, grp) of split sequences; split holds the count
  for (int32_t i = 0; i < p.b; ++i)
    for (int32_t g = 0; g < p.h_kv; ++g)
      for (int32_t grp = 0; grp < l.groups; ++grp) {
        const int64_t len = p.cache_seqlens[i];
        if (splits[i] == 1) {
          items.push_back({i, g, grp, -1, 0, len});
          continue;
        }
        for (int64_t s = 0; s < splits[i]; ++s)
          items.push_back({i, g, grp, static_cast<int32_t>(s), s * piece[i], std::min(len, (s + 1) * piece[i])});
        merges.push_back({i, g, grp, static_cast<int32_t>(splits[i]), 0, 0});
      }
  // Longest first; equal lengths keep their order, so the head groups of one split run together
  // and share its keys in cache.
  std::stable_sort(items.begin(), items.end(), [](const Item& a, const Item& b) { return a.k1 - a.k0 > b.k1 - b.k0; });

  const Runner runner(p, l, static_cast<float*>(workspace));
  const int64_t n_items = static_cast<int64_t>(items.size()), n_merges = static_cast<int64_t>(merges.size());
  std::atomic<bool> out_of_memory{false};
#pragma omp parallel if (n_items > 1)
  {
#pragma omp for schedule(dynamic, 1)
    for (int64_t k = 0; k < n_items; ++k) {
      try {
        runner.item(items[k], tls_scratch);
      } catch (const std::bad_alloc&) {
        out_of_memory.store(true, std::memory_order_relaxed);
      }
    }
#pragma omp for schedule(dynamic, 1)
    for (int64_t k = 0; k < n_merges; ++k) {
      if (out_of_memory.load(std::memory_order_relaxed)) continue;
      try {
        runner.combine(merges[k].i, merges[k].g, merges[k].grp, merges[k].split);
      } catch (const std::bad_alloc&) {
        out_of_memory.store(true, std::memory_order_relaxed);
      }
    }
  }
  if (out_of_memory.load()) return Status::error(DSB_STATUS_OUT_OF_MEMORY, "out of memory for per-thread buffers");
  return Status::success();
}

}  // namespace

size_t mla_decode_optimized_workspace(const dsb_mla_decode_params& p) {
  const Layout l = layout_of(p);
  if (l.max_splits <= 1) return 0;
  return sizeof(float) * static_cast<size_t>(p.b) * p.h_kv * l.groups * l.max_splits * l.slot_floats;
}

Status mla_decode_optimized_run(const dsb_mla_decode_params& p, void* workspace) {
  const std::string why = ref::mla_decode_check(p);
  if (!why.empty()) return Status::error(DSB_STATUS_INVALID_ARGUMENT, why);
  try {
    return run(p, workspace);
  } catch (const std::bad_alloc&) {
    return Status::error(DSB_STATUS_OUT_OF_MEMORY, "out of memory planning the work");
  }
}

Status mla_decode_reference_run(const dsb_mla_decode_params& p, void*) {
  const std::string why = ref::mla_decode_check(p);
  if (!why.empty()) return Status::error(DSB_STATUS_INVALID_ARGUMENT, why);
  const int64_t rows = static_cast<int64_t>(p.b) * p.s_q * p.h_q;
  std::atomic<bool> out_of_memory{false};
  // The oracle itself is serial; its rows are independent, so they run in parallel here.
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t row = 0; row < rows; ++row) {
    const int32_t h = static_cast<int32_t>(row % p.h_q), t = static_cast<int32_t>(row / p.h_q % p.s_q);
    const int32_t i = static_cast<int32_t>(row / (static_cast<int64_t>(p.h_q) * p.s_q));
    try {
      std::vector<double> out(p.d_v);
      double lse;
      ref::mla_decode_head(p, i, t, h, out.data(), &lse);
      ref::mla_store_head(p, i, t, h, out.data(), lse);
    } catch (const std::bad_alloc&) {
      out_of_memory.store(true, std::memory_order_relaxed);
    }
  }
  if (out_of_memory.load()) return Status::error(DSB_STATUS_OUT_OF_MEMORY, "out of memory for the FP64 rows");
  return Status::success();
}

}  // namespace dsbench::cpu
