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
#include "tests/cuda/emu/simt_emulator.hpp"
#include "kernels/cuda/mla_decode_splitkv_kernel.cuh"
#include "kernels/gpu/mla_decode_naive_kernel.cuh"

namespace dsbench {
namespace {

struct Case {
  std::unique_ptr<Problem> problem;
  TensorMap tensors;  // inputs and (poisoned) outputs
  dsb_mla_decode_params params{};
};

Case prepare(const nlohmann::json& json_params, uint64_t seed) {
  Case c;
  c.problem = find_driver(DSB_OP_MLA_DECODE)->make(json_params);
  for (const TensorSpec& s : c.problem->inputs()) c.tensors.emplace(s.name, HostTensor(s));
  c.problem->generate(seed, c.tensors);
  std::map<std::string, void*> ptrs;
  for (const TensorSpec& s : c.problem->outputs()) {
    HostTensor t(s);
    std::memset(t.data.data(), 0xff, t.data.size());  // poisoned, as the runner does
    c.tensors.emplace(s.name, std::move(t));
  }
  for (auto& [name, t] : c.tensors) ptrs[name] = t.data.data();
  const std::vector<uint8_t> bytes = c.problem->params(ptrs);
  std::memcpy(&c.params, bytes.data(), sizeof c.params);
  return c;
}

// The harness's own verdict on the kernel's outputs.
void expect_passes(const Case& c, const std::string& what) {
  VerifyPolicy full;
  full.force_full = true;
  TensorMap inputs;
  for (const TensorSpec& s : c.problem->inputs()) inputs.emplace(s.name, c.tensors.at(s.name));
  const auto tol = find_driver(DSB_OP_MLA_DECODE)->default_tolerances();
  for (const OutputCheck& check : c.problem->reference(inputs, full, 7)) {
    const OutputAccuracy a = compare_output(check, tol.at(check.output), c.tensors.at(check.output));
    EXPECT_TRUE(a.passed) << what << " " << check.output << ": " << a.mismatches << " mismatches, "
                          << a.nonfinite_mismatches << " non-finite, cos_diff " << a.cos_diff << ", worst "
                          << a.worst_expected << " vs " << a.worst_actual;
  }
}

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
