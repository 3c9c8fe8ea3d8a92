// The scorecard writer: golden output (volatile fields masked), schema validity, atomic writes,
// summary counts and exit codes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "harness/error.hpp"
#include "harness/json_schema.hpp"
#include "harness/scorecard.hpp"
#include "kernels/cpu/cpu_backend.hpp"

namespace dsbench {
namespace {
namespace fs = std::filesystem;

nlohmann::json read_json(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return nlohmann::json::parse(ss.str());
}

std::vector<ResultRow> sample_rows() {
  ResultRow passed;
  passed.case_id = "gemm_fp8_blockscaled/m2_n64_k128";
  passed.op = "gemm_fp8_blockscaled";
  passed.params = {{"m", 2}, {"n", 64}, {"k", 128}};
  passed.seed = 12345;
  passed.kernel = "cpu.gemm_fp8_blockscaled.optimized";
  passed.backend = "cpu";
  passed.device = 0;
  passed.disposition = "passed";
  passed.verification = "full";
  OutputAccuracy a;
  a.output = "d";
  a.tolerance = Tolerance{0.0, 1e-4, 2.01 / 256, 1e-5};
  a.abs_effective = 0.0025;
  a.rule = "full: every valid element";
  a.total = a.checked = 128;
  a.cos_diff = 1.5e-12;
  a.max_abs_err = 0.125;
  a.max_rel_err = 0.00390625;
  a.worst_index = 65;
  a.worst_coord = {1, 1};
  a.worst_expected = 32.0;
  a.worst_actual = 32.125;
  a.passed = true;
  passed.accuracy = {a};
  TimingStats t;
  t.method = "host steady_clock";
  t.cache = "cold (flushed)";
  t.warmup = 1;
  t.raw_ms = {0.5, 0.25, 0.75};
  t.stop_reason = "time budget";
  summarize(&t);
  passed.timing = t;
  passed.flops = 2.0 * 2 * 64 * 128;
  passed.bytes = 2 * 128 + 64 * 128 + 2 * 2 * 64 + 4 * 2 + 4;

  ResultRow incorrect = passed;
  incorrect.kernel = "cpu.gemm_fp8_blockscaled.reference";
  incorrect.disposition = "incorrect";
  incorrect.reason = "d: 3 mismatches";
  incorrect.accuracy[0].passed = false;
  incorrect.accuracy[0].cos_diff = NAN;  // must serialise as "nan"
  incorrect.timing.reset();

  ResultRow unsupported = passed;
  unsupported.kernel = "cpu.gemm_fp8_blockscaled.reference";
  unsupported.disposition = "not_supported";
  unsupported.reason = "no";
  unsupported.verification = "none";
  unsupported.accuracy.clear();
  unsupported.timing.reset();

  ResultRow malformed;
  malformed.case_id = "case3";
  malformed.op = "";
  malformed.backend = "cpu";
  malformed.disposition = "error";
  malformed.reason = "suites/x.json: case 3: field \"op\": missing or not a string";
  return {passed, incorrect, unsupported, malformed};
}

nlohmann::json masked_scorecard() {
  auto backend = cpu::make_cpu_backend();
  RunContext ctx;
  ctx.command_line = "dsbench run --suite golden";
  ctx.suite_name = "golden";
  ctx.suite_path = "suites/golden.json";
  ctx.seed = 99;
  ctx.backends = {backend.get()};
  ctx.backend_used = "cpu";
  nlohmann::json doc = make_scorecard(ctx, sample_rows());
  // Volatile: where and when it ran, and on what.
  auto& c = doc["context"];
  c["date"] = "2000-01-01T00:00:00Z";
  for (const char* k : {"host", "os"}) c[k] = "<masked>";
  c["tool"]["git_commit"] = "<masked>";
  c["tool"]["git_dirty"] = false;
  c["tool"]["version"] = "<masked>";
  c["build"] = {{"compiler", "<masked>"}, {"build_type", "<masked>"}, {"backends", "<masked>"}};
  for (auto& be : c["backends"]) {
    be["build_info"] = nlohmann::json::object();
    for (auto& d : be["devices"]) { d["name"] = "<masked>"; d["properties"] = nlohmann::json::object(); }
  }
  return doc;
}

TEST(Scorecard, MatchesTheGoldenFileWithVolatileFieldsMasked) {
  const fs::path golden = fs::path(DSB_TEST_DATA_DIR) / "harness/golden/scorecard_golden.json";
  const nlohmann::json doc = masked_scorecard();
  if (std::getenv("DSB_UPDATE_GOLDEN")) {
    std::ofstream(golden) << doc.dump(2) << "\n";
    GTEST_SKIP() << "rewrote " << golden;
  }
  ASSERT_TRUE(fs::exists(golden)) << "run with DSB_UPDATE_GOLDEN=1 once to create " << golden;
  EXPECT_EQ(doc, read_json(golden)) << "diff the output of DSB_UPDATE_GOLDEN=1 against " << golden
                                    << "; a deliberate format change also bumps schema_version";
}

TEST(Scorecard, ValidatesAgainstThePublishedSchema) {
  const nlohmann::json schema = read_json(fs::path(DSB_SOURCE_DIR) / "results_schema/scorecard.schema.json");
  const auto violations = harness::validate_against_schema(schema, masked_scorecard());
  for (const auto& v : violations) ADD_FAILURE() << v.instance_path << ": " << v.message;
}

TEST(Scorecard, SchemaRejectsAResultWithoutADisposition) {
  const nlohmann::json schema = read_json(fs::path(DSB_SOURCE_DIR) / "results_schema/scorecard.schema.json");
  nlohmann::json doc = masked_scorecard();
  doc["results"][0].erase("disposition");
  const auto violations = harness::validate_against_schema(schema, doc);
  ASSERT_FALSE(violations.empty());
  EXPECT_EQ(violations[0].instance_path, "/results/0");
}

TEST(Scorecard, SummarisesPerDispositionAndPerOp) {
  const nlohmann::json s = summary_json(sample_rows());
  EXPECT_EQ(s["results"], 4);
  EXPECT_EQ(s["by_disposition"]["passed"], 1);
  EXPECT_EQ(s["by_disposition"]["incorrect"], 1);
  EXPECT_EQ(s["by_disposition"]["not_supported"], 1);
  EXPECT_EQ(s["by_disposition"]["error"], 1);
  EXPECT_EQ(s["by_op"]["gemm_fp8_blockscaled"]["passed"], 1);
}

TEST(Scorecard, ExitCodeIsOneOnIncorrectOrErrorAndTwoOnRunErrors) {
  auto rows = sample_rows();
  EXPECT_EQ(exit_code_for(rows, {}), 1);
  EXPECT_EQ(exit_code_for({rows[0], rows[2]}, {}), 0);
  EXPECT_EQ(exit_code_for({rows[0]}, {"interrupted"}), 2);
}

TEST(Scorecard, WritesAtomicallyAndRefusesAnUnwritableFolder) {
  const fs::path dir = fs::temp_directory_path() / "dsbench_scorecard_test";
  fs::create_directories(dir);
  const fs::path out = dir / "s.json";
  write_json_atomic(out.string(), {{"a", 1}});
  EXPECT_EQ(read_json(out)["a"], 1);
  for (const auto& e : fs::directory_iterator(dir)) EXPECT_EQ(e.path(), out) << "temp file left behind";
  std::ofstream(dir / "file") << "x";
  EXPECT_THROW(check_writable((dir / "file" / "s.json").string()), Error);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace dsbench
