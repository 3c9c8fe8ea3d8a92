// Suite parsing: good cases load, each defect is recorded on its own case naming the field, and a
// file-level defect names the file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "harness/error.hpp"
#include "harness/suite.hpp"

namespace dsbench {
namespace {

nlohmann::json suite_with(const nlohmann::json& cases) { return {{"name", "t"}, {"cases", cases}}; }

TEST(ParseSuite, LoadsCasesWithTheirParamsToleranceAndSeed) {
  const Suite s = parse_suite(suite_with({{{"id", "gemm_fp8_blockscaled/a"}, {"op", "gemm_fp8_blockscaled"},
                                           {"params", {{"m", 1}, {"n", 64}, {"k", 128}}},
                                           {"tolerance", {{"d", {{"rel", 0.1}}}}}, {"seed", 7}}}),
                              "x.json");
  ASSERT_EQ(s.cases.size(), 1u);
  EXPECT_EQ(s.cases[0].error, "");
  EXPECT_EQ(s.cases[0].params["m"], 1);
  EXPECT_EQ(*s.cases[0].seed, 7u);
  EXPECT_EQ(s.cases[0].tolerance["d"]["rel"], 0.1);
}

TEST(ParseSuite, RecordsEachDefectOnItsOwnCase) {
  const Suite s = parse_suite(
      suite_with({{{"id", "ok"}, {"op", "gemm_fp8_blockscaled"}, {"params", nlohmann::json::object()}},
                  {{"id", "bad_op"}, {"op", "gemm_fp9"}, {"params", nlohmann::json::object()}},
                  {{"op", "gemm_fp8_blockscaled"}, {"params", nlohmann::json::object()}},
                  {{"id", "ok"}, {"op", "gemm_fp8_blockscaled"}, {"params", nlohmann::json::object()}},
                  {{"id", "no_params"}, {"op", "gemm_fp8_blockscaled"}},
                  {{"id", "extra"}, {"op", "gemm_fp8_blockscaled"}, {"params", nlohmann::json::object()}, {"colour", 1}},
                  42}),
      "suites/x.json");
  ASSERT_EQ(s.cases.size(), 7u);
  EXPECT_EQ(s.cases[0].error, "");
  EXPECT_EQ(s.cases[1].error, "suites/x.json: case 1 (\"bad_op\"): field \"op\": unknown op \"gemm_fp9\"");
  EXPECT_NE(s.cases[2].error.find("field \"id\": missing"), std::string::npos);
  EXPECT_EQ(s.cases[3].error, "suites/x.json: case 3 (\"ok\"): field \"id\": duplicate of case 0 (\"ok\")");
  EXPECT_NE(s.cases[4].error.find("field \"params\": missing"), std::string::npos);
  EXPECT_NE(s.cases[5].error.find("field \"colour\": unknown field"), std::string::npos);
  EXPECT_EQ(s.cases[6].error, "suites/x.json: case 6: expected an object, got number");
  // Every case has an id of its own (compare and report key on it): synthetic where none is usable.
  EXPECT_EQ(s.cases[2].id, "#2");
  EXPECT_EQ(s.cases[3].id, "ok#3");
  EXPECT_EQ(s.cases[6].id, "#6");
  std::set<std::string> ids;
  for (const CaseSpec& c : s.cases) EXPECT_TRUE(ids.insert(c.id).second) << c.id;
}

TEST(ParseSuite, RejectsAFileWithoutCasesNamingTheFile) {
  try {
    parse_suite(nlohmann::json{{"name", "x"}}, "suites/broken.json");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "suites/broken.json: missing \"cases\" array");
  }
}

TEST(ParseSuite, ChecksTimingDefaults) {
  EXPECT_NO_THROW(parse_suite({{"cases", nlohmann::json::array()}, {"defaults", {{"timing", {{"budget_s", 0.5}}}}}}, "a.json"));
  EXPECT_THROW(parse_suite({{"cases", nlohmann::json::array()}, {"defaults", {{"timing", {{"budget", 1}}}}}}, "a.json"), Error);
  EXPECT_THROW(parse_suite({{"cases", nlohmann::json::array()}, {"defaults", {{"timing", {{"min_reps", -1}}}}}}, "a.json"), Error);
}

TEST(LoadSuite, ReportsInvalidJsonWithTheFileName) {
  const auto path = std::filesystem::temp_directory_path() / "dsbench_bad_suite.json";
  std::ofstream(path) << "{\"cases\": [ {\"id\": 1,, ] }";
  try {
    load_suite(path.string());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string() + ": not valid JSON"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

TEST(LoadSuite, FindsSuitesByNameAndListsThem) {
  const Suite s = load_suite("smoke");
  EXPECT_EQ(s.name, "smoke");
  EXPECT_GT(s.cases.size(), 5u);
  for (const CaseSpec& c : s.cases) EXPECT_EQ(c.error, "") << c.id;
  const auto names = list_suites();
  EXPECT_NE(std::find(names.begin(), names.end(), "deepseek-v3"), names.end());
  EXPECT_THROW(load_suite("no_such_suite"), Error);
}

TEST(GlobMatch, MatchesLikeTheShell) {
  EXPECT_TRUE(glob_match("*", "gemm_fp8_blockscaled/m1"));
  EXPECT_TRUE(glob_match("gemm_*/m1*", "gemm_fp8_blockscaled/m128_n256"));
  EXPECT_FALSE(glob_match("cpu.*.optimized", "cpu.gemm_fp8_blockscaled.reference"));
}

}  // namespace
}  // namespace dsbench

namespace dsbench {
namespace {

TEST(ParseSuite, IntegerTimingDefaultsPastIntAreRefusedNotWrapped) {
  for (const char* big : {"18446744073709551615", "2147483648"}) {
    const nlohmann::json doc = nlohmann::json::parse(std::string("{\"name\": \"t\", \"defaults\": {\"timing\": {\"min_reps\": ") +
                                                     big + "}}, \"cases\": []}");
    try {
      parse_suite(doc, "x.json");
      ADD_FAILURE() << big << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string("\"defaults.timing.min_reps\": ") + big + " is not an integer in [0, 2147483647]"),
                std::string::npos)
          << e.what();
    }
  }
}

}  // namespace
}  // namespace dsbench

namespace dsbench {
namespace {

TEST(ParseSuite, IdsWithControlCharactersAreRefusedAndGetASyntheticId) {
  const std::string nul_id("g/a\0b", 5);
  const Suite s = parse_suite(
      suite_with({{{"id", "g/\x1b[31mred"}, {"op", "gemm_fp8_blockscaled"}, {"params", nlohmann::json::object()}},
                  {{"id", nul_id}, {"op", "gemm_fp8_blockscaled"}, {"params", nlohmann::json::object()}}}),
      "x.json");
  ASSERT_EQ(s.cases.size(), 2u);
  EXPECT_EQ(s.cases[0].id, "#0");
  EXPECT_NE(s.cases[0].error.find("field \"id\": control character U+001B at byte 2"), std::string::npos) << s.cases[0].error;
  EXPECT_EQ(s.cases[1].id, "#1");
  EXPECT_NE(s.cases[1].error.find("control character U+0000 at byte 3"), std::string::npos) << s.cases[1].error;
}

}  // namespace
}  // namespace dsbench
