// Bad input never reaches a verdict: every defect below is refused with a message naming the file
// and the field (the CLI turns it into exit code 2).
#include <gtest/gtest.h>

#include <filesystem>

#include "harness/error.hpp"
#include "harness/report/scorecard_load.hpp"
#include "report_test_cards.hpp"

namespace dsbench::report {
namespace {

using namespace testing;

nlohmann::json good() { return card_of({timed_row("a", "optimized", lognormal_samples(20, 1.0, 0.05, 1))}); }

// The message load_scorecard throws for the file, which must contain every one of `parts`.
void expect_refused(const std::string& path, const std::vector<std::string>& parts) {
  try {
    load_scorecard(path);
    ADD_FAILURE() << path << " was accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind(path, 0), 0u) << "the message must start with the file: " << msg;
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "missing \"" << p << "\" in: " << msg;
  }
}

TEST(ScorecardLoad, AcceptsWhatTheWriterWrites) {
  const Scorecard c = load(good(), "good.json");
  EXPECT_EQ(c.label, "good");
  EXPECT_EQ(c.doc.at("results").size(), 1u);
}

TEST(ScorecardLoad, RefusesAnotherMajorVersion) {
  nlohmann::json d = good();
  d["schema_version"] = "2.0.0";
  expect_refused(write_temp(d, "v2.json"), {"/schema_version", "major version 2", "reads scorecards of major version 1"});
}

TEST(ScorecardLoad, RefusesATruncatedFile) {
  const std::string text = good().dump(1);
  expect_refused(write_temp_text(text.substr(0, text.size() / 2), "cut.json"), {"not valid JSON at byte", "truncated?"});
  expect_refused(write_temp_text("", "empty-file.json"), {"the file is empty"});
}

TEST(ScorecardLoad, RefusesHandEditsTheSchemaCatches) {
  nlohmann::json d = good();
  d["results"][0]["disposition"] = "great";
  d["results"][0]["timing"]["raw_ms"][0] = "fast";
  expect_refused(write_temp(d, "edited.json"), {"does not follow results_schema/scorecard.schema.json", "/results/0/disposition",
                                                 "/results/0/timing"});
}

TEST(ScorecardLoad, RefusesHandEditsTheSchemaCannotSee) {
  nlohmann::json d = good();
  d["results"][0]["timing"]["median_ms"] = 0.001;
  expect_refused(write_temp(d, "median.json"), {"/results/0/timing/median_ms", "edited by hand"});
  d = good();
  d["summary"]["results"] = 5;
  expect_refused(write_temp(d, "count.json"), {"/summary/results", "says 5"});
  d = good();
  d["results"].push_back(d["results"][0]);
  d["summary"]["results"] = 2;
  expect_refused(write_temp(d, "dup.json"), {"/results/1", "same (case, kernel, device) as /results/0"});
}

TEST(ScorecardLoad, RefusesAnEmptyScorecardAndSaysWhy) {
  nlohmann::json d = card_of({});
  d["errors"] = {"suite nope: not found"};
  expect_refused(write_temp(d, "empty.json"), {"/results: empty", "suite nope: not found"});
}

TEST(ScorecardLoad, RefusesWhatIsNotAScorecard) {
  expect_refused(write_temp(nlohmann::json::array(), "array.json"), {"expected a JSON object"});
  expect_refused(write_temp({{"results", 1}}, "other.json"), {"/schema_version: missing"});
  expect_refused(write_temp({{"schema_version", "one"}}, "badver.json"), {"not MAJOR.MINOR.PATCH"});
  const std::string dir = std::filesystem::path(write_temp_text("", "x")).parent_path().string();
  expect_refused(dir, {"is a folder"});
  expect_refused(dir + "/missing.json", {"cannot be opened"});
}

TEST(ScorecardLoad, ANewerMinorMayCarryUnknownFieldsButNotWrongTypes) {
  nlohmann::json d = good();
  d["schema_version"] = "1.7.0";
  d["results"][0]["metrics"]["ceiling"] = {{"name", "peak"}, {"value", 100}, {"unit", "GB/s"}, {"pct", 50}};
  EXPECT_NO_THROW(load(d, "newer.json"));
  d["results"][0]["timing"]["median_ms"] = "slow";
  expect_refused(write_temp(d, "newer-bad.json"), {"/results/0/timing"});
  d = good();
  d["results"][0]["metrics"]["ceiling"] = 1;  // same minor as ours: unknown fields are refused
  expect_refused(write_temp(d, "unknown.json"), {"additional property \"ceiling\""});
}

TEST(ScorecardLoad, LabelsAreUnique) {
  std::vector<Scorecard> cards(3);
  cards[0].path = "/tmp/a/run.json";
  cards[1].path = "/tmp/b/run.json";
  cards[2].path = "/tmp/x/other.json";
  for (auto& c : cards) c.label = std::filesystem::path(c.path).stem().string();
  label_scorecards(cards);
  EXPECT_EQ(cards[0].label, "a/run");
  EXPECT_EQ(cards[1].label, "b/run");
  EXPECT_EQ(cards[2].label, "other");
}

}  // namespace
}  // namespace dsbench::report
