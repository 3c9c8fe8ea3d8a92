// The portable GPU MoE layer (kernels/gpu/moe_layer_gpu_kernel.cuh): its stage sequence and its own
// kernels (SiLU-multiply-quantise, the x quantisation of the shared expert, the final add) run on
// the CPU by the SIMT emulator, with the GPU dispatch and combine sequences emulated too, on the
// smoke suite's layer cases as the harness generates them, checked by the op's own check. Routing and
// the GEMMs go to the CPU backend's kernels here (the warp routing and the naive GEMMs have their own
// device tests); stage-alone runs must leave the result unchanged.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "harness/suite.hpp"
#include "kernels/cpu/gemm_fp8_cpu.hpp"
#include "kernels/cpu/moe_route_cpu.hpp"
#include "kernels/gpu/gpu_kernels.hpp"
#include "tests/cuda/paper_cuda_device.hpp"

#include "tests/cuda/emu/harness_case.hpp"
#include "tests/cuda/emu/local_ranks.hpp"
#include "tests/cuda/emu/simt_emulator.hpp"
#include "tests/cuda/emu/moe_dispatch_launcher.hpp"
#include "kernels/gpu/moe_layer_gpu_kernel.cuh"

namespace dsbench {
namespace {

using DispatchEmu = emu_test::MoeDispatchLauncher;  // the dispatch/combine sequences' launcher

Status of(dsb_status s) { return s == DSB_STATUS_OK ? Status::success() : Status::error(s, dsb_status_name(s)); }

struct LayerEmu {
  int stages_run = 0;
  Status route(const dsb_moe_route_params& p) { return of(cpu::moe_route_optimized(p)); }
  Status dispatch(const dsb_moe_dispatch_params& p, void* ws) {
    DispatchEmu d;
    return gpu::moe::dispatch_sequence(p, ws, d);
  }
  Status combine(const dsb_moe_combine_params& p, void* ws) {
    DispatchEmu d;
    return gpu::moe::combine_sequence(p, ws, d);
  }
  Status gemm(const dsb_gemm_fp8_blockscaled_params& p, void*) { return of(cpu::gemm_fp8_blockscaled_optimized(p)); }
  Status gemm(const dsb_gemm_fp8_grouped_contiguous_params& p, void*) { return of(cpu::gemm_fp8_grouped_contiguous_optimized(p)); }
  Status gemm(const dsb_gemm_fp8_grouped_masked_params& p, void*) { return of(cpu::gemm_fp8_grouped_masked_optimized(p)); }
  size_t dispatch_workspace(const dsb_moe_dispatch_params& p) { return gpu::moe_dispatch_gpu_workspace(p); }
  size_t combine_workspace(const dsb_moe_combine_params& p) { return gpu::moe_combine_gpu_workspace(p); }
  template <class... K, class... A>
  Status launch(void (*kernel)(K...), unsigned grid, A... args) {
    emu::launch({grid, 1, 1}, gpu::moe_layer::kThreads, 0, [&] { kernel(args...); });
    return Status::success();
  }
};

TEST(MoeLayerGpuEmulated, PassesEverySmokeLayerCaseAndStagesAloneChangeNothing) {
  const PaperCudaDevice dev;
  const gpu::MoeLayerGpuKernel layer_kernel("cuda");
  const Kernel& layer = layer_kernel;
  int ran = 0;
  for (const CaseSpec& spec : load_suite("smoke").cases) {
    if (spec.op != "moe_layer") continue;
    auto c = emu_test::prepare_case<dsb_moe_layer_params>(DSB_OP_MOE_LAYER, spec.params, 23, 0x5a);
    ASSERT_TRUE(layer.supports(&c.params, dev).ok) << spec.id << ": " << layer.supports(&c.params, dev).reason;
    LayerEmu l;
    std::vector<uint8_t> ws(gpu::moe_layer::carve(c.params, nullptr, l).bytes + 16);
    ASSERT_TRUE(gpu::moe_layer::run_layer(c.params, ws.data(), l).ok()) << spec.id;
    emu_test::expect_case_passes(c, spec.id);
    const std::vector<uint8_t> whole = c.tensors.at("out").data;
    for (int s = DSB_MOE_LAYER_ROUTE; s < DSB_MOE_LAYER_STAGE_COUNT; ++s) {
      dsb_moe_layer_params q = c.params;
      q.stage = s;
      ASSERT_TRUE(gpu::moe_layer::run_layer(q, ws.data(), l).ok()) << spec.id << " stage " << s;
    }
    EXPECT_EQ(c.tensors.at("out").data, whole) << spec.id << ": a stage run alone changed the result";
    ++ran;
  }
  EXPECT_GE(ran, 2);
}

TEST(MoeLayerGpuEmulated, ExpertParallelOverTwoRanksPassesOnEveryRank) {
  // The multi-rank suite's layer cases (contiguous with a shared expert; masked, skewed, UE8M0, an
  // empty rank), the dispatch and combine exchanging through the in-process communicator.
  const Suite suite = load_suite(std::string(DSB_TEST_DATA_DIR) + "/comm/moe_suite.json");
  int ran = 0;
  for (const CaseSpec& spec : suite.cases) {
    if (spec.op != "moe_layer") continue;
    emu_test::run_ranks(2, [&](const RankContext& ctx) {
      const PaperCudaDevice dev;
      const gpu::MoeLayerGpuKernel layer_kernel("cuda");
      const std::string what = spec.id + " rank " + std::to_string(ctx.rank);
      auto c = emu_test::prepare_case<dsb_moe_layer_params>(DSB_OP_MOE_LAYER, spec.params, 29, 0x5a, ctx);
      const Support ok = static_cast<const Kernel&>(layer_kernel).supports(&c.params, dev);
      ASSERT_TRUE(ok.ok) << what << ": " << ok.reason;
      LayerEmu l;
      std::vector<uint8_t> ws(gpu::moe_layer::carve(c.params, nullptr, l).bytes + 16);
      const Status st = gpu::moe_layer::run_layer(c.params, ws.data(), l);
      ASSERT_TRUE(st.ok()) << what << ": " << st.message;
      emu_test::expect_case_passes(c, what);
    });
    ++ran;
  }
  EXPECT_GE(ran, 2);
}

TEST(MoeLayerGpuEmulated, ActQuantMatchesTheReferenceQuantiserBitForBit) {
  // One row of gate/up with a wide spread of magnitudes: the kernel's codes and scales against
  // SiLU * up in FP32 through ref-equivalent 1x128 quantisation (fp8_block_scale and the codec).
  const int64_t I = 256;
  std::vector<uint16_t> gu(2 * I);
  for (int64_t i = 0; i < 2 * I; ++i) gu[i] = bf16_from_f32(std::ldexp(static_cast<float>((i * 37) % 101) - 50.0f, static_cast<int>(i % 7) - 3));
  for (dsb_dtype sd : {DSB_DTYPE_F32, DSB_DTYPE_UE8M0}) {
    std::vector<uint8_t> hq(I, 0x5a), hs(2 * 4, 0x5a);
    emu::launch({1, 1, 1}, gpu::moe_layer::kThreads, 0, [&] {
      gpu::moe_layer::act_quant_kernel(gu.data(), I, gpu::moe_layer::Rows{}, DSB_DTYPE_E4M3FN, sd, hq.data(), hs.data());
    });
    for (int64_t b = 0; b < 2; ++b) {
      float h[128], amax = 0;
      for (int c = 0; c < 128; ++c) {
        const float g = bf16_to_f32(gu[b * 128 + c]), u = bf16_to_f32(gu[I + b * 128 + c]);
        h[c] = g / (1.0f + std::exp(-g)) * u;
        amax = std::max(amax, std::fabs(h[c]));
      }
      const float s = fp8_block_scale(amax, DSB_DTYPE_E4M3FN, sd == DSB_DTYPE_UE8M0);
      for (int c = 0; c < 128; ++c) EXPECT_EQ(hq[b * 128 + c], fp8_encode(h[c] / s, DSB_DTYPE_E4M3FN)) << b << " " << c;
      if (sd == DSB_DTYPE_UE8M0) EXPECT_EQ(hs[b], ue8m0_from_f32_ceil(s));
      else EXPECT_EQ(reinterpret_cast<const float*>(hs.data())[b], s);
    }
  }
}

TEST(MoeLayerGpuKernel, RefusesWhatItCannotRunWithTheReason) {
  const PaperCudaDevice dev;
  const gpu::MoeLayerGpuKernel layer_kernel("cuda");
  const Kernel& layer = layer_kernel;
  dsb_moe_layer_params p{};
  p.num_tokens = 8;
  p.hidden = 256;
  p.intermediate = 128;
  p.num_experts = 16;
  p.num_groups = 4;
  p.topk_groups = 2;
  p.topk = 4;
  p.world_size = 1;
  p.ab_dtype = DSB_DTYPE_E4M3FN;
  p.scale_dtype = DSB_DTYPE_F32;
  EXPECT_TRUE(layer.supports(&p, dev).ok) << layer.supports(&p, dev).reason;
  dsb_moe_layer_params q = p;
  q.world_size = 2;
  EXPECT_NE(layer.supports(&q, dev).reason.find("without a communicator"), std::string::npos);
  q = p;
  q.ab_dtype = DSB_DTYPE_E4M3FNUZ;
  EXPECT_NE(layer.supports(&q, dev).reason.find("OCP FP8"), std::string::npos);
  q = p;
  q.num_groups = 1;  // 16 experts in one group is fine; 64 is not (a warp's 32 lanes)
  q.num_experts = 64;
  q.topk_groups = 1;
  EXPECT_NE(layer.supports(&q, dev).reason.find("experts per group"), std::string::npos);
  q = p;
  q.intermediate = 100;
  EXPECT_NE(layer.supports(&q, dev).reason.find("multiples of 128"), std::string::npos);
}

// A GEMM kernel that takes nothing above n = 4096, to see its refusal reach the layer's.
template <class P>
class PickyGemm final : public KernelFor<P> {
 public:
  PickyGemm() : KernelFor<P>("cuda", "picky") {}

