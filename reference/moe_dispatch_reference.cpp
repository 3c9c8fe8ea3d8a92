#include "reference/moe_dispatch_reference.hpp"

#include <cstring>

#include "dsbench/numerics/bf16.hpp"
#include "reference/quantize.hpp"

namespace dsbench::ref {
namespace {

int64_t words(int64_t bytes) { return (bytes + 3) / 4; }

}  // namespace

int64_t moe_row_bytes(int32_t hidden, dsb_dtype recv_dtype) {
  return static_cast<int64_t>(hidden) * static_cast<int64_t>(dsb_dtype_size(recv_dtype));
}

int64_t moe_scale_bytes(int32_t hidden, dsb_dtype recv_dtype, dsb_dtype scale_dtype) {
  if (!dsb_dtype_is_fp8(recv_dtype)) return 0;
  return (hidden + DSB_FP8_BLOCK - 1) / DSB_FP8_BLOCK * static_cast<int64_t>(dsb_dtype_size(scale_dtype));
}

void moe_dispatch_row(const uint16_t* x_row, int32_t hidden, dsb_dtype recv_dtype, dsb_dtype scale_dtype,
                      void* out_row, void* out_scale) {
  if (!dsb_dtype_is_fp8(recv_dtype)) {
    std::memcpy(out_row, x_row, static_cast<size_t>(hidden) * 2);
    return;
  }
  std::vector<float> f(static_cast<size_t>(hidden));
  for (int32_t c = 0; c < hidden; ++c) f[static_cast<size_t>(c)] = bf16_to_f32(x_row[c]);
  const int64_t blocks = (hidden + DSB_FP8_BLOCK - 1) / DSB_FP8_BLOCK;
  std::vector<float> s(static_cast<size_t>(blocks));
  QuantRecipe recipe;
  recipe.fp8 = recv_dtype;
  recipe.ue8m0 = scale_dtype == DSB_DTYPE_UE8M0;
  quantize_1x128(f.data(), 1, hidden, recipe, static_cast<uint8_t*>(out_row), s.data());
  store_scales(s.data(), blocks, scale_dtype, out_scale);
}

const char* moe_dispatch_invalid(const dsb_moe_dispatch_params& p) {
  if (p.world_size < 1 || p.rank < 0 || p.rank >= p.world_size) return "rank outside the world";
  if (p.num_experts < 1 || p.num_experts % p.world_size != 0) return "num_experts is not a multiple of world_size";
  if (p.topk < 1 || p.num_tokens < 0 || p.hidden < 1) return "bad sizes";
  if (dsb_dtype_is_fp8(p.recv_dtype) && p.hidden % DSB_FP8_BLOCK != 0) return "FP8 payload needs hidden % 128 == 0";
  if (p.world_size > 1 && (p.comm == nullptr || p.comm->alltoallv == nullptr)) return "no communicator";
  return nullptr;
}

const char* moe_combine_invalid(const dsb_moe_combine_params& p) {
  if (p.world_size < 1 || p.rank < 0 || p.rank >= p.world_size) return "rank outside the world";
  if (p.num_experts < 1 || p.num_experts % p.world_size != 0) return "num_experts is not a multiple of world_size";
  if (p.topk < 1 || p.num_tokens < 0 || p.hidden < 1) return "bad sizes";
  if (p.world_size > 1 && (p.comm == nullptr || p.comm->alltoallv == nullptr)) return "no communicator";
  return nullptr;
}

dsb_status moe_exchange(dsb_comm* comm, int32_t world_size, const int32_t* send, const int64_t* send_words,
                        const int64_t* send_displs, int32_t* recv, int64_t recv_capacity, int64_t* recv_words,
                        int64_t* recv_displs) {
  const size_t W = static_cast<size_t>(world_size);
  if (world_size == 1) {
    if (send_words[0] > recv_capacity) return DSB_STATUS_INVALID_ARGUMENT;
    if (send_words[0] > 0) std::memcpy(recv, send + send_displs[0], static_cast<size_t>(send_words[0]) * 4);
    recv_words[0] = send_words[0];
    recv_displs[0] = 0;
    return DSB_STATUS_OK;
  }
  std::vector<int64_t> ones(W, 1), idx(W);
  for (size_t i = 0; i < W; ++i) idx[i] = static_cast<int64_t>(i);
  dsb_status st = comm->alltoallv(comm, send_words, ones.data(), idx.data(), recv_words, ones.data(), idx.data(),
                                  DSB_DTYPE_I64, nullptr);
  if (st != DSB_STATUS_OK) return st;
  int64_t total = 0;
  for (size_t i = 0; i < W; ++i) {
    recv_displs[i] = total;
    total += recv_words[i];
  }
  // A rank without room for what it is sent cannot post its receive (MPI would truncate): every rank
  // learns whether all fit (one more tiny exchange) and, if one does not, none sends its rows.
  std::vector<int64_t> fits(W, total <= recv_capacity ? 1 : 0), all(W, 0);
  st = comm->alltoallv(comm, fits.data(), ones.data(), idx.data(), all.data(), ones.data(), idx.data(), DSB_DTYPE_I64,
                       nullptr);
  if (st != DSB_STATUS_OK) return st;
  for (size_t i = 0; i < W; ++i)
    if (all[i] == 0) return DSB_STATUS_INVALID_ARGUMENT;
  return comm->alltoallv(comm, send, send_words, send_displs, recv, recv_words, recv_displs, DSB_DTYPE_I32, nullptr);
}

dsb_status moe_dispatch(const dsb_moe_dispatch_params& p) {
  if (moe_dispatch_invalid(p)) return DSB_STATUS_INVALID_ARGUMENT;
  const int64_t T = p.num_tokens, K = p.topk, W = p.world_size, L = p.num_experts / p.world_size;
  const int64_t row_bytes = moe_row_bytes(p.hidden, p.recv_dtype);
  const int64_t scale_bytes = moe_scale_bytes(p.hidden, p.recv_dtype, p.scale_dtype);
  const int64_t rec = 3 + words(row_bytes + scale_bytes);  // t, j, expert, payload
  const auto* x = static_cast<const uint16_t*>(p.x);
  bool bad_expert = false;
  // Layout of this rank's tokens.
  std::memset(p.num_tokens_per_rank, 0, static_cast<size_t>(W) * 4);
  std::memset(p.num_tokens_per_expert, 0, static_cast<size_t>(p.num_experts) * 4);
  if (T > 0) std::memset(p.is_token_in_rank, 0, static_cast<size_t>(T * W) * 4);
  std::vector<std::vector<int32_t>> out(static_cast<size_t>(W));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < K; ++j) {
      const int32_t e = p.topk_idx[t * K + j];
      if (e == -1) continue;
      if (e < 0 || e >= p.num_experts) {
        bad_expert = true;
        continue;
      }
      p.num_tokens_per_expert[e] += 1;
      p.is_token_in_rank[t * W + e / L] = 1;
      std::vector<int32_t>& o = out[static_cast<size_t>(e / L)];
      const size_t at = o.size();
      o.resize(at + static_cast<size_t>(rec), 0);
      o[at] = static_cast<int32_t>(t);
      o[at + 1] = static_cast<int32_t>(j);
      o[at + 2] = e;
      auto* payload = reinterpret_cast<uint8_t*>(o.data() + at + 3);
      moe_dispatch_row(x + t * p.hidden, p.hidden, p.recv_dtype, p.scale_dtype, payload, payload + row_bytes);
    }
  for (int64_t t = 0; t < T; ++t)
    for (int64_t r = 0; r < W; ++r) p.num_tokens_per_rank[r] += p.is_token_in_rank[t * W + r];
  // A bad expert id still joins the exchange (with no rows), so the other ranks do not hang.
  std::vector<int32_t> send;
  std::vector<int64_t> sw(static_cast<size_t>(W)), sd(static_cast<size_t>(W)), rw(static_cast<size_t>(W)),
      rd(static_cast<size_t>(W));
  for (int64_t r = 0; r < W; ++r) {
    sd[static_cast<size_t>(r)] = static_cast<int64_t>(send.size());
    if (!bad_expert) send.insert(send.end(), out[static_cast<size_t>(r)].begin(), out[static_cast<size_t>(r)].end());
    sw[static_cast<size_t>(r)] = static_cast<int64_t>(send.size()) - sd[static_cast<size_t>(r)];
  }
  const int64_t max_rows = p.layout == DSB_MOE_LAYOUT_CONTIGUOUS ? p.recv_capacity : L * p.recv_capacity;
  std::vector<int32_t> recv(static_cast<size_t>(max_rows * rec));
  const dsb_status st = moe_exchange(p.comm, p.world_size, send.data(), sw.data(), sd.data(), recv.data(),
                                     max_rows * rec, rw.data(), rd.data());
  if (st != DSB_STATUS_OK) return st;
  if (bad_expert) return DSB_STATUS_INVALID_ARGUMENT;
  // Rows per local expert, in (source rank, token, slot) order.
  struct Row { int32_t src, t, j; const int32_t* rec; };
  std::vector<std::vector<Row>> rows(static_cast<size_t>(L));
  for (int64_t s = 0; s < W; ++s)
    for (int64_t w = 0; w < rw[static_cast<size_t>(s)]; w += rec) {
      const int32_t* r = recv.data() + rd[static_cast<size_t>(s)] + w;
      const int64_t le = r[2] - p.rank * L;
      if (le < 0 || le >= L) return DSB_STATUS_INTERNAL;  // a peer sent a row of another rank's expert
      rows[static_cast<size_t>(le)].push_back({static_cast<int32_t>(s), r[0], r[1], r});
    }
  int64_t used = 0;
  for (int64_t le = 0; le < L; ++le) {
    const int64_t n = static_cast<int64_t>(rows[static_cast<size_t>(le)].size());
    if (p.layout == DSB_MOE_LAYOUT_MASKED && n > p.recv_capacity) return DSB_STATUS_INVALID_ARGUMENT;
    used += moe_align(n);
  }
  if (p.layout == DSB_MOE_LAYOUT_CONTIGUOUS) {
    if (used > p.recv_capacity) return DSB_STATUS_INVALID_ARGUMENT;
    for (int64_t i = 0; i < p.recv_capacity; ++i) {
      p.recv_m_indices[i] = -1;
      for (int k = 0; k < 3; ++k) p.recv_src[i * 3 + k] = -1;
    }
    *p.num_recv_rows = used;
  }
  int64_t off = 0;
  for (int64_t le = 0; le < L; ++le) {
    const std::vector<Row>& v = rows[static_cast<size_t>(le)];
    const int64_t base = p.layout == DSB_MOE_LAYOUT_CONTIGUOUS ? off : le * p.recv_capacity;
    for (size_t k = 0; k < v.size(); ++k) {
      const int64_t row = base + static_cast<int64_t>(k);
      const auto* payload = reinterpret_cast<const uint8_t*>(v[k].rec + 3);
      std::memcpy(static_cast<uint8_t*>(p.recv_x) + row * row_bytes, payload, static_cast<size_t>(row_bytes));
      if (scale_bytes > 0)
        std::memcpy(static_cast<uint8_t*>(p.recv_scale) + row * scale_bytes, payload + row_bytes,
                    static_cast<size_t>(scale_bytes));
      p.recv_src[row * 3] = v[k].src;
      p.recv_src[row * 3 + 1] = v[k].t;
      p.recv_src[row * 3 + 2] = v[k].j;
      if (p.layout == DSB_MOE_LAYOUT_CONTIGUOUS) p.recv_m_indices[row] = static_cast<int32_t>(le);
    }
    p.recv_count[le] = static_cast<int32_t>(v.size());
    off += moe_align(static_cast<int64_t>(v.size()));
  }
  return DSB_STATUS_OK;
}

