// The portable GPU MoE dispatch (permute + fused FP8 cast) and combine, their own device code run
// on the CPU by the SIMT emulator (tests/cuda/emu) on the MoE cases as the harness generates them,
// and checked by the ops' exact order-free checks; the same launch sequences the CUDA/HIP launchers
// run (moe_dispatch_gpu_kernel.cuh). One device on the smoke suite; expert parallelism over 2 and 4
// ranks (threads with the in-process communicator standing in for NCCL) on tests/comm/moe_suite.json.
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <vector>

#include "harness/metrics.hpp"
#include "harness/op_registry.hpp"
#include "harness/suite.hpp"
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
