// The all-to-all driver and problem on one rank, and the merging of ranks' rows: count patterns,
// bad params, bits that are never the poison and always finite, the exact check, nccl-tests metrics.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "harness/error.hpp"
#include "harness/metrics.hpp"
#include "harness/multi_rank.hpp"
#include "harness/op_registry.hpp"
#include "harness/ops/all_to_all_moe_counts.hpp"
#include "harness/ops/all_to_all_problem.hpp"

namespace dsbench {
namespace {

const OpDriver& driver() { return *find_driver(DSB_OP_ALL_TO_ALL); }

std::string error_of(const nlohmann::json& params, int world = 4) {
  try {
    driver().make_on(params, RankContext{0, world, nullptr, 0});
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(AllToAllDriver, IsMultiRankAndRefusesBadParamsPrecisely) {
  EXPECT_TRUE(driver().multi_rank());
  EXPECT_NE(error_of({{"bytes_per_rank", -1}}).find("params.bytes_per_rank: -1 is negative"), std::string::npos);
  EXPECT_NE(error_of({{"bytes_per_rank", 1024}, {"pattern", "skewed"}}).find("params.pattern: \"skewed\" is not one of"),
            std::string::npos);
  EXPECT_NE(error_of({{"bytes_per_rank", 1024}, {"dtype", "q4"}}).find("params.dtype: unknown dtype"), std::string::npos);
  EXPECT_NE(error_of({{"bytes_per_rank", 1024}, {"size", 3}}).find("params.size: unknown parameter"), std::string::npos);
  EXPECT_NE(error_of({{"pattern", "matrix"}, {"matrix", {{1, 2}, {3, 4}}}}).find("has 2 rows, but the run has 4 ranks"),
            std::string::npos);
  EXPECT_NE(error_of({{"pattern", "matrix"}, {"matrix", {{1, -2}, {3, 4}}}}, 2).find("params.matrix[0][1]"), std::string::npos);
  EXPECT_NE(error_of({{"pattern", "matrix"}}).find("exactly one of"), std::string::npos);
  EXPECT_NE(error_of({{"pattern", "matrix"}, {"matrix_file", "/nonexistent.json"}}).find("cannot be opened"), std::string::npos);
  EXPECT_NE(error_of({{"bytes_per_rank", 64}, {"pattern", "zero_peers"}, {"zero_fraction", 2}}).find("outside [0"),
            std::string::npos);
}

TEST(AllToAllDriver, PatternsGiveTheDocumentedCounts) {
  // equal: bytes / (element size * ranks) per pair, rounded down.
  auto p = driver().make_on({{"bytes_per_rank", 1000}}, RankContext{1, 4, nullptr, 0});
  EXPECT_EQ(p->inputs()[0].numel(), 4 * (1000 / 8));
  EXPECT_EQ(p->outputs()[0].numel(), 4 * (1000 / 8));
  // hot receivers: rank 0 receives 4x from everyone.
  auto hot = driver().make_on({{"bytes_per_rank", 1024}, {"pattern", "hot_receivers"}}, RankContext{0, 4, nullptr, 0});
  EXPECT_EQ(hot->outputs()[0].numel(), 4 * 4 * 128);
  // zero peers: rank r sends nothing to r+1, so rank 1 sends less than the equal count.
  auto zp = driver().make_on({{"bytes_per_rank", 1024}, {"pattern", "zero_peers"}, {"zero_fraction", 0.0}}, RankContext{1, 4, nullptr, 0});
  EXPECT_EQ(zp->inputs()[0].numel(), 3 * 128);
  EXPECT_DOUBLE_EQ(zp->traffic().local, 128 * 2);
  // an inline matrix is taken as [source][destination] element counts.
  auto m = driver().make_on({{"pattern", "matrix"}, {"matrix", {{0, 5}, {7, 1}}}}, RankContext{1, 2, nullptr, 0});
  EXPECT_EQ(m->inputs()[0].numel(), 8);
  EXPECT_EQ(m->outputs()[0].numel(), 6);
}

TEST(AllToAllDriver, ReadsTheCountMatrixFromAFileBareOrUnderCounts) {
  const std::string dir = ::testing::TempDir();
  const std::string bare = dir + "/dsb_a2a_matrix_bare.json", wrapped = dir + "/dsb_a2a_matrix_wrapped.json";
  std::ofstream(bare) << "[[0, 5, 2], [7, 1, 0], [3, 0, 4]]";
  std::ofstream(wrapped) << R"({"note": "a skewed 3-rank exchange", "counts": [[0, 5, 2], [7, 1, 0], [3, 0, 4]]})";
  for (const std::string& path : {bare, wrapped}) {
    // Rank 2 sends row 2 (3 + 0 + 4) and receives column 2 (2 + 0 + 4).
    auto p = driver().make_on({{"pattern", "matrix"}, {"matrix_file", path}, {"dtype", "f32"}}, RankContext{2, 3, nullptr, 0});
    EXPECT_EQ(p->inputs()[0].numel(), 7) << path;
    EXPECT_EQ(p->outputs()[0].numel(), 6) << path;
    EXPECT_DOUBLE_EQ(p->traffic().local, 4 * 4) << path;
  }
  // Tied to its world size, like an inline matrix.
  EXPECT_NE(error_of({{"pattern", "matrix"}, {"matrix_file", bare}}, 4).find("has 3 rows, but the run has 4 ranks"),
            std::string::npos);
  std::ofstream(bare) << "[[0, 5,";  // truncated
  EXPECT_NE(error_of({{"pattern", "matrix"}, {"matrix_file", bare}}, 3).find("not valid JSON"), std::string::npos);
  std::ofstream(bare) << "[[0, PRIVATE_BYTES]]";  // the error says where, never what the file holds
  const std::string m = error_of({{"pattern", "matrix"}, {"matrix_file", bare}}, 3);
  EXPECT_NE(m.find("not valid JSON at byte"), std::string::npos) << m;
  EXPECT_EQ(m.find("PRIVATE_BYTES"), std::string::npos) << m;
}

TEST(AllToAllMoeRouting, SendsEveryTokenOncePerRankHoldingOneOfItsExperts) {
  const int64_t t = 256;
  for (int world : {1, 2, 4, 8}) {
    const auto tokens = moe_dispatch_token_counts(nlohmann::json::object(), t, world, 9);  // DeepSeek-V3's gate
    ASSERT_EQ(tokens.size(), static_cast<size_t>(world));
    for (int src = 0; src < world; ++src) {
      int64_t sent = 0;
      for (int dst = 0; dst < world; ++dst) {
        EXPECT_GE(tokens[src][dst], 0);
        EXPECT_LE(tokens[src][dst], t);
        sent += tokens[src][dst];
      }
      // Each token goes to 1 .. min(topk, world) ranks; with 8 experts over 4 groups, more than one when world > 1.
      EXPECT_GE(sent, t);
      EXPECT_LE(sent, t * std::min(8, world));
      if (world >= 4) {
        EXPECT_GT(sent, t);
      }
    }
    if (world == 1) {
      EXPECT_EQ(tokens[0][0], t);
    }
  }
  EXPECT_EQ(moe_dispatch_token_counts(nlohmann::json::object(), 64, 4, 3), moe_dispatch_token_counts(nlohmann::json::object(), 64, 4, 3));
  EXPECT_NE(moe_dispatch_token_counts(nlohmann::json::object(), 64, 4, 3), moe_dispatch_token_counts(nlohmann::json::object(), 64, 4, 4));
  // Hot experts (Zipf) concentrate the traffic on the ranks that hold them.
  auto spread = [](const std::vector<std::vector<int64_t>>& m) {
    int64_t lo = INT64_MAX, hi = 0;
    for (size_t dst = 0; dst < m.size(); ++dst) {
      int64_t in = 0;
      for (const auto& row : m) in += row[dst];
      lo = std::min(lo, in);
      hi = std::max(hi, in);
    }
    return static_cast<double>(hi) / static_cast<double>(std::max<int64_t>(lo, 1));
  };
  const double skewed = spread(moe_dispatch_token_counts({{"distribution", "skewed"}, {"zipf_s", 2.0}}, 512, 8, 1));
  const double balanced = spread(moe_dispatch_token_counts({{"distribution", "balanced"}}, 512, 8, 1));
  EXPECT_GT(skewed, balanced);
}

TEST(AllToAllMoeRouting, CountsElementsOfHiddenAndNamesBadRoutingParams) {
  auto p = driver().make_on({{"pattern", "moe_routing"}, {"tokens_per_rank", 32}, {"hidden", 256}}, RankContext{0, 1, nullptr, 0});
  EXPECT_EQ(p->inputs()[0].numel(), 32 * 256);  // one rank: every token stays, once
  EXPECT_NE(error_of({{"pattern", "moe_routing"}, {"tokens_per_rank", 8}, {"routing", {{"topk", 200}}}})
                .find("params.routing: params.topk: 200 exceeds"),
            std::string::npos)
      << error_of({{"pattern", "moe_routing"}, {"tokens_per_rank", 8}, {"routing", {{"topk", 200}}}});
  EXPECT_NE(error_of({{"pattern", "moe_routing"}, {"tokens_per_rank", 8}, {"routing", {{"num_tokens", 3}}}})
                .find("set tokens_per_rank instead"),
            std::string::npos);
  EXPECT_NE(error_of({{"pattern", "moe_routing"}}).find("params.tokens_per_rank: missing"), std::string::npos);
}

TEST(AllToAllProblem, ElementBitsAreNeverThePoisonAndAlwaysFinite) {
  for (dsb_dtype t : {DSB_DTYPE_BF16, DSB_DTYPE_F32, DSB_DTYPE_E4M3FN, DSB_DTYPE_E5M2, DSB_DTYPE_E4M3FNUZ,
                      DSB_DTYPE_E5M2FNUZ, DSB_DTYPE_I32}) {
    const size_t es = dsb_dtype_size(t);
    const uint64_t poison = es == 8 ? ~uint64_t{0} : (uint64_t{1} << (8 * es)) - 1;
    for (int64_t i = 0; i < 20000; ++i) {
      const uint64_t v = all_to_all_element_bits(3, 1, 2, i, t);
      ASSERT_NE(v, poison) << dsb_dtype_name(t) << " " << i;
      uint8_t buf[8] = {};
      std::memcpy(buf, &v, es);
      ASSERT_TRUE(std::isfinite(element_as_double(buf, t, 0))) << dsb_dtype_name(t) << " " << i;
    }
    int differ = 0;
    for (int64_t i = 0; i < 64; ++i) differ += all_to_all_element_bits(3, 1, 2, i, t) != all_to_all_element_bits(3, 2, 1, i, t);
    EXPECT_GT(differ, 32) << "source and destination must both enter the hash";
  }
}

TEST(AllToAllProblem, TheCheckIsExactAndNamesTheFirstWrongElement) {
  // A world of one: what rank 0 sends to itself is what it must receive.
  auto p = driver().make_on({{"bytes_per_rank", 512}}, RankContext{0, 1, nullptr, 0});
  TensorMap in;
  in.emplace("send", HostTensor(p->inputs()[0]));
  p->generate(42, in);
  const auto checks = p->reference(in, VerifyPolicy{}, 0);
  ASSERT_EQ(checks.size(), 1u);
  HostTensor out(p->outputs()[0]);
  out.data = in.at("send").data;
  OutputAccuracy ok = compare_output(checks[0], Tolerance{}, out);
  EXPECT_TRUE(ok.passed);
  EXPECT_EQ(ok.checked, 256);
  out.data[2 * 17] ^= 1;  // element 17, low byte
  const OutputAccuracy bad = compare_output(checks[0], Tolerance{}, out);
  EXPECT_FALSE(bad.passed);
  EXPECT_EQ(bad.mismatches, 1);
  EXPECT_NE(bad.rule.find("first wrong: element 17 of the block from rank 0"), std::string::npos) << bad.rule;
}

ResultRow rank_row(int rank, const std::string& disposition, std::vector<double> ms, int64_t wrong) {
  ResultRow r;
  r.case_id = "all_to_all/x";
  r.op = "all_to_all";
  r.kernel = "cpu.all_to_all.library";
  r.backend = "cpu";
  r.device = 0;
  r.disposition = disposition;
  OutputAccuracy a;
  a.output = "recv";
  a.total = a.checked = 100;
  a.mismatches = wrong;
  a.passed = wrong == 0;
  r.accuracy.push_back(a);
  if (!ms.empty()) {
    TimingStats t;
    t.raw_ms = std::move(ms);
    summarize(&t);
    r.timing = t;
  }
  (void)rank;
  return r;
}

TEST(MergeRankRows, TimeIsTheSlowestRanksMedianAndBandwidthsFollowNcclTests) {
  std::vector<nlohmann::json> extras(2);
  for (auto& e : extras) e = {{"host", "h"}, {"send_bytes", 1000.0}, {"recv_bytes", 1000.0}, {"local_bytes", 500.0}};
  const ResultRow m = merge_rank_rows({rank_row(0, "passed", {1, 1, 1}, 0), rank_row(1, "passed", {2, 3, 2}, 0)}, extras);
  EXPECT_EQ(m.disposition, "passed");
  EXPECT_EQ(m.collective["slowest_rank"], 1);
  EXPECT_DOUBLE_EQ(m.collective["time_ms"].get<double>(), 2.0);
  EXPECT_DOUBLE_EQ(m.collective["algbw_gbps"].get<double>(), 1000.0 / 2e-3 / 1e9);
  EXPECT_DOUBLE_EQ(m.collective["busbw_gbps"].get<double>(), 500.0 / 2e-3 / 1e9);  // (n-1)/n of it crossed
  EXPECT_DOUBLE_EQ(m.collective["iteration_p50_ms"].get<double>(), 2.0);  // per iteration: max over ranks
  EXPECT_EQ(m.accuracy[0].checked, 200);
  ASSERT_TRUE(m.timing.has_value());
  EXPECT_DOUBLE_EQ(m.timing->median_ms, 2.0);

  const ResultRow bad = merge_rank_rows({rank_row(0, "passed", {1}, 0), rank_row(1, "incorrect", {}, 3)}, extras);
  EXPECT_EQ(bad.disposition, "incorrect");
  EXPECT_EQ(bad.collective["wrong_elements"], 3);
  EXPECT_EQ(bad.ranks[1]["wrong_elements"], 3);
  EXPECT_NE(bad.reason.find("3 wrong elements over 2 ranks (per rank: 0, 3)"), std::string::npos) << bad.reason;
  EXPECT_FALSE(bad.timing.has_value());
}

}  // namespace
}  // namespace dsbench