dsb_status moe_combine(const dsb_moe_combine_params& p) {
  if (moe_combine_invalid(p)) return DSB_STATUS_INVALID_ARGUMENT;
  const int64_t T = p.num_tokens, K = p.topk, W = p.world_size, L = p.num_experts / p.world_size, H = p.hidden;
  const int64_t rec = 2 + words(H * 2);  // t, j, BF16 row
  const auto* y = static_cast<const uint16_t*>(p.expert_out);
  bool bad = false;
  std::vector<std::vector<int32_t>> out(static_cast<size_t>(W));
  auto send_row = [&](int64_t row) {
    const int32_t* s = p.recv_src + row * 3;
    if (s[0] == -1) return;  // padding
    if (s[0] < 0 || s[0] >= W) {
      bad = true;
      return;
    }
    std::vector<int32_t>& o = out[static_cast<size_t>(s[0])];
    const size_t at = o.size();
    o.resize(at + static_cast<size_t>(rec), 0);
    o[at] = s[1];
    o[at + 1] = s[2];
    std::memcpy(o.data() + at + 2, y + row * H, static_cast<size_t>(H) * 2);
  };
  if (p.layout == DSB_MOE_LAYOUT_CONTIGUOUS) {
    for (int64_t row = 0; row < p.recv_capacity; ++row) send_row(row);
  } else {
    for (int64_t le = 0; le < L; ++le) {
      if (p.recv_count[le] < 0 || p.recv_count[le] > p.recv_capacity) bad = true;
      else for (int64_t k = 0; k < p.recv_count[le]; ++k) send_row(le * p.recv_capacity + k);
    }
  }
  std::vector<int32_t> send;
  std::vector<int64_t> sw(static_cast<size_t>(W)), sd(static_cast<size_t>(W)), rw(static_cast<size_t>(W)),
      rd(static_cast<size_t>(W));
  for (int64_t r = 0; r < W; ++r) {
    sd[static_cast<size_t>(r)] = static_cast<int64_t>(send.size());
    if (!bad) send.insert(send.end(), out[static_cast<size_t>(r)].begin(), out[static_cast<size_t>(r)].end());
    sw[static_cast<size_t>(r)] = static_cast<int64_t>(send.size()) - sd[static_cast<size_t>(r)];
  }
  std::vector<int32_t> recv(static_cast<size_t>(T * K * rec));
  const dsb_status st =
      moe_exchange(p.comm, p.world_size, send.data(), sw.data(), sd.data(), recv.data(), T * K * rec, rw.data(), rd.data());
  if (st != DSB_STATUS_OK) return st;
  if (bad) return DSB_STATUS_INVALID_ARGUMENT;
  std::vector<double> acc(static_cast<size_t>(T * H), 0.0);
  std::vector<unsigned char> seen(static_cast<size_t>(T * K), 0);
  for (int64_t s = 0; s < W; ++s)
    for (int64_t w = 0; w < rw[static_cast<size_t>(s)]; w += rec) {
      const int32_t* r = recv.data() + rd[static_cast<size_t>(s)] + w;
      const int64_t t = r[0], j = r[1];
      if (t < 0 || t >= T || j < 0 || j >= K || seen[static_cast<size_t>(t * K + j)]) return DSB_STATUS_INVALID_ARGUMENT;
      seen[static_cast<size_t>(t * K + j)] = 1;
      const double wt = p.topk_weights[t * K + j];
      const auto* row = reinterpret_cast<const uint16_t*>(r + 2);
      for (int64_t c = 0; c < H; ++c) acc[static_cast<size_t>(t * H + c)] += wt * static_cast<double>(bf16_to_f32(row[c]));
    }
  auto* o = static_cast<uint16_t*>(p.out);
  for (int64_t i = 0; i < T * H; ++i) o[i] = bf16_from_f64(acc[static_cast<size_t>(i)]);
  return DSB_STATUS_OK;
}

}  // namespace dsbench::ref
