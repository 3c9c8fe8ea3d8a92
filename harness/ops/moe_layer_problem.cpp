// The MoE layer problem and driver (docs/ops/moe_layer.md): DeepSeek-V3's routed experts and shared
// expert as one composite op, checked token by token against the FP64 chain on the same quantised
// weights (reference/moe_layer_reference.cpp). Routing comes from moe_route's generator under
// `routing_seed` (so every rank can size what it receives, as for dispatch); x and every expert's
// weights come from the case seed, and an expert's weights are a function of (seed, global expert),
// so each rank checks its own tokens against experts held anywhere without asking the others.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

#include "dsbench/comm.hpp"
#include "dsbench/numerics/bf16.hpp"
#include "harness/error.hpp"
#include "harness/input_gen.hpp"
#include "harness/metrics.hpp"
#include "harness/op_registry.hpp"
#include "harness/ops/moe_dispatch_problem.hpp"
#include "harness/param_reader.hpp"
#include "harness/rng.hpp"
#include "reference/moe_dispatch_reference.hpp"
#include "reference/moe_layer_reference.hpp"
#include "reference/moe_route_reference.hpp"

namespace dsbench {
namespace {

struct MoeLayerShape {
  MoeEpShape ep;                 // tokens, hidden, routing, layout, world; ep.recv_dtype = ab_dtype
  int32_t intermediate = 2048, shared_intermediate = 2048;
};

const char* const kStageNames[DSB_MOE_LAYER_STAGE_COUNT] = {
    "all", "route", "dispatch", "gemm_gate_up", "act_quant", "gemm_down", "shared_expert", "combine"};


std::string gib(double bytes) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f GiB", bytes / 1073741824.0);
  return b;
}

class MoeLayerProblem final : public Problem {
 public:
  MoeLayerProblem(const MoeLayerShape& s, const RankContext& ctx) : s_(s), ctx_(ctx) {
    const MoeEpShape& e = s.ep;
    T_ = e.tokens_on(ctx.rank);
    const int64_t H = e.hidden, I = s.intermediate, Is = s.shared_intermediate, L = e.local_experts();
    const int64_t E = e.route.num_experts, hb = H / DSB_FP8_BLOCK, ib = I / DSB_FP8_BLOCK, isb = Is / DSB_FP8_BLOCK;
    const dsb_dtype q = e.recv_dtype, sd = e.scale_dtype;
    inputs_ = {{"x", DSB_DTYPE_BF16, {T_, H}},           {"logits", DSB_DTYPE_F32, {T_, E}},
               {"bias", DSB_DTYPE_F32, {E}},              {"w13", q, {L, 2 * I, H}},
               {"w13_scale", sd, {L, 2 * ib, hb}},        {"w2", q, {L, H, I}},
               {"w2_scale", sd, {L, hb, ib}}};
    if (Is > 0) {
      inputs_.push_back({"ws13", q, {2 * Is, H}});
      inputs_.push_back({"ws13_scale", sd, {2 * isb, hb}});
      inputs_.push_back({"ws2", q, {H, Is}});
      inputs_.push_back({"ws2_scale", sd, {hb, isb}});
    }
    outputs_ = {{"topk_idx", DSB_DTYPE_I32, {T_, e.route.topk}},
                {"topk_weights", DSB_DTYPE_F32, {T_, e.route.topk}},
                {"out", DSB_DTYPE_BF16, {T_, H}}};
    MoeRouteShape rs = e.route;
    rs.num_tokens = T_;
    route_ = make_moe_route_problem(rs);
  }

  const std::vector<TensorSpec>& inputs() const override { return inputs_; }
  const std::vector<TensorSpec>& outputs() const override { return outputs_; }

