// The MoE dispatch problem (docs/ops/moe_dispatch_combine.md), and the routing plan it shares with
// combine. The check is exact and order-free: each received row is matched by its (rank, token,
// slot) source to a pair routed to that expert; every pair must arrive exactly once, with the payload
// bit-identical to reference/quantize.cpp's (or the BF16 row itself).
#include "harness/ops/moe_dispatch_problem.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "dsbench/comm.hpp"
#include "dsbench/numerics/bf16.hpp"
#include "harness/error.hpp"
#include "harness/metrics.hpp"
#include "harness/rng.hpp"
#include "reference/moe_dispatch_reference.hpp"
#include "reference/moe_route_reference.hpp"

namespace dsbench {

int64_t MoeEpShape::tokens_on(int rank) const {
  return empty_rank >= 0 && rank == empty_rank % world_size ? 0 : num_tokens;
}

MoeEpPlan make_moe_ep_plan(const MoeEpShape& s, int rank) {
  MoeEpPlan plan;
  const int32_t K = s.route.topk, E = s.route.num_experts, L = s.local_experts();
  plan.idx.resize(static_cast<size_t>(s.world_size));
  plan.weights.resize(static_cast<size_t>(s.world_size));
  plan.held.assign(static_cast<size_t>(L), 0);
  const CounterRng unused(s.routing_seed, hash_name("moe_unused_slots"));
  for (int src = 0; src < s.world_size; ++src) {
    // moe_route's generator and FP64 reference on this rank's tokens.
    MoeRouteShape rs = s.route;
    rs.num_tokens = s.tokens_on(src);
    const std::unique_ptr<Problem> route = make_moe_route_problem(rs);
    TensorMap in;
    for (const TensorSpec& t : route->inputs()) in.emplace(t.name, HostTensor(t));
    route->generate(moe_logits_seed(s.routing_seed, src), in);
    dsb_moe_route_params p{};
    p.num_tokens = static_cast<int32_t>(rs.num_tokens);
    p.num_experts = E;
    p.num_groups = rs.num_groups;
    p.topk_groups = rs.topk_groups;
    p.topk = K;
    p.scoring = rs.scoring;
    p.normalize = rs.normalize ? 1 : 0;
    p.routed_scale = rs.routed_scale;
    p.logits = in.at("logits").as<float>();
    p.bias = in.at("bias").as<float>();
    std::vector<int32_t>& idx = plan.idx[static_cast<size_t>(src)];
    std::vector<float>& w = plan.weights[static_cast<size_t>(src)];
    idx.assign(static_cast<size_t>(rs.num_tokens * K), -1);
    w.assign(static_cast<size_t>(rs.num_tokens * K), 0.0f);
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < rs.num_tokens; ++t) {
      const ref::MoeRouteToken r = ref::moe_route_token(p, t);
      for (int32_t j = 0; j < K; ++j) {
        const int64_t i = t * K + j;
        w[static_cast<size_t>(i)] = static_cast<float>(r.weight[static_cast<size_t>(j)]);
        const uint64_t draw = unused.bits((static_cast<uint64_t>(src) << 40) ^ static_cast<uint64_t>(i));
        const bool drop = s.unused_slots > 0 && static_cast<double>(draw >> 11) * 0x1p-53 < s.unused_slots;
        idx[static_cast<size_t>(i)] = drop ? -1 : r.idx[static_cast<size_t>(j)];
      }
    }
    for (int32_t e : idx) {
      if (e < 0) continue;
      if (src == rank) ++plan.own_pairs;
      if (e / L == rank) {
        ++plan.held[static_cast<size_t>(e - rank * L)];
        ++plan.held_pairs;
        if (src == rank) ++plan.own_local_pairs;
      }
    }
  }
  if (s.layout == DSB_MOE_LAYOUT_CONTIGUOUS) {
    for (int64_t h : plan.held) plan.capacity += ref::moe_align(h);
    plan.capacity += ref::kMoeRowAlign;  // one spare block: rows past num_recv_rows are checked as padding
  } else {
    plan.capacity = std::max<int64_t>(1, *std::max_element(plan.held.begin(), plan.held.end()));
  }
  return plan;
}

