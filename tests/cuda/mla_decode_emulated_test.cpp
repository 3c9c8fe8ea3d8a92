// The CUDA MLA decode kernels' own device code, run on the CPU by the SIMT emulator (tests/cuda/emu)
// on the smoke suite's MLA cases as the harness generates them (random q and cache, NaN in every
// slot past a length, pages in random order, unused table entries invalid) and checked against the
// FP64 reference with the op's tolerances. This is the closest a GPU-less machine gets to running
// the kernels: the indexing, masking, online softmax, splits and combine are the real code; the
// mma.sync and shuffle semantics are the emulator's model of them.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "harness/metrics.hpp"
#include "harness/op_registry.hpp"
#include "harness/suite.hpp"
#include "kernels/cuda/mla_decode_splitkv.hpp"
#include "kernels/gpu/mla_decode_gpu_support.hpp"

// The emulator defines the CUDA vocabulary; the kernel headers come after it.
#include "tests/cuda/emu/harness_case.hpp"
#include "tests/cuda/emu/simt_emulator.hpp"
#include "kernels/cuda/mla_decode_splitkv_kernel.cuh"
#include "kernels/gpu/mla_decode_naive_kernel.cuh"

namespace dsbench {
namespace {

using Case = emu_test::HarnessCase<dsb_mla_decode_params>;

Case prepare(const nlohmann::json& json_params, uint64_t seed) {
  return emu_test::prepare_case<dsb_mla_decode_params>(DSB_OP_MLA_DECODE, json_params, seed, 0xff);  // as the runner
}

void expect_passes(const Case& c, const std::string& what) { emu_test::expect_case_passes(c, what); }

void run_splitkv(Case& c, int sm_count) {
  const cuda::MlaSplitPlan plan = cuda::mla_splitkv_plan(c.params, sm_count);
  std::vector<float> ws(plan.workspace_bytes / sizeof(float), std::nanf(""));
  const cuda::splitkv::Args a = cuda::splitkv::make_args(c.params, plan, ws.data());
  const unsigned blocks = static_cast<unsigned>(int64_t{c.params.b} * c.params.h_kv * plan.row_tiles);
  emu::launch({blocks, static_cast<unsigned>(plan.num_splits), 1}, cuda::splitkv::kThreads, sizeof(cuda::splitkv::Smem),
              [&] { cuda::splitkv::mla_splitkv_kernel(a); });
  const unsigned rows = static_cast<unsigned>(int64_t{c.params.b} * c.params.s_q * c.params.h_q);
  emu::launch({rows, 1, 1}, cuda::splitkv::kThreads, 0, [&] { cuda::splitkv::mla_splitkv_combine(a); });
}

void run_naive(Case& c) {
  const auto a = gpu::mla_naive::make_args(c.params);
  const auto lut = gpu::mla_naive::make_table();
  const unsigned rows = static_cast<unsigned>(int64_t{c.params.b} * c.params.s_q * c.params.h_q);
  emu::launch({rows, 1, 1}, gpu::mla_naive::kThreads, gpu::mla_naive::smem_bytes(c.params),
              [&] { gpu::mla_naive::mla_decode_naive_kernel(a, lut); });
}

std::vector<CaseSpec> smoke_mla_cases() {
  std::vector<CaseSpec> v;
  for (const CaseSpec& c : load_suite("smoke").cases)
    if (c.op == "mla_decode") v.push_back(c);
  return v;
}

TEST(MlaDecodeEmulated, SplitKvPassesEverySmokeCaseItTakesWithAndWithoutSplits) {
  int ran = 0;
  for (const CaseSpec& spec : smoke_mla_cases())
    for (int sms : {1, 8, 132}) {  // 1 SM: no split unless the batch is tiny; 132: as many pieces as pages allow
      Case c = prepare(spec.params, 11);
      if (!cuda::mla_splitkv_refusal(c.params).empty()) continue;
      SCOPED_TRACE(spec.id + " sm_count " + std::to_string(sms) + " splits " +
                   std::to_string(cuda::mla_splitkv_plan(c.params, sms).num_splits));
      run_splitkv(c, sms);
      expect_passes(c, spec.id);
      ++ran;
    }
  EXPECT_GE(ran, 12) << "the smoke suite's DeepSeek-shaped MLA cases";
}

TEST(MlaDecodeEmulated, NaivePassesEverySmokeCase) {
  const auto cases = smoke_mla_cases();
  ASSERT_GE(cases.size(), 5u);
  for (const CaseSpec& spec : cases) {
    Case c = prepare(spec.params, 12);
    ASSERT_TRUE(gpu::mla_decode_naive_supports(c.params).ok) << spec.id;
    run_naive(c);
    expect_passes(c, spec.id);
  }
}

TEST(MlaDecodeEmulated, ABadPageIndexPoisonsItsSequenceInsteadOfBeingFollowed) {
  Case c = prepare({{"b", 2}, {"s_q", 1}, {"h_q", 16}, {"seqlen", {130, 70}}}, 3);
  // Sequence 1's second page points past the cache: its rows must come out NaN, sequence 0's right.
  int32_t* table = c.tensors.at("block_table").as<int32_t>();
  table[1 * c.params.max_blocks_per_seq + 1] = c.params.num_blocks + 7;
  for (int kernel = 0; kernel < 2; ++kernel) {
    std::memset(c.tensors.at("out").data.data(), 0, c.tensors.at("out").data.size());
    kernel == 0 ? run_splitkv(c, 132) : run_naive(c);
    const uint16_t* out = c.tensors.at("out").as<uint16_t>();
    const float* lse = c.tensors.at("lse").as<float>();
    const int64_t row = 16 * 512;
    for (int64_t i = 0; i < row; ++i) ASSERT_TRUE(std::isfinite(bf16_to_f32(out[i]))) << kernel << " seq 0 at " << i;
    for (int64_t i = row; i < 2 * row; ++i) ASSERT_TRUE(std::isnan(bf16_to_f32(out[i]))) << kernel << " seq 1 at " << i;
    EXPECT_TRUE(std::isfinite(lse[0]));
    EXPECT_TRUE(std::isnan(lse[16]));
  }
}

}  // namespace
}  // namespace dsbench