  void generate(uint64_t seed, TensorMap& in) const override {
    const MoeEpShape& e = s_.ep;
    const int64_t H = e.hidden;
    // x: uniform in [-1, 1) times 2^j per 128 channels, j in [-2, 2]: activations of uneven scale.
    const CounterRng xr(seed, hash_name("moe_layer_x") + static_cast<uint64_t>(ctx_.rank));
    uint16_t* x = in.at("x").as<uint16_t>();
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < T_; ++t)
      for (int64_t c = 0; c < H; ++c) {
        const int64_t j = xr.integer(~static_cast<uint64_t>(t * (H / DSB_FP8_BLOCK) + c / DSB_FP8_BLOCK), -2, 2);
        x[t * H + c] = bf16_from_f32(std::ldexp(xr.uniform(static_cast<uint64_t>(t * H + c), -1.0f, 1.0f), static_cast<int>(j)));
      }
    // Logits and bias: the routing every rank plans with (moe_dispatch_problem.hpp).
    TensorMap r;
    for (const TensorSpec& t : route_->inputs()) r.emplace(t.name, HostTensor(t));
    route_->generate(moe_logits_seed(e.routing_seed, ctx_.rank), r);
    in.at("logits").data = r.at("logits").data;
    in.at("bias").data = r.at("bias").data;
    const int64_t L = e.local_experts();
    for (int64_t le = 0; le < L; ++le) {
      const int64_t g = ctx_.rank * L + le;
      expert_weights(seed, g, in.at("w13").as<uint8_t>() + le * w13_elems(), in.at("w13_scale").as<uint8_t>() + le * w13_scale_bytes(),
                     in.at("w2").as<uint8_t>() + le * w2_elems(), in.at("w2_scale").as<uint8_t>() + le * w2_scale_bytes());
    }
    if (s_.shared_intermediate > 0) shared_weights(seed, in);
    seed_ = seed;
  }

  void validate(const TensorMap& in) const override {
    const float* l = in.at("logits").as<float>();
    for (int64_t i = 0; i < T_ * s_.ep.route.num_experts; ++i)
      if (!std::isfinite(l[i]))
        DSB_THROW("logits[" + std::to_string(i / s_.ep.route.num_experts) + ", " + std::to_string(i % s_.ep.route.num_experts) +
                  "]: " + std::to_string(l[i]) + " is not finite");
    if (s_.ep.world_size > 1) {
      TensorMap r;
      for (const TensorSpec& t : route_->inputs()) r.emplace(t.name, HostTensor(t));
      route_->generate(moe_logits_seed(s_.ep.routing_seed, ctx_.rank), r);
      if (r.at("logits").data != in.at("logits").data)
        DSB_THROW("logits: differ from those of params.routing_seed; a multi-rank replay needs the planned routing on every rank");
    }
  }

  std::vector<uint8_t> params(const std::map<std::string, void*>& ptrs) const override {
    const MoeEpShape& e = s_.ep;
    dsb_moe_layer_params p{};
    p.num_tokens = static_cast<int32_t>(T_);
    p.hidden = e.hidden;
    p.intermediate = s_.intermediate;
    p.shared_intermediate = s_.shared_intermediate;
    p.num_experts = e.route.num_experts;
    p.num_groups = e.route.num_groups;
    p.topk_groups = e.route.topk_groups;
    p.topk = e.route.topk;
    p.scoring = e.route.scoring;
    p.normalize = e.route.normalize ? 1 : 0;
    p.routed_scale = e.route.routed_scale;
    p.rank = ctx_.rank;
    p.world_size = e.world_size;
    p.layout = e.layout;
    p.ab_dtype = e.recv_dtype;
    p.scale_dtype = e.scale_dtype;
    p.recv_capacity = capacity();
    p.stage = DSB_MOE_LAYER_ALL;
    p.x = tensor_ptr(ptrs, "x");
    p.logits = static_cast<const float*>(tensor_ptr(ptrs, "logits"));
    p.bias = static_cast<const float*>(tensor_ptr(ptrs, "bias"));
    p.w13 = tensor_ptr(ptrs, "w13");
    p.w13_scale = tensor_ptr(ptrs, "w13_scale");
    p.w2 = tensor_ptr(ptrs, "w2");
    p.w2_scale = tensor_ptr(ptrs, "w2_scale");
    p.ws13 = tensor_ptr(ptrs, "ws13");
    p.ws13_scale = tensor_ptr(ptrs, "ws13_scale");
    p.ws2 = tensor_ptr(ptrs, "ws2");
    p.ws2_scale = tensor_ptr(ptrs, "ws2_scale");
    p.topk_idx = static_cast<int32_t*>(tensor_ptr(ptrs, "topk_idx"));
    p.topk_weights = static_cast<float*>(tensor_ptr(ptrs, "topk_weights"));
    p.out = tensor_ptr(ptrs, "out");
    p.comm = ctx_.comm ? ctx_.comm->c_handle() : nullptr;
    return params_bytes(p);
  }

