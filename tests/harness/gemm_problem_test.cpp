// The GEMM problem: param validation messages, tensor shapes, generated inputs (deterministic,
// never zero, scales differing per block), m_indices / masked_m layout, and the sampled check.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "dsbench/numerics/bf16.hpp"
#include "dsbench/numerics/fp8.hpp"

#include "harness/error.hpp"
#include "harness/metrics.hpp"
#include "harness/op_registry.hpp"
#include "harness/ops/gemm_fp8_probe.hpp"

namespace dsbench {
namespace {

std::string make_error(dsb_op op, const nlohmann::json& params) {
  try {
    find_driver(op)->make(params);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TensorMap generate(const Problem& p, uint64_t seed) {
  TensorMap t;
  for (const TensorSpec& s : p.inputs()) t.emplace(s.name, HostTensor(s));
  p.generate(seed, t);
  return t;
}

TEST(GemmDrivers, NameTheOffendingFieldOfImpossibleShapes) {
  const dsb_op dense = DSB_OP_GEMM_FP8_BLOCKSCALED;
  EXPECT_EQ(make_error(dense, {{"m", 4}, {"n", 64}, {"k", 100}}), "params.k: 100 is not a multiple of 128");
  EXPECT_EQ(make_error(dense, {{"m", -1}, {"n", 64}, {"k", 128}}), "params.m: -1 is negative");
  EXPECT_EQ(make_error(dense, {{"n", 64}, {"k", 128}}), "params.m: missing");
  EXPECT_EQ(make_error(dense, {{"m", 1}, {"n", 64}, {"k", 128}, {"kk", 1}}), "params.kk: unknown parameter");
  EXPECT_EQ(make_error(dense, {{"m", 1}, {"n", 64}, {"k", 128}, {"ab_dtype", "bf16"}}), "params.ab_dtype: bf16 is not an FP8 type");
  EXPECT_EQ(make_error(dense, {{"m", 1.5}, {"n", 64}, {"k", 128}}), "params.m: expected an integer, got 1.5");
  // 2^63 and 2^64 - 1 are unsigned in JSON: shown as written, never wrapped to a negative number.
  EXPECT_EQ(make_error(dense, {{"m", 9223372036854775808ull}, {"n", 64}, {"k", 128}}).rfind("params.m: 9223372036854775808 exceeds the maximum", 0), 0u)
      << make_error(dense, {{"m", 9223372036854775808ull}, {"n", 64}, {"k", 128}});
  EXPECT_EQ(make_error(dense, {{"m", 1}, {"n", 18446744073709551615ull}, {"k", 128}}).rfind("params.n: 18446744073709551615 exceeds", 0), 0u);
  EXPECT_EQ(make_error(DSB_OP_GEMM_FP8_GROUPED_MASKED,
                       {{"num_groups", 2}, {"m_max", 64}, {"masked_m", {10, 65}}, {"n", 64}, {"k", 128}}),
            "params.masked_m[1]: 65 exceeds m_max 64");
  EXPECT_EQ(make_error(DSB_OP_GEMM_FP8_GROUPED_CONTIGUOUS,
                       {{"num_groups", 3}, {"m_per_group", {1, 2}}, {"n", 64}, {"k", 128}}),
            "params.m_per_group: has 2 entries, expected num_groups = 3");
}

TEST(GemmProblem, PadsContiguousGroupsTo128RowsWithMinusOneIndices) {
  auto p = find_driver(DSB_OP_GEMM_FP8_GROUPED_CONTIGUOUS)
               ->make({{"num_groups", 3}, {"m_per_group", {100, 0, 130}}, {"n", 64}, {"k", 256}});
  const TensorMap t = generate(*p, 1);
  const auto& mi = t.at("m_indices");
  ASSERT_EQ(mi.spec.shape, (std::vector<int64_t>{128 + 0 + 256}));
  const int32_t* v = mi.as<int32_t>();
  EXPECT_EQ(v[0], 0);
  EXPECT_EQ(v[99], 0);
  EXPECT_EQ(v[100], -1);
  EXPECT_EQ(v[127], -1);
  EXPECT_EQ(v[128], 2);
  EXPECT_EQ(v[257], 2);
  EXPECT_EQ(v[258], -1);
  EXPECT_DOUBLE_EQ(p->flops(), 2.0 * 230 * 64 * 256);  // valid rows only
}

TEST(GemmProblem, GeneratesIdenticalInputsForASeedAndDifferentOnesOtherwise) {
  auto p = find_driver(DSB_OP_GEMM_FP8_BLOCKSCALED)->make({{"m", 130}, {"n", 200}, {"k", 384}});
  const TensorMap a = generate(*p, 5), b = generate(*p, 5), c = generate(*p, 6);
  for (const char* name : {"a", "scale_a", "b", "scale_b"}) {
    EXPECT_EQ(a.at(name).data, b.at(name).data) << name;
    EXPECT_NE(a.at(name).data, c.at(name).data) << name;
  }
}

TEST(GemmProblem, GeneratesNonZeroValuesWithScalesThatDifferPerBlock) {
  auto p = find_driver(DSB_OP_GEMM_FP8_BLOCKSCALED)->make({{"m", 256}, {"n", 256}, {"k", 512}});
  const TensorMap t = generate(*p, 3);
  int64_t zeros = 0;
  for (uint8_t q : t.at("a").data) zeros += (q & 0x7f) == 0;
  EXPECT_LT(zeros, static_cast<int64_t>(t.at("a").data.size() / 50));  // a few % round to zero at most
  std::set<float> sa(t.at("scale_a").as<float>(), t.at("scale_a").as<float>() + 256 * 4);
  std::set<float> sb(t.at("scale_b").as<float>(), t.at("scale_b").as<float>() + 2 * 4);
  EXPECT_GT(sa.size(), 500u);
  EXPECT_EQ(sb.size(), 8u);
}

TEST(GemmProblem, SamplesLargeChecksAndCoversEveryGroup) {
  auto p = find_driver(DSB_OP_GEMM_FP8_GROUPED_MASKED)
               ->make({{"num_groups", 4}, {"m_max", 256}, {"masked_m", {200, 0, 31, 256}}, {"n", 512}, {"k", 256}});
  const TensorMap t = generate(*p, 11);
  VerifyPolicy small;
  small.full_max_macs = 1e6;
  small.sample_rows = 4;
  small.sample_cols = 3;
  const auto checks = p->reference(t, small, 99);
  ASSERT_EQ(checks.size(), 1u);
  const OutputCheck& c = checks[0];
  EXPECT_TRUE(c.sampled);
  EXPECT_EQ(c.total, (200 + 31 + 256) * 512);
  std::set<int64_t> groups;
  for (int64_t i : c.index) {
    const int64_t row = i / 512, g = row / 256, r = row % 256;
    ASSERT_LT(r, t.at("masked_m").as<int32_t>()[g]) << "checked a masked-off row";
    groups.insert(g);
  }
  EXPECT_EQ(groups, (std::set<int64_t>{0, 2, 3}));
  EXPECT_LT(c.index.size(), static_cast<size_t>(c.total));
  VerifyPolicy full;
  EXPECT_EQ(p->reference(t, full, 99)[0].index.size(), static_cast<size_t>(c.total));
}

TEST(GemmProblem, ValidateRejectsOutOfRangeIndicesFromFiles) {
  auto p = find_driver(DSB_OP_GEMM_FP8_GROUPED_CONTIGUOUS)->make({{"num_groups", 2}, {"m_per_group", 128}, {"n", 64}, {"k", 128}});
  TensorMap t = generate(*p, 1);
  t.at("m_indices").as<int32_t>()[7] = 2;
  try {
    p->validate(t);
    FAIL();
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "m_indices[7]: 2 is out of range [-1, 2)");
  }
}

// A simulated dense kernel over the probe's inputs: FP32 products summed per 128-deep K-block,
// then either promoted with the scales into an FP32 accumulator (DeepGEMM's scheme) or, without
// promotion, added one product at a time to an accumulator rounded to `bits` significant bits
// (a model of Hopper's FP8 tensor-core accumulator, ~14 bits).
HostTensor simulated_probe_kernel(const Problem& p, const TensorMap& t, int64_t m, int64_t n, int64_t k, int bits) {
  HostTensor d(p.outputs()[0]);
  const uint8_t* a = t.at("a").as<uint8_t>();
  const uint8_t* b = t.at("b").as<uint8_t>();
  const float* sa = t.at("scale_a").as<float>();
  const float* sb = t.at("scale_b").as<float>();
  const int64_t kb = k / 128;
  auto narrow = [bits](double x) {
    if (x == 0) return x;
    int e;
    std::frexp(x, &e);
    return std::ldexp(std::nearbyint(std::ldexp(x, bits - e)), e - bits);
  };
  for (int64_t r = 0; r < m; ++r)
    for (int64_t c = 0; c < n; ++c) {
      float acc = 0.0f;
      double acc_narrow = 0.0;
      for (int64_t j = 0; j < kb; ++j) {
        const float s = sa[r * kb + j] * sb[(c / 128) * kb + j];
        float block = 0.0f;
        for (int64_t i = j * 128; i < (j + 1) * 128; ++i) {
          const float prod = fp8_decode(a[r * k + i], DSB_DTYPE_E4M3FN) * fp8_decode(b[c * k + i], DSB_DTYPE_E4M3FN);
          block += prod;
          acc_narrow = narrow(acc_narrow + static_cast<double>(prod) * s);
        }
        acc += block * s;
      }
      d.as<uint16_t>()[r * n + c] = bf16_from_f32(bits >= 24 ? acc : static_cast<float>(acc_narrow));
    }
  return d;
}

TEST(GemmAccumulationProbe, PassesPromotedFp32AccumulationAndInfersTheBitsOfANarrowOne) {
  const int64_t m = 30, n = 64, k = 4096;
  auto p = find_driver(DSB_OP_GEMM_FP8_BLOCKSCALED)->make({{"m", m}, {"n", n}, {"k", k}, {"inputs", "accumulation_probe"}});
  const TensorMap t = generate(*p, 5);
  // Row r: block 0 holds one code 224 scaled 2^(8 + r % 15 - 15) against middle blocks scaled 2^-8;
  // the last block cancels block 0 exactly.
  const float* sa = t.at("scale_a").as<float>();
  EXPECT_EQ(sa[0] / sa[1], 2.0f);
  EXPECT_EQ(sa[3 * 32] / sa[3 * 32 + 1], 16.0f);
  EXPECT_EQ(sa[31], sa[0]);
  const uint8_t* a = t.at("a").as<uint8_t>();
  int big = 0;
  for (int i = 0; i < 128; ++i) {
    EXPECT_EQ(fp8_decode(a[31 * 128 + i], DSB_DTYPE_E4M3FN), -fp8_decode(a[i], DSB_DTYPE_E4M3FN));
    big += fp8_decode(a[i], DSB_DTYPE_E4M3FN) == 224.0f;
  }
  EXPECT_EQ(big, 1);
  for (int64_t i = 0; i < m * k; ++i) ASSERT_NE(fp8_decode(a[i], DSB_DTYPE_E4M3FN), 0.0f) << "never zeros";

  VerifyPolicy policy;
  policy.full_max_macs = 0;  // the probe is checked in full whatever the policy
  const auto checks = p->reference(t, policy, 1);
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_FALSE(checks[0].sampled);
  ASSERT_TRUE(checks[0].custom);
  const Tolerance tol = find_driver(DSB_OP_GEMM_FP8_BLOCKSCALED)->default_tolerances().at("d");

  const OutputAccuracy fp32 = compare_output(checks[0], tol, simulated_probe_kernel(*p, t, m, n, k, 24));
  EXPECT_TRUE(fp32.passed) << fp32.max_rel_err;
  EXPECT_EQ(fp32.findings.at("effective_accumulation_bits"), kProbeMaxBits);
  EXPECT_EQ(fp32.findings.at("probe_rows_kept"), m);

  const OutputAccuracy hopper = compare_output(checks[0], tol, simulated_probe_kernel(*p, t, m, n, k, 14));
  EXPECT_FALSE(hopper.passed) << "a never-promoted 14-bit accumulator must fail the probe";
  EXPECT_GE(hopper.findings.at("effective_accumulation_bits"), 13);
  EXPECT_LE(hopper.findings.at("effective_accumulation_bits"), 15);

  const OutputAccuracy ten = compare_output(checks[0], tol, simulated_probe_kernel(*p, t, m, n, k, 10));
  EXPECT_FALSE(ten.passed);
  EXPECT_LT(ten.findings.at("effective_accumulation_bits"), hopper.findings.at("effective_accumulation_bits"));
}

TEST(GemmAccumulationProbe, RefusesShapesItCannotProbe) {
  const dsb_op dense = DSB_OP_GEMM_FP8_BLOCKSCALED;
  EXPECT_EQ(make_error(dense, {{"m", 4}, {"n", 64}, {"k", 384}, {"inputs", "accumulation_probe"}}),
            "params.k: the accumulation probe needs at least 4 K-blocks (k >= 512), got 384");
  EXPECT_EQ(make_error(dense, {{"m", 4}, {"n", 64}, {"k", 512}, {"inputs", "zeros"}}),
            "params.inputs: \"zeros\" is not \"random\" or \"accumulation_probe\"");
  EXPECT_NE(make_error(dense, {{"m", 2048}, {"n", 1024}, {"k", 512}, {"inputs", "accumulation_probe"}}).find("exceeds 2^20"),
            std::string::npos);
}

}  // namespace
}  // namespace dsbench