uint64_t moe_logits_seed(uint64_t routing_seed, int rank) {
  return mix64(routing_seed ^ mix64(static_cast<uint64_t>(rank) + 1));
}

uint16_t moe_x_bits(uint64_t seed, int rank, int64_t t, int64_t c) {
  const CounterRng rng(seed, hash_name("moe_x") + static_cast<uint64_t>(rank));
  const uint64_t i = (static_cast<uint64_t>(t) << 24) | static_cast<uint64_t>(c);
  const int64_t k = rng.integer(~((static_cast<uint64_t>(t) << 24) | static_cast<uint64_t>(c / 128)), -8, 8);
  return bf16_from_f32(std::ldexp(rng.uniform(i, -1.0f, 1.0f), static_cast<int>(k)));
}

uint16_t moe_y_bits(uint64_t seed, int rank, int64_t t, int64_t j, int64_t c) {
  const CounterRng rng(seed, hash_name("moe_y") + static_cast<uint64_t>(rank));
  return bf16_from_f32(rng.uniform((static_cast<uint64_t>(t) << 32) | (static_cast<uint64_t>(j) << 24) | static_cast<uint64_t>(c),
                                   -1.0f, 1.0f));
}

namespace {


OutputCheck exact_check(const std::string& name, std::vector<double> expected, const std::string& rule) {
  OutputCheck c;
  c.output = name;
  c.total = static_cast<int64_t>(expected.size());
  c.index.resize(expected.size());
  std::iota(c.index.begin(), c.index.end(), int64_t{0});
  c.expected = std::move(expected);
  c.rule = rule;
  return c;
}

class MoeDispatchProblem final : public Problem {
 public:
  MoeDispatchProblem(const MoeEpShape& s, const RankContext& ctx) : s_(s), ctx_(ctx) {
    T_ = s.tokens_on(ctx.rank);
    inputs_ = {{"x", DSB_DTYPE_BF16, {T_, s.hidden}}, {"topk_idx", DSB_DTYPE_I32, {T_, s.route.topk}}};
  }

  const std::vector<TensorSpec>& inputs() const override { return inputs_; }
  const std::vector<TensorSpec>& outputs() const override {
    if (outputs_.empty()) {
      const MoeEpPlan& pl = plan();
      const int64_t L = s_.local_experts(), W = s_.world_size, H = s_.hidden, C = pl.capacity;
      const bool contiguous = s_.layout == DSB_MOE_LAYOUT_CONTIGUOUS;
      auto rows = [&](int64_t last) {
        return contiguous ? std::vector<int64_t>{C, last} : std::vector<int64_t>{L, C, last};
      };
      outputs_ = {{"num_tokens_per_rank", DSB_DTYPE_I32, {W}},
                  {"num_tokens_per_expert", DSB_DTYPE_I32, {s_.route.num_experts}},
                  {"is_token_in_rank", DSB_DTYPE_I32, {T_, W}},
                  {"recv_count", DSB_DTYPE_I32, {L}}};
      if (contiguous) {
        outputs_.push_back({"num_recv_rows", DSB_DTYPE_I64, {1}});
        outputs_.push_back({"recv_m_indices", DSB_DTYPE_I32, {C}});
      }
      outputs_.push_back({"recv_src", DSB_DTYPE_I32, rows(3)});
      outputs_.push_back({"recv_x", s_.recv_dtype, rows(H)});
      if (dsb_dtype_is_fp8(s_.recv_dtype))
        outputs_.push_back({"recv_scale", s_.scale_dtype, rows((H + DSB_FP8_BLOCK - 1) / DSB_FP8_BLOCK)});
    }
    return outputs_;
  }