  std::vector<std::string> stages() const override {
    return std::vector<std::string>(kStageNames + 1, kStageNames + DSB_MOE_LAYER_STAGE_COUNT);
  }
  void select_stage(std::vector<uint8_t>& params, int stage) const override {
    dsb_moe_layer_params p;
    std::memcpy(&p, params.data(), sizeof p);
    p.stage = stage + 1;
    std::memcpy(params.data(), &p, sizeof p);
  }

  std::vector<OutputCheck> reference(const TensorMap& in, const VerifyPolicy& policy, uint64_t sample_seed) const override;

  double reference_macs() const override { return static_cast<double>(T_) * token_macs(); }
  // The GEMMs of every (token, expert) pair this rank routes, and of the shared expert on its tokens.
  double flops() const override { return 2.0 * static_cast<double>(T_) * token_macs(); }
  // Inputs read once (x, logits, the local experts' and the shared expert's weights) and outputs
  // written once; the dispatch/combine traffic between ranks is in traffic().
  double bytes() const override {
    double b = 0;
    for (const TensorSpec& t : inputs_) b += static_cast<double>(t.bytes());
    for (const TensorSpec& t : outputs_) b += static_cast<double>(t.bytes());
    return b;
  }
  double tokens() const override { return static_cast<double>(T_); }
  Traffic traffic() const override {
    // DeepEP's accounting: FP8 payload and scales per (token, expert) pair out, BF16 rows back.
    const MoeEpPlan& pl = plan();
    const double fwd = static_cast<double>(ref::moe_row_bytes(s_.ep.hidden, s_.ep.recv_dtype) +
                                           ref::moe_scale_bytes(s_.ep.hidden, s_.ep.recv_dtype, s_.ep.scale_dtype));
    const double back = 2.0 * s_.ep.hidden;
    return {fwd * static_cast<double>(pl.own_pairs) + back * static_cast<double>(pl.held_pairs),
            fwd * static_cast<double>(pl.held_pairs) + back * static_cast<double>(pl.own_pairs),
            (fwd + back) * static_cast<double>(pl.own_local_pairs)};
  }
  std::string skip_reason() const override { return skip_; }
  void set_skip(std::string why) { skip_ = std::move(why); }

