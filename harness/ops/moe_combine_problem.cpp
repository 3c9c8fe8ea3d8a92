// The MoE combine problem (docs/ops/moe_dispatch_combine.md): the expert outputs in dispatch's layout
// (rows shuffled within each expert, padding rows NaN: they must not be read), the handle recv_src /
// recv_count, and this rank's routing weights; out[t] = sum_j w[t,j] * y[t,j] checked against FP64.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "dsbench/comm.hpp"
#include "dsbench/numerics/bf16.hpp"
#include "harness/error.hpp"
#include "harness/metrics.hpp"
#include "harness/ops/moe_dispatch_problem.hpp"
#include "harness/rng.hpp"
#include "reference/moe_dispatch_reference.hpp"

namespace dsbench {
namespace {


class MoeCombineProblem final : public Problem {
 public:
  MoeCombineProblem(const MoeEpShape& s, const RankContext& ctx) : s_(s), ctx_(ctx) {
    T_ = s.tokens_on(ctx.rank);
    outputs_ = {{"out", DSB_DTYPE_BF16, {T_, s.hidden}}};
  }

  const std::vector<TensorSpec>& inputs() const override {
    if (inputs_.empty()) {
      const int64_t L = s_.local_experts(), C = plan().capacity, H = s_.hidden;
      const bool contiguous = s_.layout == DSB_MOE_LAYOUT_CONTIGUOUS;
      auto rows = [&](int64_t last) {
        return contiguous ? std::vector<int64_t>{C, last} : std::vector<int64_t>{L, C, last};
      };
      inputs_ = {{"expert_out", DSB_DTYPE_BF16, rows(H)},
                 {"recv_src", DSB_DTYPE_I32, rows(3)},
                 {"recv_count", DSB_DTYPE_I32, {L}},
                 {"topk_weights", DSB_DTYPE_F32, {T_, s_.route.topk}}};
    }
    return inputs_;
  }
  const std::vector<TensorSpec>& outputs() const override { return outputs_; }

  void generate(uint64_t seed, TensorMap& in) const override {
    const MoeEpPlan& pl = plan();
    const int64_t K = s_.route.topk, L = s_.local_experts(), H = s_.hidden, W = s_.world_size, r = ctx_.rank;
    // The pairs each local expert holds, shuffled (the kernel may not assume dispatch's order).
    std::vector<std::vector<int64_t>> pairs(static_cast<size_t>(L));  // q << 40 | t << 8 | j
    for (int q = 0; q < W; ++q)
      for (int64_t i = 0; i < s_.tokens_on(q) * K; ++i) {
        const int32_t e = pl.idx[static_cast<size_t>(q)][static_cast<size_t>(i)];
        if (e >= 0 && e / L == r) pairs[static_cast<size_t>(e - r * L)].push_back((int64_t{q} << 40) | (i / K) << 8 | (i % K));
      }
    const CounterRng rng(seed, hash_name("moe_combine_order"));
    for (int64_t le = 0; le < L; ++le) {
      std::vector<int64_t>& v = pairs[static_cast<size_t>(le)];
      for (int64_t i = static_cast<int64_t>(v.size()) - 1; i > 0; --i)
        std::swap(v[static_cast<size_t>(i)], v[rng.bits(static_cast<uint64_t>(le) << 32 | static_cast<uint64_t>(i)) % static_cast<uint64_t>(i + 1)]);
    }
    auto* y = in.at("expert_out").as<uint16_t>();
    auto* src = in.at("recv_src").as<int32_t>();
    auto* count = in.at("recv_count").as<int32_t>();
    const int64_t rows = in.at("recv_src").spec.numel() / 3;
    std::fill(y, y + rows * H, uint16_t{0x7fc0});  // NaN: rows that are not data must not be read
    std::fill(src, src + rows * 3, -1);
    int64_t off = 0;
    for (int64_t le = 0; le < L; ++le) {
      const std::vector<int64_t>& v = pairs[static_cast<size_t>(le)];
      const int64_t base = s_.layout == DSB_MOE_LAYOUT_CONTIGUOUS ? off : le * pl.capacity;
      count[le] = static_cast<int32_t>(v.size());
#pragma omp parallel for schedule(static)
      for (int64_t k = 0; k < static_cast<int64_t>(v.size()); ++k) {
        const int64_t row = base + k, pv = v[static_cast<size_t>(k)];
        const int q = static_cast<int>(pv >> 40);
        const int64_t t = (pv >> 8) & 0xffffffff, j = pv & 0xff;
        src[3 * row] = q;
        src[3 * row + 1] = static_cast<int32_t>(t);
        src[3 * row + 2] = static_cast<int32_t>(j);
        for (int64_t c = 0; c < H; ++c) y[row * H + c] = moe_y_bits(seed, q, t, j, c);
      }
      off += ref::moe_align(static_cast<int64_t>(v.size()));
    }
    const std::vector<float>& w = pl.weights[static_cast<size_t>(r)];
    if (!w.empty()) std::memcpy(in.at("topk_weights").data.data(), w.data(), w.size() * 4);
    seed_ = seed;
  }

  void validate(const TensorMap& in) const override {
    const int32_t* src = in.at("recv_src").as<int32_t>();
    const int64_t rows = in.at("recv_src").spec.numel() / 3;
    for (int64_t row = 0; row < rows; ++row) {
      const int32_t q = src[3 * row], t = src[3 * row + 1], j = src[3 * row + 2];
      if (q == -1) continue;
      if (q < 0 || q >= s_.world_size || t < 0 || t >= s_.tokens_on(q) || j < 0 || j >= s_.route.topk)
        DSB_THROW("recv_src[" + std::to_string(row) + "]: (" + std::to_string(q) + ", " + std::to_string(t) + ", " +
                  std::to_string(j) + ") names no (rank, token, slot) pair");
    }
    const int32_t* count = in.at("recv_count").as<int32_t>();
    for (int64_t le = 0; le < s_.local_experts(); ++le)
      if (count[le] < 0 || count[le] > plan().capacity)
        DSB_THROW("recv_count[" + std::to_string(le) + "]: " + std::to_string(count[le]) + " is outside [0, " +
                  std::to_string(plan().capacity) + "]");
  }