  void generate(uint64_t seed, TensorMap& in) const override {
    uint16_t* x = in.at("x").as<uint16_t>();
    const int64_t H = s_.hidden;
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < T_; ++t)
      for (int64_t c = 0; c < H; ++c) x[t * H + c] = moe_x_bits(seed, ctx_.rank, t, c);
    const std::vector<int32_t>& idx = plan().idx[static_cast<size_t>(ctx_.rank)];
    if (!idx.empty()) std::memcpy(in.at("topk_idx").data.data(), idx.data(), idx.size() * 4);
    seed_ = seed;
  }

  void validate(const TensorMap& in) const override {
    const int32_t* idx = in.at("topk_idx").as<int32_t>();
    for (int64_t i = 0; i < T_ * s_.route.topk; ++i)
      if (idx[i] < -1 || idx[i] >= s_.route.num_experts)
        DSB_THROW("topk_idx[" + std::to_string(i / s_.route.topk) + ", " + std::to_string(i % s_.route.topk) + "]: " +
                  std::to_string(idx[i]) + " is outside [-1, " + std::to_string(s_.route.num_experts) + ")");
    if (s_.world_size > 1 && idx_differs(idx))
      DSB_THROW("topk_idx: differs from the routing of params.routing_seed; a multi-rank replay needs the same routing on every rank");
  }

  std::vector<uint8_t> params(const std::map<std::string, void*>& ptrs) const override {
    dsb_moe_dispatch_params p{};
    p.num_tokens = static_cast<int32_t>(T_);
    p.hidden = s_.hidden;
    p.num_experts = s_.route.num_experts;
    p.topk = s_.route.topk;
    p.rank = ctx_.rank;
    p.world_size = s_.world_size;
    p.layout = s_.layout;
    p.recv_dtype = s_.recv_dtype;
    p.scale_dtype = s_.scale_dtype;
    p.recv_capacity = ptrs.empty() ? 0 : plan().capacity;
    p.x = tensor_ptr(ptrs, "x");
    p.topk_idx = static_cast<const int32_t*>(tensor_ptr(ptrs, "topk_idx"));
    p.recv_x = tensor_ptr(ptrs, "recv_x");
    p.recv_scale = tensor_ptr(ptrs, "recv_scale");
    p.recv_src = static_cast<int32_t*>(tensor_ptr(ptrs, "recv_src"));
    p.recv_m_indices = static_cast<int32_t*>(tensor_ptr(ptrs, "recv_m_indices"));
    p.recv_count = static_cast<int32_t*>(tensor_ptr(ptrs, "recv_count"));
    p.num_recv_rows = static_cast<int64_t*>(tensor_ptr(ptrs, "num_recv_rows"));
    p.comm = ctx_.comm ? ctx_.comm->c_handle() : nullptr;
    p.num_tokens_per_rank = static_cast<int32_t*>(tensor_ptr(ptrs, "num_tokens_per_rank"));
    p.num_tokens_per_expert = static_cast<int32_t*>(tensor_ptr(ptrs, "num_tokens_per_expert"));
    p.is_token_in_rank = static_cast<int32_t*>(tensor_ptr(ptrs, "is_token_in_rank"));
    return params_bytes(p);
  }

  std::vector<OutputCheck> reference(const TensorMap& in, const VerifyPolicy&, uint64_t) const override;

  double reference_macs() const override { return static_cast<double>(plan().held_pairs) * s_.hidden; }
  double flops() const override { return 0.0; }
  // DeepEP's accounting: each (token, expert) pair this rank sends costs one row of payload and scales.
  double bytes() const override { return static_cast<double>(plan().own_pairs) * pair_bytes(); }
  Traffic traffic() const override {
    const MoeEpPlan& pl = plan();
    const double b = pair_bytes();
    return {b * static_cast<double>(pl.own_pairs), b * static_cast<double>(pl.held_pairs),
            b * static_cast<double>(pl.own_local_pairs)};
  }