 private:
  double token_macs() const {
    const double H = s_.ep.hidden;
    return s_.ep.route.topk * 3.0 * H * s_.intermediate + 3.0 * H * s_.shared_intermediate;
  }
  // moe_route's params for this rank's tokens over the inputs reference() saw.
  dsb_moe_route_params route_params() const {
    const MoeRouteShape& r = s_.ep.route;
    dsb_moe_route_params p{};
    p.num_tokens = static_cast<int32_t>(T_);
    p.num_experts = r.num_experts;
    p.num_groups = r.num_groups;
    p.topk_groups = r.topk_groups;
    p.topk = r.topk;
    p.scoring = r.scoring;
    p.normalize = r.normalize ? 1 : 0;
    p.routed_scale = r.routed_scale;
    p.logits = in_->at("logits").as<float>();
    p.bias = in_->at("bias").as<float>();
    return p;
  }
  int64_t w13_elems() const { return 2LL * s_.intermediate * s_.ep.hidden; }
  int64_t w2_elems() const { return static_cast<int64_t>(s_.ep.hidden) * s_.intermediate; }
  int64_t w13_scale_bytes() const {
    return 2LL * (s_.intermediate / DSB_FP8_BLOCK) * (s_.ep.hidden / DSB_FP8_BLOCK) * static_cast<int64_t>(dsb_dtype_size(s_.ep.scale_dtype));
  }
  int64_t w2_scale_bytes() const { return w13_scale_bytes() / 2; }
  Fp8MatrixSpec spec(int64_t rows, int64_t cols) const {
    Fp8MatrixSpec f;
    f.rows = rows;
    f.cols = cols;
    f.fp8 = s_.ep.recv_dtype;
    f.scale_dtype = s_.ep.scale_dtype;
    f.block_128x128 = true;
    // Blocks of one magnitude octave: an expert's output scales with its weights cubed (gate, up,
    // down), so the default 7 octaves would let a few experts drown the rest, and a wrong or missing
    // expert (the shared one too) could hide under the tolerance.
    f.octaves = 0;
    return f;
  }
  // Expert g's weights: a function of (seed, g) alone, so any rank can rebuild any expert.
  void expert_weights(uint64_t seed, int64_t g, uint8_t* w13, void* w13s, uint8_t* w2, void* w2s) const {
    generate_fp8_matrix(CounterRng(seed, hash_name("moe_layer_w13") + static_cast<uint64_t>(g)),
                        spec(2LL * s_.intermediate, s_.ep.hidden), w13, w13s);
    generate_fp8_matrix(CounterRng(seed, hash_name("moe_layer_w2") + static_cast<uint64_t>(g)),
                        spec(s_.ep.hidden, s_.intermediate), w2, w2s);
  }
  void shared_weights(uint64_t seed, TensorMap& in) const {
    generate_fp8_matrix(CounterRng(seed, hash_name("moe_layer_ws13")), spec(2LL * s_.shared_intermediate, s_.ep.hidden),
                        in.at("ws13").as<uint8_t>(), in.at("ws13_scale").data.data());
    generate_fp8_matrix(CounterRng(seed, hash_name("moe_layer_ws2")), spec(s_.ep.hidden, s_.shared_intermediate),
                        in.at("ws2").as<uint8_t>(), in.at("ws2_scale").data.data());
  }
  const MoeEpPlan& plan() const {
    if (!plan_) plan_ = std::make_unique<MoeEpPlan>(make_moe_ep_plan(s_.ep, ctx_.rank));
    return *plan_;
  }
  // Rows the dispatch may deliver: the FP64 plan plus room for a kernel's FP32 routing to differ at a
  // near-tie (one more block of 128 for the contiguous layout, 8 rows per expert for the masked one).
  int64_t capacity() const {
    return plan().capacity + (s_.ep.layout == DSB_MOE_LAYOUT_CONTIGUOUS ? ref::kMoeRowAlign : 8);
  }
  // Expert g's weights: views of the inputs where this rank holds it, else rebuilt into `own`.
  struct ExpertWeights {
    std::vector<uint8_t> own;
    const uint8_t *w13 = nullptr, *w2 = nullptr;
    const void *w13s = nullptr, *w2s = nullptr;
  };
  ExpertWeights weights_of(int64_t g) const;
  // FP64 output y [hidden] of checked token i through expert g; expert_y caches it per (i, g).
  std::vector<double> ffn(int64_t i, const ExpertWeights& w) const;
  const std::vector<double>& expert_y(int64_t i, int64_t g) const;
  OutputAccuracy check_out(const HostTensor& a, const Tolerance& tol) const;

  MoeLayerShape s_;
  RankContext ctx_;
  int64_t T_ = 0;
  std::vector<TensorSpec> inputs_, outputs_;
  std::unique_ptr<Problem> route_;
  std::string skip_;
  mutable std::unique_ptr<MoeEpPlan> plan_;
  mutable uint64_t seed_ = 0;
  // Filled by reference() and the checks, in the order the runner calls them.
  mutable const TensorMap* in_ = nullptr;            // the inputs reference() saw: alive until the checks ran
  mutable std::vector<int64_t> checked_;             // tokens whose out is checked
  mutable std::string rule_;
  mutable bool sampled_ = false;
  mutable std::vector<ref::MoeRouteToken> route_of_; // [checked] FP64 routing
  mutable std::vector<std::vector<uint8_t>> xq_;     // [checked] quantised x: codes then scales
  mutable std::vector<std::vector<double>> shared_;  // [checked] shared expert output
  mutable std::map<int64_t, std::vector<double>> y_; // (t * E + g) -> expert output
  mutable std::vector<int32_t> kernel_idx_;          // what the kernel routed, from the topk_idx check
  mutable bool kernel_idx_ok_ = false;
};

