// The GEMM problem: param validation messages, tensor shapes, generated inputs (deterministic,
// never zero, scales differing per block), m_indices / masked_m layout, and the sampled check.
#include <gtest/gtest.h>

#include <set>

#include "harness/error.hpp"
#include "harness/op_registry.hpp"

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

}  // namespace
}  // namespace dsbench