 private:
  double pair_bytes() const {
    return static_cast<double>(ref::moe_row_bytes(s_.hidden, s_.recv_dtype) +
                               ref::moe_scale_bytes(s_.hidden, s_.recv_dtype, s_.scale_dtype));
  }
  const MoeEpPlan& plan() const {
    if (!plan_) plan_ = std::make_unique<MoeEpPlan>(make_moe_ep_plan(s_, ctx_.rank));
    return *plan_;
  }
  bool idx_differs(const int32_t* idx) const {
    const std::vector<int32_t>& mine = plan().idx[static_cast<size_t>(ctx_.rank)];
    return !mine.empty() && std::memcmp(idx, mine.data(), mine.size() * 4) != 0;
  }
  OutputAccuracy check_src(const HostTensor& a, const Tolerance& tol) const;
  OutputAccuracy check_payload(const HostTensor& a, const Tolerance& tol, bool scales) const;

  MoeEpShape s_;
  RankContext ctx_;
  int64_t T_ = 0;
  std::vector<TensorSpec> inputs_;
  mutable std::vector<TensorSpec> outputs_;
  mutable std::unique_ptr<MoeEpPlan> plan_;
  mutable uint64_t seed_ = 0;
  // Filled by reference() and the checks, in the order the runner calls them.
  mutable std::vector<const int32_t*> idx_of_;  // [rank] routing (this rank's from the inputs)
  mutable std::vector<int32_t> own_idx_;
  mutable const uint16_t* own_x_ = nullptr;
  mutable std::vector<uint16_t> own_x_copy_;
  mutable std::vector<int64_t> count_, base_;   // expected rows per local expert, first row
  mutable std::vector<int64_t> row_src_;        // per data row: s << 40 | t << 8 | j of its matched pair, or -1
  mutable std::vector<int64_t> data_rows_;      // the rows that must hold data, in layout order
};