MoeLayerProblem::ExpertWeights MoeLayerProblem::weights_of(int64_t g) const {
  const int64_t L = s_.ep.local_experts();
  ExpertWeights w;
  if (g / L == ctx_.rank) {  // held here: the inputs themselves
    const int64_t le = g - ctx_.rank * L;
    w.w13 = in_->at("w13").as<uint8_t>() + le * w13_elems();
    w.w13s = in_->at("w13_scale").as<uint8_t>() + le * w13_scale_bytes();
    w.w2 = in_->at("w2").as<uint8_t>() + le * w2_elems();
    w.w2s = in_->at("w2_scale").as<uint8_t>() + le * w2_scale_bytes();
    return w;
  }
  w.own.resize(static_cast<size_t>(w13_elems() + w13_scale_bytes() + w2_elems() + w2_scale_bytes()));
  uint8_t* b = w.own.data();
  w.w13 = b;
  w.w13s = b + w13_elems();
  w.w2 = b + w13_elems() + w13_scale_bytes();
  w.w2s = b + w13_elems() + w13_scale_bytes() + w2_elems();
  expert_weights(seed_, g, b, b + w13_elems(), b + w13_elems() + w13_scale_bytes(), b + w13_elems() + w13_scale_bytes() + w2_elems());
  return w;
}

std::vector<double> MoeLayerProblem::ffn(int64_t i, const ExpertWeights& w) const {
  std::vector<double> y(static_cast<size_t>(s_.ep.hidden));
  const std::vector<uint8_t>& xq = xq_[static_cast<size_t>(i)];
  ref::moe_expert_ffn(xq.data(), xq.data() + s_.ep.hidden, w.w13, w.w13s, w.w2, w.w2s, s_.ep.hidden, s_.intermediate,
                      s_.ep.recv_dtype, s_.ep.scale_dtype, y.data());
  return y;
}

const std::vector<double>& MoeLayerProblem::expert_y(int64_t i, int64_t g) const {
  const int64_t key = i * s_.ep.route.num_experts + g;
  if (const auto it = y_.find(key); it == y_.end()) y_[key] = ffn(i, weights_of(g));
  return y_.at(key);
}

