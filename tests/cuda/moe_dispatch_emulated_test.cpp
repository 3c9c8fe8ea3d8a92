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

#include "tests/cuda/emu/simt_emulator.hpp"
#include "kernels/gpu/moe_dispatch_gpu_kernel.cuh"

namespace dsbench {
namespace {

// Enqueues into the emulator: memsets at once, kernels block after block.
struct EmuLauncher {
  Status fill(void* p, int byte, size_t n) {
    std::memset(p, byte, n);
    return Status::success();
  }
  template <class... K, class... A>
  Status launch(void (*kernel)(K...), unsigned grid, A... args) {
    emu::launch({grid, 1, 1}, gpu::moe::kThreads, 0, [&] { kernel(args...); });
    return Status::success();
  }
};

struct Case {
  std::unique_ptr<Problem> problem;
  TensorMap tensors;
  std::vector<uint8_t> params;
};

Case prepare(dsb_op op, const nlohmann::json& json, uint64_t seed) {
  Case c;
  c.problem = find_driver(op)->make_on(json, RankContext{0, 1, nullptr, 0});
  for (const TensorSpec& s : c.problem->inputs()) c.tensors.emplace(s.name, HostTensor(s));
  c.problem->generate(seed, c.tensors);
  for (const TensorSpec& s : c.problem->outputs()) {
    HostTensor t(s);
    std::memset(t.data.data(), 0x5a, t.data.size());  // not 0xff: that reads as -1, a valid padding value
    c.tensors.emplace(s.name, std::move(t));
  }
  std::map<std::string, void*> ptrs;
  for (auto& [name, t] : c.tensors) ptrs[name] = t.data.data();
  c.params = c.problem->params(ptrs);
  return c;
}

void expect_passes(const Case& c, dsb_op op, const std::string& what) {
  VerifyPolicy full;
  full.force_full = true;
  TensorMap inputs;
  for (const TensorSpec& s : c.problem->inputs()) inputs.emplace(s.name, c.tensors.at(s.name));
  const auto tol = find_driver(op)->default_tolerances();
  for (const OutputCheck& check : c.problem->reference(inputs, full, 3)) {
    const OutputAccuracy a = compare_output(check, tol.at(check.output), c.tensors.at(check.output));
    EXPECT_TRUE(a.passed) << what << " " << check.output << ": " << a.mismatches << " mismatches, worst "
                          << a.worst_expected << " vs " << a.worst_actual << " (" << a.rule << ")";
  }
}

int run_smoke(dsb_op op) {
  const PaperCudaDevice dev;
  const gpu::MoeDispatchGpuKernel dispatch_kernel("cuda");
  const gpu::MoeCombineGpuKernel combine_kernel("cuda");
  const Kernel& dispatch = dispatch_kernel;  // the public, type-erased interface
  const Kernel& combine = combine_kernel;
  int ran = 0;
  for (const CaseSpec& spec : load_suite("smoke").cases) {
    if (spec.op != dsb_op_name(op)) continue;
    Case c = prepare(op, spec.params, 21);
    EmuLauncher l;
    if (op == DSB_OP_MOE_DISPATCH) {
      dsb_moe_dispatch_params p;
      std::memcpy(&p, c.params.data(), sizeof p);
      if (!dispatch.supports(&p, dev).ok) continue;  // e.g. FP8 with hidden % 128 != 0, refused by design
      std::vector<uint8_t> ws(gpu::moe_dispatch_gpu_workspace(p) + 16);
      EXPECT_TRUE(gpu::moe::dispatch_sequence(p, ws.data(), l).ok());
    } else {
      dsb_moe_combine_params p;
      std::memcpy(&p, c.params.data(), sizeof p);
      if (!combine.supports(&p, dev).ok) continue;
      std::vector<uint8_t> ws(gpu::moe_combine_gpu_workspace(p) + 16);
      EXPECT_TRUE(gpu::moe::combine_sequence(p, ws.data(), l).ok());
    }
    expect_passes(c, op, spec.id);
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
