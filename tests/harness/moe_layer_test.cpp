// The MoE layer: the FP64 expert chain against the GEMM oracle composed by hand, the CPU layer against
// the problem's check in both layouts, stage-alone runs leaving the result unchanged, the check failing
// on wrong layers (routed scale, missing shared expert, swapped or scaled tokens), and bad params.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "dsbench/numerics/bf16.hpp"
#include "harness/error.hpp"
#include "harness/metrics.hpp"
#include "harness/op_registry.hpp"
#include "kernels/cpu/cpu_backend.hpp"
#include "kernels/cpu/moe_layer_cpu.hpp"
#include "reference/gemm_fp8_reference.hpp"
#include "reference/moe_layer_reference.hpp"
#include "reference/quantize.hpp"

namespace dsbench {
namespace {

struct Case {
  std::unique_ptr<Problem> problem;
  TensorMap in, out;
  std::map<std::string, void*> ptrs;
  std::vector<OutputCheck> checks;
  dsb_moe_layer_params p{};
};

Case make_case(const nlohmann::json& params, uint64_t seed) {
  Case c;
  c.problem = find_driver(DSB_OP_MOE_LAYER)->make(params);
  for (const TensorSpec& s : c.problem->inputs()) c.in.emplace(s.name, HostTensor(s));
  c.problem->generate(seed, c.in);
  for (const TensorSpec& s : c.problem->outputs()) {
    c.out.emplace(s.name, HostTensor(s));
    std::fill(c.out.at(s.name).data.begin(), c.out.at(s.name).data.end(), uint8_t{0xa5});
  }
  for (auto& [n, t] : c.in) c.ptrs[n] = t.data.data();
  for (auto& [n, t] : c.out) c.ptrs[n] = t.data.data();
  const std::vector<uint8_t> b = c.problem->params(c.ptrs);
  std::memcpy(&c.p, b.data(), sizeof c.p);
  c.checks = c.problem->reference(c.in, VerifyPolicy{}, 7);
  return c;
}

dsb_status run_optimized(const dsb_moe_layer_params& p, std::vector<uint8_t>& ws) {
  ws.resize(cpu::moe_layer_optimized_workspace(p));
  return cpu::moe_layer_optimized(p, ws.data());
}

// The failing outputs of c.out under the driver's tolerances ("" when all pass); cos_diff of out.
std::string failures(const Case& c, double* out_cos = nullptr) {
  const auto tol = find_driver(DSB_OP_MOE_LAYER)->default_tolerances();
  std::string bad;
  for (const OutputCheck& k : c.checks) {  // in order: the out check uses what the index check read
    const OutputAccuracy a = compare_output(k, tol.at(k.output), c.out.at(k.output));
    if (k.output == "out" && out_cos) *out_cos = a.cos_diff;
    if (!a.passed) bad += k.output + " ";
  }
  return bad;
}

const nlohmann::json kContiguous = {{"num_tokens", 40}, {"hidden", 256}, {"intermediate", 256},
                                    {"shared_intermediate", 128}, {"num_experts", 16}, {"num_groups", 4},
                                    {"topk_groups", 2}, {"topk", 4}};

TEST(MoeLayerReference, ExpertChainIsTheGemmOracleComposed) {
  // hidden 256, intermediate 128: gate/up by the dense GEMM oracle (m = 1), SiLU * up in FP64 rounded
  // to FP32, 1x128 quantisation, then the down GEMM: moe_expert_ffn must give exactly this.
  const int64_t H = 256, I = 128;
  const nlohmann::json j = {{"num_tokens", 3}, {"hidden", H}, {"intermediate", I}, {"shared_intermediate", 0},
                            {"num_experts", 4}, {"num_groups", 1}, {"topk_groups", 1}, {"topk", 2}};
  Case c = make_case(j, 11);
  const ref::QuantRecipe recipe;
  std::vector<float> xf(H), xs(H / 128), gs(1), hs(1);
  for (int64_t i = 0; i < H; ++i) xf[i] = bf16_to_f32(c.in.at("x").as<uint16_t>()[H + i]);  // token 1
  std::vector<uint8_t> xq(H), hq(I);
  ref::quantize_1x128(xf.data(), 1, H, recipe, xq.data(), xs.data());
  const int64_t e = 2;
  const uint8_t* w13 = c.in.at("w13").as<uint8_t>() + e * 2 * I * H;
  const float* w13s = c.in.at("w13_scale").as<float>() + e * 2 * (H / 128);
  const uint8_t* w2 = c.in.at("w2").as<uint8_t>() + e * H * I;
  const float* w2s = c.in.at("w2_scale").as<float>() + e * (H / 128);
  std::vector<uint16_t> gu(2 * I), y(H);
  ref::gemm_fp8_blockscaled({1, 2 * I, H, DSB_DTYPE_E4M3FN, DSB_DTYPE_F32, xq.data(), xs.data(), w13, w13s, gu.data()});
  std::vector<float> h(I);
  for (int64_t i = 0; i < I; ++i) {
    const double g = bf16_to_f32(gu[i]), u = bf16_to_f32(gu[I + i]);
    h[i] = static_cast<float>(g / (1.0 + std::exp(-g)) * u);
  }
  ref::quantize_1x128(h.data(), 1, I, recipe, hq.data(), hs.data());
  ref::gemm_fp8_blockscaled({1, H, I, DSB_DTYPE_E4M3FN, DSB_DTYPE_F32, hq.data(), hs.data(), w2, w2s, y.data()});
  std::vector<double> got(H);
  ref::moe_expert_ffn(xq.data(), xs.data(), w13, w13s, w2, w2s, H, I, DSB_DTYPE_E4M3FN, DSB_DTYPE_F32, got.data());
  int nonzero = 0;
  for (int64_t i = 0; i < H; ++i) {
    EXPECT_EQ(got[i], bf16_to_f32(y[i])) << i;
    nonzero += y[i] != 0;
  }
  EXPECT_GT(nonzero, H / 2);
}

TEST(MoeLayerReference, WholeLayerPassesItsOwnCheck) {
  Case c = make_case(kContiguous, 3);
  ASSERT_EQ(ref::moe_layer(c.p), DSB_STATUS_OK);
  EXPECT_EQ(failures(c), "");
  dsb_moe_layer_params stage = c.p;
  stage.stage = DSB_MOE_LAYER_COMBINE;
  EXPECT_EQ(ref::moe_layer(stage), DSB_STATUS_NOT_SUPPORTED);
}

TEST(MoeLayerCpu, BothLayoutsPassAndStagesAloneChangeNothing) {
  for (const char* layout : {"contiguous", "masked"}) {
    for (const char* scale : {"f32", "ue8m0"}) {
      nlohmann::json j = kContiguous;
      j["layout"] = layout;
      j["scale_dtype"] = scale;
      Case c = make_case(j, 5);
      std::vector<uint8_t> ws;
      ASSERT_EQ(run_optimized(c.p, ws), DSB_STATUS_OK) << layout;
      EXPECT_EQ(failures(c), "") << layout << " " << scale;
      const std::vector<uint8_t> whole = c.out.at("out").data;
      // Each stage alone, in order, over the same workspace: the same bits.
      for (int s = DSB_MOE_LAYER_ROUTE; s < DSB_MOE_LAYER_STAGE_COUNT; ++s) {
        dsb_moe_layer_params q = c.p;
        q.stage = s;
        ASSERT_EQ(cpu::moe_layer_optimized(q, ws.data()), DSB_STATUS_OK) << s;
      }
      EXPECT_EQ(c.out.at("out").data, whole) << layout;
      dsb_moe_layer_params q = c.p;
      q.stage = DSB_MOE_LAYER_COMBINE;  // twice: combine does not add the shared expert twice
      ASSERT_EQ(cpu::moe_layer_optimized(q, ws.data()), DSB_STATUS_OK);
      EXPECT_EQ(c.out.at("out").data, whole) << layout;
    }
  }
}

TEST(MoeLayerCpu, CheckCatchesWrongLayers) {
  Case c = make_case(kContiguous, 9);
  std::vector<uint8_t> ws;
  ASSERT_EQ(run_optimized(c.p, ws), DSB_STATUS_OK);
  double cos = 0;
  ASSERT_EQ(failures(c, &cos), "");
  EXPECT_LT(cos, 2e-6);
  const std::vector<uint8_t> good = c.out.at("out").data;

  dsb_moe_layer_params no_scale = c.p;  // routed weights without the x2.5
  no_scale.routed_scale = 1.0f;
  ASSERT_EQ(run_optimized(no_scale, ws), DSB_STATUS_OK);
  EXPECT_NE(failures(c), "") << "routed_scale 1";
  ASSERT_EQ(run_optimized(c.p, ws), DSB_STATUS_OK);  // restores topk_weights

  dsb_moe_layer_params no_shared = c.p;  // the shared expert left out
  no_shared.shared_intermediate = 0;
  ASSERT_EQ(run_optimized(no_shared, ws), DSB_STATUS_OK);
  EXPECT_EQ(failures(c, &cos), "out ");
  EXPECT_GT(cos, 1e-3);

  // Two tokens' rows swapped; one token's row 25% too large.
  const int64_t row = 2 * 256;
  c.out.at("out").data = good;
  std::swap_ranges(c.out.at("out").data.begin() + 3 * row, c.out.at("out").data.begin() + 4 * row,
                   c.out.at("out").data.begin() + 17 * row);
  EXPECT_EQ(failures(c), "out ");
  c.out.at("out").data = good;
  uint16_t* o = c.out.at("out").as<uint16_t>();
  for (int64_t i = 0; i < 256; ++i) o[5 * 256 + i] = bf16_from_f32(1.25f * bf16_to_f32(o[5 * 256 + i]));
  EXPECT_EQ(failures(c), "out ");
  c.out.at("out").data = good;
  EXPECT_EQ(failures(c), "");
}

TEST(MoeLayerCpu, NoTokensIsAnEmptyResultNotAnError) {
  nlohmann::json j = kContiguous;
  j["num_tokens"] = 0;
  for (const char* layout : {"contiguous", "masked"}) {
    j["layout"] = layout;
    Case c = make_case(j, 2);
    std::vector<uint8_t> ws;
    EXPECT_EQ(run_optimized(c.p, ws), DSB_STATUS_OK) << layout;
    EXPECT_EQ(ref::moe_layer(c.p), DSB_STATUS_OK) << layout;
    EXPECT_EQ(failures(c), "") << layout;
  }
}

TEST(MoeLayerDriver, BadParamsNameTheField) {
  const OpDriver& d = *find_driver(DSB_OP_MOE_LAYER);
  auto error_of = [&](const char* key, const nlohmann::json& v) {
    nlohmann::json j = kContiguous;
    j[key] = v;
    try {
      d.make(j);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error_of("hidden", 200).find("params.hidden"), std::string::npos);
  EXPECT_NE(error_of("intermediate", 100).find("params.intermediate"), std::string::npos);
  EXPECT_NE(error_of("shared_intermediate", 64).find("params.shared_intermediate"), std::string::npos);
  EXPECT_NE(error_of("ab_dtype", "bf16").find("params.ab_dtype"), std::string::npos);
  EXPECT_NE(error_of("scale_dtype", "bf16").find("params.scale_dtype"), std::string::npos);
  EXPECT_NE(error_of("topk", 40).find("params.topk"), std::string::npos);
  EXPECT_NE(error_of("unused_slots", 0.1).find("unused_slots"), std::string::npos);  // routing is the layer's own
}

TEST(MoeLayerCpu, ReferenceKernelRunsOneRankOnly) {
  Case c = make_case(kContiguous, 1);
  std::unique_ptr<Backend> cpu = cpu::make_cpu_backend();
  Device* dev = cpu->device(0);
  ASSERT_NE(dev, nullptr);
  const cpu::MoeLayerKernel ref_k(true), opt_k(false);
  const Kernel &ref = ref_k, &opt = opt_k;  // the harness's view: supports(const void*, ...)
  EXPECT_TRUE(ref.supports(&c.p, *dev).ok);
  dsb_moe_layer_params p = c.p;
  p.world_size = 2;
  int dummy = 0;
  dsb_comm comm{};
  comm.world_size = 2;
  comm.impl = &dummy;
  comm.alltoallv = [](dsb_comm*, const void*, const int64_t*, const int64_t*, void*, const int64_t*, const int64_t*,
                      dsb_dtype, void*) { return DSB_STATUS_INTERNAL; };
  p.comm = &comm;
  const Support s = ref.supports(&p, *dev);
  EXPECT_FALSE(s.ok);
  EXPECT_NE(s.reason.find("one rank"), std::string::npos) << s.reason;
  EXPECT_TRUE(opt.supports(&p, *dev).ok);
}

}  // namespace
}  // namespace dsbench