std::vector<OutputCheck> MoeLayerProblem::reference(const TensorMap& in, const VerifyPolicy& policy, uint64_t sample_seed) const {
  const MoeEpShape& e = s_.ep;
  const int64_t H = e.hidden, E = e.route.num_experts;
  in_ = &in;
  // The routing checks of moe_route on this rank's logits; the out check reads what the index check saw.
  TensorMap r;
  r.emplace("logits", in.at("logits"));
  r.emplace("bias", in.at("bias"));
  std::vector<OutputCheck> route = route_->reference(r, policy, sample_seed);
  std::vector<OutputCheck> checks;
  for (OutputCheck& c : route) {
    if (c.output == "topk_idx") {
      c.custom = [this, inner = c.custom](const HostTensor& a, const Tolerance& tol) {
        OutputAccuracy acc = inner(a, tol);
        kernel_idx_.assign(a.as<int32_t>(), a.as<int32_t>() + T_ * s_.ep.route.topk);
        kernel_idx_ok_ = acc.passed;
        return acc;
      };
    }
    checks.push_back(std::move(c));
  }

  // Tokens checked whole: all while the FP64 chain is cheap enough, else a stated sample.
  checked_.clear();
  sampled_ = !(policy.force_full || reference_macs() <= policy.full_max_macs);
  if (!sampled_) {
    for (int64_t t = 0; t < T_; ++t) checked_.push_back(t);
    rule_ = "full: every token's out against the FP64 chain through the experts the kernel chose";
  } else {
    std::set<int64_t> pick{0, T_ - 1};
    const CounterRng rng(sample_seed, hash_name("moe-layer-sample"));
    for (int64_t i = 0; i < policy.sample_rows; ++i) pick.insert(rng.integer(static_cast<uint64_t>(i), 0, T_ - 1));
    checked_.assign(pick.begin(), pick.end());
    rule_ = "sampled: tokens {first, last, " + std::to_string(policy.sample_rows) +
            " random} x all of hidden, against the FP64 chain through the experts the kernel chose";
  }
  const dsb_moe_route_params rp = route_params();
  const size_t n = checked_.size();
  route_of_.assign(n, {});
  xq_.assign(n, {});
  shared_.assign(n, {});
  y_.clear();
  const int64_t sb = ref::moe_scale_bytes(e.hidden, e.recv_dtype, e.scale_dtype);
  for (size_t i = 0; i < n; ++i) {
    const int64_t t = checked_[i];
    route_of_[i] = ref::moe_route_token(rp, t);
    xq_[i].resize(static_cast<size_t>(H + sb));
    ref::moe_dispatch_row(in.at("x").as<uint16_t>() + t * H, e.hidden, e.recv_dtype, e.scale_dtype, xq_[i].data(),
                          xq_[i].data() + H);
  }
  // Every (checked token, expert) pair, one expert's weights at a time (rebuilt once per expert).
  std::map<int64_t, std::vector<int64_t>> by_expert;
  for (size_t i = 0; i < n; ++i)
    for (int32_t g : route_of_[i].idx) by_expert[g].push_back(static_cast<int64_t>(i));
  std::vector<std::pair<int64_t, std::vector<int64_t>>> work(by_expert.begin(), by_expert.end());
  std::vector<std::vector<std::vector<double>>> ys(work.size());
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t w = 0; w < work.size(); ++w) {
    const ExpertWeights ew = weights_of(work[w].first);
    for (int64_t i : work[w].second) ys[w].push_back(ffn(i, ew));
  }
  for (size_t w = 0; w < work.size(); ++w)
    for (size_t k = 0; k < work[w].second.size(); ++k) y_[work[w].second[k] * E + work[w].first] = std::move(ys[w][k]);
  if (s_.shared_intermediate > 0) {
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t i = 0; i < n; ++i) {
      shared_[i].resize(static_cast<size_t>(H));
      ref::moe_expert_ffn(xq_[i].data(), xq_[i].data() + H, in.at("ws13").as<uint8_t>(), in.at("ws13_scale").data.data(),
                          in.at("ws2").as<uint8_t>(), in.at("ws2_scale").data.data(), e.hidden, s_.shared_intermediate,
                          e.recv_dtype, e.scale_dtype, shared_[i].data());
    }
  } else {
    for (size_t i = 0; i < n; ++i) shared_[i].assign(static_cast<size_t>(H), 0.0);
  }
  OutputCheck out;
  out.output = "out";
  out.sampled = sampled_;
  out.rule = rule_;
  out.total = T_ * H;
  out.custom = [this](const HostTensor& a, const Tolerance& tol) { return check_out(a, tol); };
  checks.push_back(std::move(out));
  return checks;
}