std::vector<OutputCheck> MoeDispatchProblem::reference(const TensorMap& in, const VerifyPolicy&, uint64_t) const {
  const MoeEpPlan& pl = plan();
  const int64_t K = s_.route.topk, E = s_.route.num_experts, W = s_.world_size, L = s_.local_experts();
  const int r = ctx_.rank;
  const int32_t* own = in.at("topk_idx").as<int32_t>();
  own_idx_.assign(own, own + T_ * K);
  own_x_copy_.assign(in.at("x").as<uint16_t>(), in.at("x").as<uint16_t>() + T_ * s_.hidden);
  own_x_ = own_x_copy_.data();
  idx_of_.assign(static_cast<size_t>(W), nullptr);
  for (int src = 0; src < W; ++src) idx_of_[static_cast<size_t>(src)] = src == r ? own_idx_.data() : pl.idx[static_cast<size_t>(src)].data();

  // Layout of this rank's tokens.
  std::vector<double> per_rank(static_cast<size_t>(W), 0), per_expert(static_cast<size_t>(E), 0),
      in_rank(static_cast<size_t>(T_ * W), 0);
  for (int64_t t = 0; t < T_; ++t)
    for (int64_t j = 0; j < K; ++j) {
      const int32_t e = own_idx_[static_cast<size_t>(t * K + j)];
      if (e < 0 || e >= E) continue;
      per_expert[static_cast<size_t>(e)] += 1;
      in_rank[static_cast<size_t>(t * W + e / L)] = 1;
    }
  for (int64_t t = 0; t < T_; ++t)
    for (int64_t q = 0; q < W; ++q) per_rank[static_cast<size_t>(q)] += in_rank[static_cast<size_t>(t * W + q)];

  // Rows this rank receives per local expert, from every rank's routing.
  count_.assign(static_cast<size_t>(L), 0);
  for (int src = 0; src < W; ++src)
    for (int64_t i = 0; i < s_.tokens_on(src) * K; ++i) {
      const int32_t e = idx_of_[static_cast<size_t>(src)][i];
      if (e >= 0 && e / L == r) ++count_[static_cast<size_t>(e - r * L)];
    }
  base_.assign(static_cast<size_t>(L), 0);
  int64_t used = 0;
  data_rows_.clear();
  for (int64_t le = 0; le < L; ++le) {
    base_[static_cast<size_t>(le)] = s_.layout == DSB_MOE_LAYOUT_CONTIGUOUS ? used : le * pl.capacity;
    for (int64_t k = 0; k < count_[static_cast<size_t>(le)]; ++k) data_rows_.push_back(base_[static_cast<size_t>(le)] + k);
    used += ref::moe_align(count_[static_cast<size_t>(le)]);
  }
  if (s_.layout == DSB_MOE_LAYOUT_CONTIGUOUS && used > pl.capacity)
    DSB_THROW("topk_idx: the layout needs " + std::to_string(used) + " rows, more than recv_capacity = " +
              std::to_string(pl.capacity) + " planned from params.routing_seed");
  for (int64_t le = 0; le < L; ++le)
    if (s_.layout == DSB_MOE_LAYOUT_MASKED && count_[static_cast<size_t>(le)] > pl.capacity)
      DSB_THROW("topk_idx: local expert " + std::to_string(le) + " receives " + std::to_string(count_[static_cast<size_t>(le)]) +
                " rows, more than recv_capacity = " + std::to_string(pl.capacity));

  std::vector<OutputCheck> checks;
  checks.push_back(exact_check("num_tokens_per_rank", per_rank, "exact: tokens with an expert on each rank"));
  checks.push_back(exact_check("num_tokens_per_expert", per_expert, "exact: (token, slot) pairs per expert"));
  checks.push_back(exact_check("is_token_in_rank", in_rank, "exact: 1 where the token has an expert on the rank"));
  checks.push_back(exact_check("recv_count", std::vector<double>(count_.begin(), count_.end()),
                               "exact: rows received per local expert, from every rank's routing"));
  if (s_.layout == DSB_MOE_LAYOUT_CONTIGUOUS) {
    checks.push_back(exact_check("num_recv_rows", {static_cast<double>(used)}, "exact: sum of counts padded to 128"));
    std::vector<double> m(static_cast<size_t>(pl.capacity), -1.0);
    for (int64_t le = 0; le < L; ++le)
      for (int64_t k = 0; k < count_[static_cast<size_t>(le)]; ++k) m[static_cast<size_t>(base_[static_cast<size_t>(le)] + k)] = static_cast<double>(le);
    checks.push_back(exact_check("recv_m_indices", std::move(m),
                                 "exact: expert blocks in expert order, each padded to 128 with -1 (and -1 up to recv_capacity)"));
  }
  OutputCheck src;
  src.output = "recv_src";
  src.total = s_.layout == DSB_MOE_LAYOUT_CONTIGUOUS ? pl.capacity * 3 : static_cast<int64_t>(data_rows_.size()) * 3;
  src.custom = [this](const HostTensor& a, const Tolerance& tol) { return check_src(a, tol); };
  checks.push_back(std::move(src));
  OutputCheck x;
  x.output = "recv_x";
  x.total = static_cast<int64_t>(data_rows_.size()) * s_.hidden;
  x.custom = [this](const HostTensor& a, const Tolerance& tol) { return check_payload(a, tol, false); };
  checks.push_back(std::move(x));
  if (dsb_dtype_is_fp8(s_.recv_dtype)) {
    OutputCheck sc;
    sc.output = "recv_scale";
    sc.total = static_cast<int64_t>(data_rows_.size()) * ((s_.hidden + DSB_FP8_BLOCK - 1) / DSB_FP8_BLOCK);
    sc.custom = [this](const HostTensor& a, const Tolerance& tol) { return check_payload(a, tol, true); };
    checks.push_back(std::move(sc));
  }
  return checks;
}

