// The portable GPU MoE dispatch (permute + fused FP8 cast) and combine, their own device code run
// on the CPU by the SIMT emulator (tests/cuda/emu) on the smoke suite's MoE cases as the harness
// generates them, and checked by the ops' exact order-free checks; the same launch sequences the
// CUDA/HIP launchers run (moe_dispatch_gpu_kernel.cuh).
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

TEST(MoeGpuKernels, RefuseExpertParallelismAndTheOtherFp8FamilyWithTheReason) {
  const PaperCudaDevice dev;
  const gpu::MoeDispatchGpuKernel dispatch_kernel("cuda");
  const Kernel& dispatch = dispatch_kernel;
  dsb_moe_dispatch_params p{};
  p.world_size = 2;
  p.hidden = 256;
  p.scale_dtype = DSB_DTYPE_F32;
  p.recv_dtype = DSB_DTYPE_BF16;
  EXPECT_NE(dispatch.supports(&p, dev).reason.find("single-device"), std::string::npos);
  p.world_size = 1;
  p.recv_dtype = DSB_DTYPE_E4M3FNUZ;
  EXPECT_NE(dispatch.supports(&p, dev).reason.find("OCP FP8"), std::string::npos);
  p.recv_dtype = DSB_DTYPE_E4M3FN;
  p.hidden = 200;
  EXPECT_NE(dispatch.supports(&p, dev).reason.find("hidden % 128"), std::string::npos);
}

}  // namespace
}  // namespace dsbench