OutputAccuracy MoeLayerProblem::check_out(const HostTensor& a, const Tolerance& tol) const {
  const MoeEpShape& e = s_.ep;
  const int64_t H = e.hidden, K = e.route.topk;
  const dsb_moe_route_params rp = route_params();
  OutputCheck plain;
  plain.output = "out";
  plain.sampled = sampled_;
  plain.total = T_ * H;
  int64_t rerouted = 0;
  for (size_t i = 0; i < checked_.size(); ++i) {
    const int64_t t = checked_[i];
    const ref::MoeRouteToken& rt = route_of_[i];
    // The kernel's experts where its routing passed the routing check (a near-tie may differ), else
    // the reference's: a wrong route then shows in out as well.
    std::vector<int32_t> sel = rt.idx;
    if (kernel_idx_ok_ && !kernel_idx_.empty()) {
      sel.assign(kernel_idx_.begin() + t * K, kernel_idx_.begin() + (t + 1) * K);
      std::vector<int32_t> a1 = sel, b1 = rt.idx;
      std::sort(a1.begin(), a1.end());
      std::sort(b1.begin(), b1.end());
      if (a1 != b1) ++rerouted;
    }
    const std::vector<double> w = ref::moe_route_weights(rp, rt, sel);
    std::vector<double> routed(static_cast<size_t>(H), 0.0);
    for (int64_t j = 0; j < K; ++j) {
      const std::vector<double>& y = expert_y(static_cast<int64_t>(i), sel[static_cast<size_t>(j)]);
      const double wj = static_cast<float>(w[static_cast<size_t>(j)]);  // combine weighs with the FP32 weights
      for (int64_t c = 0; c < H; ++c) routed[static_cast<size_t>(c)] += wj * y[static_cast<size_t>(c)];
    }
    for (int64_t c = 0; c < H; ++c) {
      const double rb = bf16_to_f32(bf16_from_f64(routed[static_cast<size_t>(c)]));
      plain.index.push_back(t * H + c);
      plain.expected.push_back(bf16_to_f32(bf16_from_f64(rb + shared_[i][static_cast<size_t>(c)])));
    }
  }
  // cos_diff over every checked element; the element test token by token, its absolute allowance
  // abs_rms x the RMS of that token's own reference row: a token's output scales with the square of
  // its activations, so one global RMS would wave through errors in the quiet tokens.
  OutputAccuracy acc = compare_output(plain, tol, a);
  int64_t mismatches = 0, nonfinite = 0;
  bool first = true;
  for (size_t i = 0; i < checked_.size(); ++i) {
    OutputCheck one;
    one.output = "out";
    one.total = H;
    one.index.assign(plain.index.begin() + static_cast<int64_t>(i) * H, plain.index.begin() + static_cast<int64_t>(i + 1) * H);
    one.expected.assign(plain.expected.begin() + static_cast<int64_t>(i) * H, plain.expected.begin() + static_cast<int64_t>(i + 1) * H);
    Tolerance t = tol;
    t.cos_diff = 1.0;  // judged once, over everything
    const OutputAccuracy o = compare_output(one, t, a);
    mismatches += o.mismatches;
    nonfinite += o.nonfinite_mismatches;
    if ((o.mismatches || o.nonfinite_mismatches) && first) {  // report the first failing token's worst element
      first = false;
      acc.worst_index = o.worst_index;
      acc.worst_coord = o.worst_coord;
      acc.worst_expected = o.worst_expected;
      acc.worst_actual = o.worst_actual;
      acc.abs_effective = o.abs_effective;
    }
  }
  acc.mismatches = mismatches;
  acc.nonfinite_mismatches = nonfinite;
  acc.passed = mismatches == 0 && nonfinite == 0 && acc.cos_diff <= tol.cos_diff;
  acc.rule = rule_ + "; element test per token (abs allowance: abs_rms x that token's reference RMS)" +
             (rerouted ? "; " + std::to_string(rerouted) + " checked tokens took the kernel's near-tie choice" : "");
  return acc;
}

// Routing as moe_route. out: the kernel accumulates each GEMM in FP32, the oracle in FP64, so a BF16
// gate/up value now and then rounds the other way (about 1 in 2000); when it is a block's amax, the
// 1x128 re-quantisation of h moves by an FP8 step in that block, and y by up to a few % of its RMS
// in a handful of elements (measured: 4.0% of the RMS at worst, cos_diff 1e-11 to 1.6e-6 over 5 seeds
// of 2 smoke shapes). Hence per element 10% of the output's RMS (or 2^-6 relative) and cos_diff 2e-5:
// a wrong expert, weight, scale, activation or a missing shared expert moves cos_diff to 1e-3 or more
// (tests/harness/moe_layer_test.cpp; docs/ops/moe_layer.md#tolerance).
const std::map<std::string, Tolerance> kLayerTolerance = {
    {"topk_idx", Tolerance{}},
    {"topk_weights", Tolerance{1e-6, 0.0, 1e-5, 1e-10}},
    {"out", Tolerance{0.0, 0.1, 0.015625, 2e-5}},
};

