// The portable GPU MoE dispatch (permute + fused FP8 cast) and combine, their own device code run
// on the CPU by the SIMT emulator (tests/cuda/emu) on the MoE cases as the harness generates them,
// and checked by the ops' exact order-free checks; the same launch sequences the CUDA/HIP launchers
// run (moe_dispatch_gpu_kernel.cuh). One device on the smoke suite; expert parallelism over 2 and 4
// ranks (threads with the in-process communicator standing in for NCCL) on tests/comm/moe_suite.json.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <vector>

#include "harness/metrics.hpp"
#include "harness/op_registry.hpp"
#include "harness/suite.hpp"
#include "reference/moe_dispatch_reference.hpp"
#include "kernels/gpu/gpu_kernels.hpp"
#include "tests/cuda/paper_cuda_device.hpp"

#include "tests/cuda/emu/harness_case.hpp"
#include "tests/cuda/emu/local_ranks.hpp"
#include "tests/cuda/emu/simt_emulator.hpp"
#include "tests/cuda/emu/moe_dispatch_launcher.hpp"

namespace dsbench {
namespace {

using EmuLauncher = emu_test::MoeDispatchLauncher;

int run_smoke(dsb_op op) {
  const PaperCudaDevice dev;
  const gpu::MoeDispatchGpuKernel dispatch_kernel("cuda");
  const gpu::MoeCombineGpuKernel combine_kernel("cuda");
  const Kernel& dispatch = dispatch_kernel;  // the public, type-erased interface
  const Kernel& combine = combine_kernel;
  int ran = 0;
  for (const CaseSpec& spec : load_suite("smoke").cases) {
    if (spec.op != dsb_op_name(op)) continue;
    // Poison 0x5a, not the runner's 0xff: that reads as -1, a valid padding value.
    EmuLauncher l;
    if (op == DSB_OP_MOE_DISPATCH) {
      const auto c = emu_test::prepare_case<dsb_moe_dispatch_params>(op, spec.params, 21, 0x5a);
      if (!dispatch.supports(&c.params, dev).ok) continue;  // e.g. FP8 with hidden % 128 != 0, refused by design
      std::vector<uint8_t> ws(gpu::moe_dispatch_gpu_workspace(c.params) + 16);
      EXPECT_TRUE(gpu::moe::dispatch_sequence(c.params, ws.data(), l).ok());
      emu_test::expect_case_passes(c, spec.id);
    } else {
      const auto c = emu_test::prepare_case<dsb_moe_combine_params>(op, spec.params, 21, 0x5a);
      if (!combine.supports(&c.params, dev).ok) continue;
      std::vector<uint8_t> ws(gpu::moe_combine_gpu_workspace(c.params) + 16);
      EXPECT_TRUE(gpu::moe::combine_sequence(c.params, ws.data(), l).ok());
      emu_test::expect_case_passes(c, spec.id);
    }
    ++ran;
  }
  return ran;
}

TEST(MoeGpuEmulated, DispatchPassesTheExactOrderFreeCheckOnEverySmokeCaseItTakes) {
  EXPECT_GE(run_smoke(DSB_OP_MOE_DISPATCH), 3) << "BF16 and FP8 (F32 and UE8M0 scales), both layouts";
}

TEST(MoeGpuEmulated, CombinePassesOnEverySmokeCase) { EXPECT_GE(run_smoke(DSB_OP_MOE_COMBINE), 2); }

TEST(MoeGpuEmulated, TheCastMatchesTheReferenceQuantiserOnSpecialValues) {
  // Two tokens whose 1x128 blocks hold NaN, +-Inf, a value past the E4M3 range, subnormal-sized
  // values and zeros; every delivered row against ref::moe_dispatch_row, bit for bit.
  const int32_t H = 512, T = 2, K = 2, E = 2;
  std::vector<uint16_t> x(T * H);
  for (int64_t i = 0; i < T * H; ++i) x[i] = bf16_from_f32(std::ldexp(static_cast<float>(i % 13) - 6.0f, static_cast<int>(i % 41) - 30));
  x[3] = 0x7fc0;                              // NaN in block 0
  x[130] = 0x7f80;                            // +Inf in block 1
  x[260] = 0xff80;                            // -Inf in block 2
  x[400] = bf16_from_f32(1.0e6f);             // far past 448 in block 3
  for (int c = 0; c < 128; ++c) x[H + c] = 0;  // an all-zero block
  std::vector<int32_t> idx = {0, 1, 1, -1}, ntr(1), nte(E), itr(T), count(E), src(E * T * 3);
  for (dsb_dtype sd : {DSB_DTYPE_F32, DSB_DTYPE_UE8M0}) {
    const int64_t sbytes = sd == DSB_DTYPE_UE8M0 ? H / 128 : H / 128 * 4;
    std::vector<uint8_t> recv(E * T * H, 0x5a), scales(E * T * sbytes, 0x5a);
    dsb_moe_dispatch_params p{};
    p.num_tokens = T;
    p.hidden = H;
    p.num_experts = E;
    p.topk = K;
    p.world_size = 1;
    p.recv_dtype = DSB_DTYPE_E4M3FN;
    p.scale_dtype = sd;
    p.layout = DSB_MOE_LAYOUT_MASKED;
    p.recv_capacity = T;
    p.x = x.data();
    p.topk_idx = idx.data();
    p.num_tokens_per_rank = ntr.data();
    p.num_tokens_per_expert = nte.data();
    p.is_token_in_rank = itr.data();
    p.recv_x = recv.data();
    p.recv_scale = scales.data();
    p.recv_count = count.data();
    p.recv_src = src.data();
    std::vector<uint8_t> ws(gpu::moe_dispatch_gpu_workspace(p) + 16);
    EmuLauncher l;
    ASSERT_TRUE(gpu::moe::dispatch_sequence(p, ws.data(), l).ok());
    EXPECT_EQ(count, (std::vector<int32_t>{1, 2}));
    int rows = 0;
    for (int64_t e = 0; e < E; ++e)
      for (int64_t k = 0; k < count[e]; ++k, ++rows) {
        const int64_t row = e * T + k;
        const int32_t t = src[row * 3 + 1];
        std::vector<uint8_t> want(H), want_s(sbytes);
        ref::moe_dispatch_row(x.data() + t * H, H, p.recv_dtype, sd, want.data(), want_s.data());
        EXPECT_EQ(std::vector<uint8_t>(recv.begin() + row * H, recv.begin() + (row + 1) * H), want) << "row " << row;
        EXPECT_EQ(std::vector<uint8_t>(scales.begin() + row * sbytes, scales.begin() + (row + 1) * sbytes), want_s) << "row " << row;
      }
    EXPECT_EQ(rows, 3);
  }
}

// Every dispatch and combine case of the multi-rank suite on `world` emulated ranks; returns the
// cases run.
int run_expert_parallel(dsb_op op, int world) {
  const Suite suite = load_suite(std::string(DSB_TEST_DATA_DIR) + "/comm/moe_suite.json");
  int ran = 0;
  for (const CaseSpec& spec : suite.cases) {
    if (spec.op != dsb_op_name(op)) continue;
    emu_test::run_ranks(world, [&](const RankContext& ctx) {
      const PaperCudaDevice dev;
      const std::string what = spec.id + " rank " + std::to_string(ctx.rank) + " of " + std::to_string(world);
      EmuLauncher l;
      if (op == DSB_OP_MOE_DISPATCH) {
        const gpu::MoeDispatchGpuKernel kernel("cuda");
        const auto c = emu_test::prepare_case<dsb_moe_dispatch_params>(op, spec.params, 31, 0x5a, ctx);
        ASSERT_TRUE(static_cast<const Kernel&>(kernel).supports(&c.params, dev).ok) << what;
        std::vector<uint8_t> ws(gpu::moe_dispatch_gpu_workspace(c.params) + 16);
        const Status st = gpu::moe::dispatch_sequence(c.params, ws.data(), l);
        ASSERT_TRUE(st.ok()) << what << ": " << st.message;
        emu_test::expect_case_passes(c, what);
      } else {
        const gpu::MoeCombineGpuKernel kernel("cuda");
        const auto c = emu_test::prepare_case<dsb_moe_combine_params>(op, spec.params, 31, 0x5a, ctx);
        ASSERT_TRUE(static_cast<const Kernel&>(kernel).supports(&c.params, dev).ok) << what;
        std::vector<uint8_t> ws(gpu::moe_combine_gpu_workspace(c.params) + 16);
        const Status st = gpu::moe::combine_sequence(c.params, ws.data(), l);
        ASSERT_TRUE(st.ok()) << what << ": " << st.message;
        emu_test::expect_case_passes(c, what);
      }
      // Three exchanges (counts, room, records) and two host waits, on every rank, tokens or not.
      EXPECT_EQ(l.exchanges, 3) << what;
      EXPECT_EQ(l.waits, 2) << what;
    });
    ++ran;
  }
  return ran;
}

TEST(MoeGpuEmulatedExpertParallel, DispatchOverTwoAndFourRanksPassesTheExactCheckOnEveryRank) {
  EXPECT_GE(run_expert_parallel(DSB_OP_MOE_DISPATCH, 2), 3) << "FP8 contiguous, BF16 masked skewed, an empty rank";
  EXPECT_GE(run_expert_parallel(DSB_OP_MOE_DISPATCH, 4), 3);
}

TEST(MoeGpuEmulatedExpertParallel, CombineOverTwoAndFourRanksPassesOnEveryRank) {
  EXPECT_GE(run_expert_parallel(DSB_OP_MOE_COMBINE, 2), 3);
  EXPECT_GE(run_expert_parallel(DSB_OP_MOE_COMBINE, 4), 3);
}

TEST(MoeGpuEmulatedExpertParallel, ARankWithoutRoomFailsEveryRankWithTheReasonAndNoneHangs) {
  const Suite suite = load_suite(std::string(DSB_TEST_DATA_DIR) + "/comm/moe_suite.json");
  const CaseSpec& spec = suite.cases.front();  // FP8, contiguous
  ASSERT_EQ(spec.op, "moe_dispatch");
  emu_test::run_ranks(2, [&](const RankContext& ctx) {
    auto c = emu_test::prepare_case<dsb_moe_dispatch_params>(DSB_OP_MOE_DISPATCH, spec.params, 31, 0x5a, ctx);
    if (ctx.rank == 1) c.params.recv_capacity = 2;  // far fewer rows than rank 1 is sent
    std::vector<uint8_t> ws(gpu::moe_dispatch_gpu_workspace(c.params) + 16);
    EmuLauncher l;
    const Status st = gpu::moe::dispatch_sequence(c.params, ws.data(), l);
    EXPECT_EQ(st.code, DSB_STATUS_INVALID_ARGUMENT) << st.message;
    EXPECT_NE(st.message.find("rank 1 has no room for the rows it is sent"), std::string::npos) << st.message;
    if (ctx.rank == 1) {
      EXPECT_NE(st.message.find("room for 2"), std::string::npos) << st.message;
    }
    EXPECT_EQ(l.exchanges, 2) << "the records exchange is skipped on every rank";
  });
}

TEST(MoeGpuKernels, RefuseAWorldWithoutCommunicatorAndTheOtherFp8FamilyWithTheReason) {
  const PaperCudaDevice dev;
  const gpu::MoeDispatchGpuKernel dispatch_kernel("cuda");
  const Kernel& dispatch = dispatch_kernel;
  dsb_moe_dispatch_params p{};
  p.world_size = 2;
  p.num_experts = 16;
  p.hidden = 256;
  p.scale_dtype = DSB_DTYPE_F32;
  p.recv_dtype = DSB_DTYPE_BF16;
  EXPECT_NE(dispatch.supports(&p, dev).reason.find("without a communicator"), std::string::npos);
  p.world_size = 1;
  p.num_experts = 16;
  EXPECT_TRUE(dispatch.supports(&p, dev).ok);
  p.recv_dtype = DSB_DTYPE_E4M3FNUZ;
  EXPECT_NE(dispatch.supports(&p, dev).reason.find("OCP FP8"), std::string::npos);
  p.recv_dtype = DSB_DTYPE_E4M3FN;
  p.hidden = 200;
  EXPECT_NE(dispatch.supports(&p, dev).reason.find("hidden % 128"), std::string::npos);
}

}  // namespace
}  // namespace dsbench