OutputAccuracy MoeDispatchProblem::check_src(const HostTensor& a, const Tolerance& tol) const {
  const int64_t K = s_.route.topk, W = s_.world_size, L = s_.local_experts(), r = ctx_.rank;
  const int32_t* src = a.as<int32_t>();
  OutputAccuracy acc;
  acc.output = "recv_src";
  acc.tolerance = tol;
  std::vector<std::vector<unsigned char>> seen(static_cast<size_t>(W));
  for (int q = 0; q < W; ++q) seen[static_cast<size_t>(q)].assign(static_cast<size_t>(s_.tokens_on(q) * K), 0);
  row_src_.assign(data_rows_.size(), -1);
  int64_t bad_rows = 0, matched = 0, bad_padding = 0;
  std::string first;
  size_t i = 0;
  for (int64_t le = 0; le < L; ++le) {
    for (int64_t k = 0; k < count_[static_cast<size_t>(le)]; ++k, ++i) {
      const int64_t row = data_rows_[i];
      const int32_t q = src[3 * row], t = src[3 * row + 1], j = src[3 * row + 2];
      std::string why;
      if (q < 0 || q >= W || t < 0 || t >= s_.tokens_on(q) || j < 0 || j >= K) why = "names no pair";
      else if (idx_of_[static_cast<size_t>(q)][t * K + j] != r * L + le)
        why = "names a pair routed to expert " + std::to_string(idx_of_[static_cast<size_t>(q)][t * K + j]) + ", not " + std::to_string(r * L + le);
      else if (seen[static_cast<size_t>(q)][static_cast<size_t>(t * K + j)]) why = "repeats a pair delivered before";
      if (!why.empty()) {
        if (bad_rows++ == 0) {
          first = "row " + std::to_string(row) + " of expert " + std::to_string(r * L + le) + ": source (" + std::to_string(q) +
                  ", " + std::to_string(t) + ", " + std::to_string(j) + ") " + why;
          acc.worst_index = 3 * row;
        }
        continue;
      }
      seen[static_cast<size_t>(q)][static_cast<size_t>(t * K + j)] = 1;
      row_src_[i] = (static_cast<int64_t>(q) << 40) | (static_cast<int64_t>(t) << 8) | j;
      ++matched;
    }
  }
  // Padding rows of the contiguous layout carry -1s.
  if (s_.layout == DSB_MOE_LAYOUT_CONTIGUOUS) {
    std::vector<unsigned char> data(static_cast<size_t>(plan().capacity), 0);
    for (int64_t row : data_rows_) data[static_cast<size_t>(row)] = 1;
    for (int64_t row = 0; row < plan().capacity; ++row)
      if (!data[static_cast<size_t>(row)] && (src[3 * row] != -1 || src[3 * row + 1] != -1 || src[3 * row + 2] != -1)) {
        if (bad_padding++ == 0 && first.empty()) {
          first = "padding row " + std::to_string(row) + " holds (" + std::to_string(src[3 * row]) + ", " +
                  std::to_string(src[3 * row + 1]) + ", " + std::to_string(src[3 * row + 2]) + "), not -1s";
          acc.worst_index = 3 * row;
        }
      }
  }
  const int64_t expected = static_cast<int64_t>(data_rows_.size());
  const int64_t missing = expected - matched;  // pairs routed here that no row names
  // Contiguous: every row is defined (data or -1 padding); masked: rows past the count are not.
  acc.total = acc.checked = s_.layout == DSB_MOE_LAYOUT_CONTIGUOUS ? plan().capacity * 3 : expected * 3;
  acc.mismatches = 3 * (bad_rows + bad_padding);
  acc.passed = bad_rows == 0 && bad_padding == 0 && missing == 0;
  acc.cos_diff = acc.passed ? 0.0 : 1.0;
  acc.rule = "every row matched by its (rank, token, slot) to a pair routed to its expert, each pair exactly once; " +
             std::to_string(matched) + " of " + std::to_string(expected) + " pairs delivered" +
             (s_.layout == DSB_MOE_LAYOUT_CONTIGUOUS ? "; padding rows -1" : "") + (first.empty() ? "" : "; first wrong: " + first);
  if (missing > 0 && acc.mismatches == 0) acc.mismatches = 3 * missing;
  return acc;
}