const char* kHelp =
    "num_tokens (per rank); hidden (7168); intermediate (2048: each expert's moe_intermediate_size); "
    "shared_intermediate (2048; 0: no shared expert); routing as moe_route: num_experts (256), num_groups (8), "
    "topk_groups (4), topk (8), distribution gate|balanced|skewed (gate), gate_hidden, zipf_s; layout "
    "contiguous|masked (contiguous); ab_dtype e4m3fn|native|... (e4m3fn), scale_dtype f32|ue8m0 (f32); empty_rank "
    "(-1: this rank mod world_size has no tokens); routing_seed (1)";

class MoeLayerDriver final : public OpDriver {
 public:
  dsb_op op() const override { return DSB_OP_MOE_LAYER; }
  std::map<std::string, Tolerance> default_tolerances() const override { return kLayerTolerance; }
  bool multi_rank() const override { return true; }
  std::unique_ptr<Problem> make(const nlohmann::json& params) const override { return make_on(params, RankContext{}); }
  std::unique_ptr<Problem> make_on(const nlohmann::json& params, const RankContext& ctx) const override {
    ParamReader r(params);
    MoeLayerShape s;
    s.ep = read_moe_ep_params(r, ctx.world_size);
    s.intermediate = static_cast<int32_t>(r.integer_or("intermediate", 2048, 1, 1 << 20));
    s.shared_intermediate = static_cast<int32_t>(r.integer_or("shared_intermediate", 2048, 0, 1 << 20));
    s.ep.recv_dtype = r.dtype_or("ab_dtype", DSB_DTYPE_E4M3FN);
    s.ep.scale_dtype = r.dtype_or("scale_dtype", DSB_DTYPE_F32);
    r.finish();
    check_moe_ep_shape(s.ep);
    if (!dsb_dtype_is_fp8(s.ep.recv_dtype))
      DSB_THROW("params.ab_dtype: " + std::string(dsb_dtype_name(s.ep.recv_dtype)) + " is not an FP8 type");
    if (s.ep.scale_dtype != DSB_DTYPE_F32 && s.ep.scale_dtype != DSB_DTYPE_UE8M0)
      DSB_THROW("params.scale_dtype: f32 or ue8m0, not " + std::string(dsb_dtype_name(s.ep.scale_dtype)));
    if (s.ep.hidden % DSB_FP8_BLOCK != 0)
      DSB_THROW("params.hidden: " + std::to_string(s.ep.hidden) + " is not a multiple of 128 (1x128 FP8 activations)");
    if (s.intermediate % DSB_FP8_BLOCK != 0)
      DSB_THROW("params.intermediate: " + std::to_string(s.intermediate) + " is not a multiple of 128 (128x128 FP8 weights)");
    if (s.shared_intermediate % DSB_FP8_BLOCK != 0)
      DSB_THROW("params.shared_intermediate: " + std::to_string(s.shared_intermediate) + " is not a multiple of 128");
    auto p = std::make_unique<MoeLayerProblem>(s, ctx);
    if (ctx.memory_budget > 0) {
      // Inputs and outputs on the device and their host copies, plus a kernel's intermediates: about
      // (FP8 row + BF16 gate/up + FP8 h + BF16 y) per delivered row.
      double need = 0;
      for (const TensorSpec& t : p->inputs()) need += 2.0 * static_cast<double>(t.bytes());
      for (const TensorSpec& t : p->outputs()) need += 2.0 * static_cast<double>(t.bytes());
      const double rows = static_cast<double>(s.ep.tokens_on(ctx.rank)) * s.ep.route.topk * s.ep.world_size;
      need += rows * (s.ep.hidden * 3.0 + s.intermediate * 5.0);
      if (need > static_cast<double>(ctx.memory_budget))
        p->set_skip("capped by memory: rank " + std::to_string(ctx.rank) + " needs about " + gib(need) +
                    ", more than its share " + gib(static_cast<double>(ctx.memory_budget)));
    }
    return p;
  }
  std::string params_help() const override { return kHelp; }
};

}  // namespace

std::unique_ptr<OpDriver> make_moe_layer_driver() { return std::make_unique<MoeLayerDriver>(); }

}  // namespace dsbench
