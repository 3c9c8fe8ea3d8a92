// compare_scorecards on synthetic cards: matching (new / gone), timing verdicts, accuracy and
// coverage regressions, per-op thresholds, and the flags for measurements that are not like for like.
#include <gtest/gtest.h>

#include "harness/error.hpp"
#include <sstream>

#include "harness/report/compare.hpp"
#include "harness/report/compare_format.hpp"
#include "report_test_cards.hpp"

namespace dsbench::report {
namespace {

using namespace testing;

const RowComparison& row(const CompareResult& r, const std::string& shape, const std::string& variant) {
  for (const auto& x : r.rows)
    if (x.case_id == "gemm_fp8_blockscaled/" + shape && x.kernel == "cpu.gemm_fp8_blockscaled." + variant) return x;
  throw std::runtime_error("no row " + shape + " " + variant);
}

bool mentions(const std::vector<std::string>& v, const std::string& text) {
  for (const auto& s : v)
    if (s.find(text) != std::string::npos) return true;
  return false;
}

std::vector<double> samples(double median, uint64_t seed) { return lognormal_samples(100, median, 0.02, seed); }

TEST(Compare, IdenticalDistributionsAreSameAndExitZero) {
  const auto base = load(card_of({timed_row("a", "optimized", samples(1.0, 1)), timed_row("b", "optimized", samples(2.0, 2))}), "b.json");
  const auto next = load(card_of({timed_row("a", "optimized", samples(1.0, 3)), timed_row("b", "optimized", samples(2.0, 4))}), "n.json");
  const CompareResult r = compare_scorecards(base, next, {});
  EXPECT_EQ(r.verdicts.at("same"), 2);
  EXPECT_EQ(r.exit_code(), 0);
}

TEST(Compare, SlowdownIsARegressionNamingRatioIntervalAndThreshold) {
  auto slow = samples(1.0, 3);
  for (double& v : slow) v *= 1.2;
  const auto base = load(card_of({timed_row("a", "optimized", samples(1.0, 1))}), "b.json");
  const auto next = load(card_of({timed_row("a", "optimized", slow)}), "n.json");
  const CompareResult r = compare_scorecards(base, next, {});
  const RowComparison& x = row(r, "a", "optimized");
  EXPECT_EQ(x.verdict, "slower");
  ASSERT_EQ(x.regressions.size(), 1u);
  EXPECT_NE(x.regressions[0].find("threshold 5.0%"), std::string::npos) << x.regressions[0];
  EXPECT_EQ(r.exit_code(), 1);

  CompareOptions lenient;
  lenient.op_thresholds = {{"gemm_fp8_*", 0.3}};
  EXPECT_EQ(compare_scorecards(base, next, lenient).exit_code(), 0);
  EXPECT_DOUBLE_EQ(threshold_for(lenient, "gemm_fp8_blockscaled", "x"), 0.3);
  EXPECT_DOUBLE_EQ(threshold_for(lenient, "mla_decode", "mla_decode/x"), 0.05);
}

TEST(Compare, AHugeRatioIsPrintedInBoundedFormAndKeepsItsThreshold) {
  auto slow = samples(1.0, 3);
  for (double& v : slow) v *= 1e120;  // its variance still fits a double
  const auto base = load(card_of({timed_row("a", "optimized", samples(1.0, 1))}), "b.json");
  const auto next = load(card_of({timed_row("a", "optimized", slow)}), "n.json");
  const CompareResult r = compare_scorecards(base, next, {});
  const RowComparison& x = row(r, "a", "optimized");
  ASSERT_EQ(x.regressions.size(), 1u);
  EXPECT_NE(x.regressions[0].find("threshold 5.0%"), std::string::npos) << x.regressions[0];
  EXPECT_LT(x.regressions[0].size(), 120u) << x.regressions[0];
  std::ostringstream os;
  print_compare_text(os, r, false);
  EXPECT_NE(os.str().find("e+120"), std::string::npos) << os.str();
  EXPECT_EQ(os.str().find("00000000000000000000"), std::string::npos) << "a ratio printed in full";
}

// Two runs of identical code whose results each move by their own log-normal factor (sigma) between
// the runs while steady within each, and optionally a slowdown of some results.
struct Pair {
  Scorecard base, next;
};
Pair drifted_pair(double sigma, uint64_t draw, double all_slower = 1.0, int three_x_row = -1) {
  std::vector<ResultRow> base_rows, next_rows;
  const auto drift = lognormal_samples(24, 1.0, sigma, 1000 + draw);
  for (int i = 0; i < 24; ++i) {
    const std::string shape = "s" + std::to_string(i);
    base_rows.push_back(timed_row(shape, "optimized", lognormal_samples(30, 1.0 + i, 0.02, 100 * draw + i)));
    auto moved = lognormal_samples(30, 1.0 + i, 0.02, 100 * draw + 50 + i);
    for (double& v : moved) v *= drift[static_cast<size_t>(i)] * all_slower * (i == three_x_row ? 3.0 : 1.0);
    next_rows.push_back(timed_row(shape, "optimized", moved));
  }
  return {load(card_of(base_rows), "b.json"), load(card_of(next_rows), "n.json")};
}

// The floors of GPU-event timings (3%) for every row: these tests are about the statistics, not the
// host-timing default.
CompareOptions quick(bool measured) {
  CompareOptions o;
  o.stats.host_noise_floor = o.stats.noise_floor;
  o.stats.measured_floor = measured;
  o.stats.bootstrap = 200;
  return o;
}

// Slightly noisy (2.9% drift, under the 3% floor): the measured floor widens the intervals; false
// verdicts stay within the family-wise 5% (at most 3 of 30 draws), and no more than the fixed floor gives.
TEST(Compare, MeasuredFloorWidensIntervalsBelowTheConfiguredNoise) {
  int fooled_fixed = 0, fooled_measured = 0;
  for (uint64_t draw = 0; draw < 30; ++draw) {
    const Pair p = drifted_pair(0.029, draw);
    const CompareResult a = compare_scorecards(p.base, p.next, quick(false));
    const CompareResult b = compare_scorecards(p.base, p.next, quick(true));
    EXPECT_DOUBLE_EQ(a.noise_floor, 0.03);
    fooled_fixed += a.verdicts.count("slower") + a.verdicts.count("faster") > 0 ? 1 : 0;
    fooled_measured += b.verdicts.count("slower") + b.verdicts.count("faster") > 0 ? 1 : 0;
  }
  EXPECT_LE(fooled_measured, 3);
  EXPECT_LE(fooled_measured, fooled_fixed);
}

// The 2-vCPU CI VM: 20% drift per result between runs of identical code. With a fixed 3% floor
// nearly every comparison has false verdicts; by default none may, and the exit code is 0.
TEST(Compare, OnANoisyMachineNoSingleResultGatesAndIdenticalCodePasses) {
  int fooled_fixed = 0;
  for (uint64_t draw = 0; draw < 30; ++draw) {
    const Pair p = drifted_pair(0.20, draw);
    fooled_fixed += compare_scorecards(p.base, p.next, quick(false)).exit_code();
    const CompareResult r = compare_scorecards(p.base, p.next, quick(true));
    EXPECT_EQ(r.verdicts.count("slower") + r.verdicts.count("faster"), 0u) << "draw " << draw;
    EXPECT_EQ(r.exit_code(), 0) << "draw " << draw;
    EXPECT_NE(r.suite.verdict.verdict, "slower") << "draw " << draw;
  }
  EXPECT_GE(fooled_fixed, 25) << "the synthetic noise must fool a fixed 3% floor";
}

TEST(Compare, OnANoisyMachineTheSuiteWideVerdictGatesAndOutliersAreNamed) {
  const Pair p = drifted_pair(0.20, 3, 1.25, 5);
  const CompareResult r = compare_scorecards(p.base, p.next, {});
  const RowComparison& x = row(r, "s5", "optimized");
  EXPECT_EQ(x.verdict, "noisy");
  EXPECT_TRUE(mentions(x.notes, "slower beyond the measured noise")) << (x.notes.empty() ? "" : x.notes[0]);
  EXPECT_EQ(r.suite.verdict.verdict, "slower");
  EXPECT_EQ(r.exit_code(), 1);
}

TEST(Compare, OnAQuietMachineAResultThatGotThreeTimesSlowerIsCaught) {
  const Pair p = drifted_pair(0.01, 7, 1.0, 5);
  const CompareResult r = compare_scorecards(p.base, p.next, {});
  EXPECT_EQ(row(r, "s5", "optimized").verdict, "slower");
  EXPECT_EQ(r.regressions, 1);
  EXPECT_EQ(r.exit_code(), 1);
}

// CPU results (host steady clock) are reported one by one but gate only with --gate-host-timing.
TEST(Compare, HostTimedResultsDoNotGateOneByOneUnlessAsked) {
  auto slow = samples(1.0, 3);
  for (double& v : slow) v *= 1.3;
  ResultRow b = timed_row("a", "optimized", samples(1.0, 1)), n = timed_row("a", "optimized", slow);
  b.timing->method = n.timing->method = "host steady_clock";
  const auto base = load(card_of({b}), "b.json"), next = load(card_of({n}), "n.json");
  const CompareResult r = compare_scorecards(base, next, {});
  const RowComparison& x = row(r, "a", "optimized");
  EXPECT_EQ(x.verdict, "noisy");
  EXPECT_TRUE(mentions(x.notes, "host-timed result")) << (x.notes.empty() ? "" : x.notes[0]);
  EXPECT_EQ(r.exit_code(), 0);
  EXPECT_DOUBLE_EQ(r.configured_floor, 0.10) << "host-timed rows get the host floor";
  CompareOptions gate;
  gate.stats.gate_host_timing = true;
  const CompareResult g = compare_scorecards(base, next, gate);
  EXPECT_EQ(row(g, "a", "optimized").verdict, "slower");
  EXPECT_EQ(g.exit_code(), 1);
}

TEST(Compare, NewAndGoneRowsAndAllowGone) {
  const auto base = load(card_of({timed_row("a", "optimized", samples(1, 1)), timed_row("old", "optimized", samples(1, 2))}), "b.json");
  const auto next = load(card_of({timed_row("a", "optimized", samples(1, 3)), timed_row("fresh", "optimized", samples(1, 4))}), "n.json");
  CompareResult r = compare_scorecards(base, next, {});
  EXPECT_EQ(row(r, "old", "optimized").verdict, "gone");
  EXPECT_EQ(row(r, "fresh", "optimized").verdict, "new");
  EXPECT_TRUE(row(r, "fresh", "optimized").regressions.empty());
  EXPECT_EQ(r.exit_code(), 1) << "a result missing from the new run is lost coverage";
  CompareOptions o;
  o.allow_gone = true;
  EXPECT_EQ(compare_scorecards(base, next, o).exit_code(), 0);
}

TEST(Compare, PassedToIncorrectIsAnAccuracyRegression) {
  const auto base = load(card_of({timed_row("a", "optimized", samples(1, 1))}), "b.json");
  ResultRow bad = timed_row("a", "optimized", {});
  bad.timing.reset();
  bad.disposition = "incorrect";
  bad.reason = "d: 3 mismatches";
  bad.accuracy[0].passed = false;
  bad.accuracy[0].mismatches = 3;
  const CompareResult r = compare_scorecards(base, load(card_of({bad}), "n.json"), {});
  const RowComparison& x = row(r, "a", "optimized");
  EXPECT_EQ(x.verdict, "untimed");
  EXPECT_TRUE(mentions(x.regressions, "accuracy: passed -> incorrect: d: 3 mismatches"));
  EXPECT_EQ(r.exit_code(), 1);
}

TEST(Compare, ErrorGrownBeyondTheFactorIsARegressionOnlyAboveTheFloor) {
  const auto base = load(card_of({timed_row("a", "optimized", samples(1, 1), 1e-9), timed_row("b", "optimized", samples(1, 2), 1e-12)}), "b.json");
  // a: 1e-9 -> 5e-7 (500x, above 1% of the 1e-5 tolerance); b: 1e-12 -> 1e-9 (1000x, but far below it).
  const auto next = load(card_of({timed_row("a", "optimized", samples(1, 3), 5e-7), timed_row("b", "optimized", samples(1, 4), 1e-9)}), "n.json");
  const CompareResult r = compare_scorecards(base, next, {});
  EXPECT_TRUE(mentions(row(r, "a", "optimized").regressions, "accuracy: d cos_diff 1e-09 -> 5e-07"));
  EXPECT_TRUE(row(r, "b", "optimized").regressions.empty());
}

TEST(Compare, NewlyNotSupportedOrErrorIsACoverageRegressionAndFixesAreNotes) {
  const auto base = load(card_of({timed_row("a", "optimized", samples(1, 1)), timed_row("b", "optimized", samples(1, 2)),
                                  untimed_row("c", "optimized", "error", "crashed")}), "b.json");
  const auto next = load(card_of({untimed_row("a", "optimized", "not_supported", "k % 128 != 0"),
                                  untimed_row("b", "optimized", "error", "device lost"), timed_row("c", "optimized", samples(1, 3))}), "n.json");
  const CompareResult r = compare_scorecards(base, next, {});
  EXPECT_TRUE(mentions(row(r, "a", "optimized").regressions, "coverage: passed -> not_supported: k % 128 != 0"));
  EXPECT_TRUE(mentions(row(r, "b", "optimized").regressions, "coverage: passed -> error: device lost"));
  EXPECT_TRUE(row(r, "c", "optimized").regressions.empty());
  EXPECT_TRUE(mentions(row(r, "c", "optimized").notes, "fixed: error -> passed"));
  EXPECT_EQ(r.regressions, 2);
}

TEST(Compare, NoOverlapIsAnErrorNotAVerdict) {
  const auto base = load(card_of({timed_row("a", "optimized", samples(1, 1))}), "b.json");
  const auto next = load(card_of({timed_row("z", "optimized", samples(1, 2))}), "n.json");
  try {
    compare_scorecards(base, next, {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no overlapping results"), std::string::npos) << e.what();
  }
}

TEST(Compare, FlagsRunsThatAreNotLikeForLike) {
  nlohmann::json a = card_of({timed_row("a", "optimized", samples(1, 1))});
  nlohmann::json b = card_of({timed_row("a", "optimized", samples(1, 2))});
  b["context"]["host"] = "otherhost";
  a["context"]["build"]["build_type"] = "Release";  // whatever this test binary was built as (ASan: Debug)
  b["context"]["build"]["build_type"] = "Debug";
  b["context"]["config"]["timing"]["flush_cache"] = false;
  b["context"]["backends"][0]["devices"][0]["name"] = "Other CPU";
  b["context"]["backends"][0]["devices"][0]["properties"]["omp_max_threads"] = 99;
  const CompareResult r = compare_scorecards(load(a, "b.json"), load(b, "n.json"), {});
  EXPECT_TRUE(mentions(r.environment, "host differs: testhost vs otherhost"));
  EXPECT_TRUE(mentions(r.environment, "build type differs"));
  EXPECT_TRUE(mentions(r.environment, "cache mode differs: cold vs warm"));
  EXPECT_TRUE(mentions(r.environment, "omp_max_threads"));
  EXPECT_TRUE(mentions(row(r, "a", "optimized").flags, "Other CPU"));
}

// A future 1.x minor may record throttling and clocks per result; the comparison flags them.
TEST(Compare, FlagsThrottlingAndClockDifferencesWhenRecorded) {
  nlohmann::json a = card_of({timed_row("a", "optimized", samples(1, 1))});
  nlohmann::json b = card_of({timed_row("a", "optimized", samples(1, 2))});
  for (auto* c : {&a, &b}) (*c)["schema_version"] = "1.99.0";
  a["results"][0]["timing"]["sm_clock_mhz"] = 1980;
  b["results"][0]["timing"]["sm_clock_mhz"] = 1410;
  b["results"][0]["timing"]["throttled"] = true;
  const CompareResult r = compare_scorecards(load(a, "b.json"), load(b, "n.json"), {});
  const auto& flags = row(r, "a", "optimized").flags;
  EXPECT_TRUE(mentions(flags, "throttled (new)"));
  EXPECT_TRUE(mentions(flags, "clock: 1980 MHz vs 1410 MHz"));
}

TEST(Compare, ParsesFractionsAndPercentages) {
  EXPECT_DOUBLE_EQ(parse_fraction("0.05", "--threshold"), 0.05);
  EXPECT_DOUBLE_EQ(parse_fraction("7.5%", "--threshold"), 0.075);
  EXPECT_THROW(parse_fraction("five", "--threshold"), Error);
  EXPECT_THROW(parse_fraction("-1%", "--threshold"), Error);
  EXPECT_THROW(parse_fraction("", "--threshold"), Error);
}

}  // namespace
}  // namespace dsbench::report