OutputAccuracy MoeDispatchProblem::check_payload(const HostTensor& a, const Tolerance& tol, bool scales) const {
  const int64_t H = s_.hidden;
  const int64_t row_bytes = ref::moe_row_bytes(s_.hidden, s_.recv_dtype);
  const int64_t scale_bytes = ref::moe_scale_bytes(s_.hidden, s_.recv_dtype, s_.scale_dtype);
  const int64_t width = scales ? scale_bytes : row_bytes;  // bytes per row of this output
  const int64_t es = scales ? static_cast<int64_t>(dsb_dtype_size(s_.scale_dtype)) : static_cast<int64_t>(dsb_dtype_size(s_.recv_dtype));
  const int64_t per_row = width / es;  // elements per row
  OutputAccuracy acc;
  acc.output = scales ? "recv_scale" : "recv_x";
  acc.tolerance = tol;
  const int64_t n = static_cast<int64_t>(data_rows_.size());
  acc.total = acc.checked = n * per_row;
  int64_t bad = 0, first_row = -1;
  const uint8_t* got = a.data.data();
#pragma omp parallel reduction(+ : bad)
  {
    std::vector<uint16_t> x(static_cast<size_t>(H));
    std::vector<uint8_t> want(static_cast<size_t>(row_bytes + scale_bytes + 8));
#pragma omp for schedule(dynamic, 64)
    for (int64_t i = 0; i < n; ++i) {
      const int64_t row = data_rows_[static_cast<size_t>(i)], sv = row_src_[static_cast<size_t>(i)];
      int64_t wrong = 0;
      if (sv < 0) {
        wrong = per_row;  // no pair: nothing this row holds can be right
      } else {
        const int q = static_cast<int>(sv >> 40);
        const int64_t t = (sv >> 8) & 0xffffffff;
        if (q == ctx_.rank) std::memcpy(x.data(), own_x_ + t * H, static_cast<size_t>(H) * 2);
        else for (int64_t c = 0; c < H; ++c) x[static_cast<size_t>(c)] = moe_x_bits(seed_, q, t, c);
        ref::moe_dispatch_row(x.data(), s_.hidden, s_.recv_dtype, s_.scale_dtype, want.data(), want.data() + row_bytes);
        const uint8_t* w = want.data() + (scales ? row_bytes : 0);
        const uint8_t* g = got + row * width;
        if (std::memcmp(w, g, static_cast<size_t>(width)) != 0)
          for (int64_t e = 0; e < per_row; ++e) wrong += std::memcmp(w + e * es, g + e * es, static_cast<size_t>(es)) != 0;
      }
      if (wrong > 0) {
#pragma omp critical
        if (first_row < 0 || row < first_row) first_row = row;
      }
      bad += wrong;
    }
  }
  acc.mismatches = bad;
  acc.passed = bad == 0;
  acc.cos_diff = bad ? 1.0 : 0.0;
  acc.rule = std::string("every data row, bit for bit, against ") +
             (dsb_dtype_is_fp8(s_.recv_dtype) ? "reference/quantize.cpp's 1x128 quantisation" : "the BF16 row") +
             " of the token its recv_src names";
  if (first_row >= 0) {
    acc.worst_index = first_row * per_row;
    acc.rule += "; first wrong row: " + std::to_string(first_row);
  }
  return acc;
}

}  // namespace

std::unique_ptr<Problem> make_moe_dispatch_problem(const MoeEpShape& s, const RankContext& ctx) {
  return std::make_unique<MoeDispatchProblem>(s, ctx);
}

}  // namespace dsbench