  std::vector<uint8_t> params(const std::map<std::string, void*>& ptrs) const override {
    dsb_moe_combine_params p{};
    p.num_tokens = static_cast<int32_t>(T_);
    p.hidden = s_.hidden;
    p.num_experts = s_.route.num_experts;
    p.topk = s_.route.topk;
    p.rank = ctx_.rank;
    p.world_size = s_.world_size;
    p.layout = s_.layout;
    p.recv_capacity = ptrs.empty() ? 0 : plan().capacity;
    p.expert_out = tensor_ptr(ptrs, "expert_out");
    p.recv_src = static_cast<const int32_t*>(tensor_ptr(ptrs, "recv_src"));
    p.recv_count = static_cast<const int32_t*>(tensor_ptr(ptrs, "recv_count"));
    p.topk_weights = static_cast<const float*>(tensor_ptr(ptrs, "topk_weights"));
    p.out = tensor_ptr(ptrs, "out");
    p.comm = ctx_.comm ? ctx_.comm->c_handle() : nullptr;
    return params_bytes(p);
  }

  std::vector<OutputCheck> reference(const TensorMap& in, const VerifyPolicy&, uint64_t) const override {
    const MoeEpPlan& pl = plan();
    const int64_t K = s_.route.topk, L = s_.local_experts(), H = s_.hidden, r = ctx_.rank;
    const float* w = in.at("topk_weights").as<float>();
    std::vector<double> acc(static_cast<size_t>(T_ * H), 0.0);
    // Pairs held here: their rows in the inputs (as a replay may have edited them).
    const int32_t* src = in.at("recv_src").as<int32_t>();
    const uint16_t* y = in.at("expert_out").as<uint16_t>();
    const int32_t* count = in.at("recv_count").as<int32_t>();
    std::vector<int64_t> rows;
    if (s_.layout == DSB_MOE_LAYOUT_CONTIGUOUS) {
      for (int64_t row = 0; row < pl.capacity; ++row)
        if (src[3 * row] == r) rows.push_back(row);
    } else {
      for (int64_t le = 0; le < L; ++le)
        for (int64_t k = 0; k < count[le]; ++k)
          if (src[3 * (le * pl.capacity + k)] == r) rows.push_back(le * pl.capacity + k);
    }
    for (int64_t row : rows) {
      const int64_t t = src[3 * row + 1], j = src[3 * row + 2];
      const double wt = w[t * K + j];
      for (int64_t c = 0; c < H; ++c) acc[static_cast<size_t>(t * H + c)] += wt * bf16_to_f32(y[row * H + c]);
    }
    // Pairs held by other ranks: their outputs are a function of (seed, rank, token, slot).
    const std::vector<int32_t>& idx = pl.idx[static_cast<size_t>(r)];
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < T_; ++t)
      for (int64_t j = 0; j < K; ++j) {
        const int32_t e = idx[static_cast<size_t>(t * K + j)];
        if (e < 0 || e / L == r) continue;
        const double wt = w[t * K + j];
        for (int64_t c = 0; c < H; ++c)
          acc[static_cast<size_t>(t * H + c)] += wt * bf16_to_f32(moe_y_bits(seed_, static_cast<int>(r), t, j, c));
      }
    OutputCheck c;
    c.output = "out";
    c.total = T_ * H;
    c.index.resize(acc.size());
    std::iota(c.index.begin(), c.index.end(), int64_t{0});
    c.expected.resize(acc.size());
    for (size_t i = 0; i < acc.size(); ++i) c.expected[i] = bf16_to_f32(bf16_from_f64(acc[i]));
    c.rule = "every element against the FP64 sum of w * y over the token's pairs, rounded once to BF16";
    return {c};
  }

  double reference_macs() const override { return static_cast<double>(plan().own_pairs) * s_.hidden; }
  // One multiply and one add per pair and column.
  double flops() const override { return 2.0 * static_cast<double>(plan().own_pairs) * s_.hidden; }
  // DeepEP's accounting: one BF16 row per (token, expert) pair of this rank comes back.
  double bytes() const override { return static_cast<double>(plan().own_pairs) * row_bytes(); }
  Traffic traffic() const override {
    const MoeEpPlan& pl = plan();
    return {row_bytes() * static_cast<double>(pl.held_pairs), row_bytes() * static_cast<double>(pl.own_pairs),
            row_bytes() * static_cast<double>(pl.own_local_pairs)};
  }

 private:
  double row_bytes() const { return 2.0 * s_.hidden; }
  const MoeEpPlan& plan() const {
    if (!plan_) plan_ = std::make_unique<MoeEpPlan>(make_moe_ep_plan(s_, ctx_.rank));
    return *plan_;
  }

  MoeEpShape s_;
  RankContext ctx_;
  int64_t T_ = 0;
  mutable std::vector<TensorSpec> inputs_;
  std::vector<TensorSpec> outputs_;
  mutable std::unique_ptr<MoeEpPlan> plan_;
  mutable uint64_t seed_ = 0;
};

}  // namespace

std::unique_ptr<Problem> make_moe_combine_problem(const MoeEpShape& s, const RankContext& ctx) {
  return std::make_unique<MoeCombineProblem>(s, ctx);
}

}  // namespace dsbench