 protected:
  Support supports(const P& p, const Device&) const override {
    return p.n > 4096 ? Support::no("n = " + std::to_string(p.n) + " > 4096") : Support::yes();
  }
  size_t workspace_bytes(const P& p, const Device&) const override { return static_cast<size_t>(p.n) * 4; }
  Status run(const P&, void*, Stream&) const override { return Status::success(); }
};

TEST(MoeLayerGpuKernel, AChainOverOtherGemmsTakesTheirRefusalsAndWorkspace) {
  const PaperCudaDevice dev;
  const PickyGemm<dsb_gemm_fp8_blockscaled_params> dense;
  const PickyGemm<dsb_gemm_fp8_grouped_contiguous_params> contiguous;
  const PickyGemm<dsb_gemm_fp8_grouped_masked_params> masked;
  const gpu::MoeLayerGpuKernel chain_kernel("cuda", "picky", {&dense, &contiguous, &masked});
  const gpu::MoeLayerGpuKernel naive_kernel("cuda");
  const Kernel& chain = chain_kernel;
  const Kernel& naive = naive_kernel;
  EXPECT_EQ(chain.id(), "cuda.moe_layer.chained_picky");
  dsb_moe_layer_params p{};
  p.num_tokens = 8;
  p.hidden = 1024;
  p.intermediate = 1024;  // gate/up n = 2048
  p.shared_intermediate = 128;
  p.num_experts = 16;
  p.num_groups = 4;
  p.topk_groups = 2;
  p.topk = 4;
  p.world_size = 1;
  p.recv_capacity = 256;
  p.ab_dtype = DSB_DTYPE_E4M3FN;
  p.scale_dtype = DSB_DTYPE_F32;
  EXPECT_TRUE(chain.supports(&p, dev).ok) << chain.supports(&p, dev).reason;
  // The chain's workspace holds the GEMMs' largest (n * 4 bytes here) beyond the naive chain's.
  EXPECT_GE(chain.workspace_bytes(&p, dev), naive.workspace_bytes(&p, dev) + 2048 * 4);
  p.intermediate = 4096;  // gate/up n = 8192: refused by the experts' GEMM, and the reason says which
  const Support s = chain.supports(&p, dev);
  EXPECT_FALSE(s.ok);
  EXPECT_NE(s.reason.find("the experts' gate/up GEMM (cuda.gemm_fp8_grouped_contiguous.picky): n = 8192 > 4096"),
            std::string::npos)
      << s.reason;
  p.layout = DSB_MOE_LAYOUT_MASKED;
  EXPECT_NE(chain.supports(&p, dev).reason.find("gemm_fp8_grouped_masked.picky"), std::string::npos);
  EXPECT_TRUE(naive.supports(&p, dev).ok);
}

}  // namespace
}  // namespace dsbench
