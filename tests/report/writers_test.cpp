// The writers: escaping, JUnit XML, Markdown summaries, the compare outputs and the HTML report.
// Scorecard strings are hostile here (markup in device names, reasons and case ids).
#include <gtest/gtest.h>

#include <regex>

#include "harness/report/compare_format.hpp"
#include "harness/report/escape.hpp"
#include "harness/report/html_report.hpp"
#include "harness/report/run_summaries.hpp"
#include "report_test_cards.hpp"

namespace dsbench::report {
namespace {

using namespace testing;

const std::string kEvil = "<script>alert(1)</script>|*x*\"'&";

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

nlohmann::json mixed_card() {
  ResultRow bad = timed_row("m64_" + kEvil, "optimized", {});
  bad.timing.reset();
  bad.disposition = "incorrect";
  bad.reason = "d: 3 mismatches " + kEvil;
  bad.accuracy[0].passed = false;
  bad.accuracy[0].mismatches = 3;
  bad.accuracy[0].cos_diff = 3e-3;
  nlohmann::json d = card_of({timed_row("a", "optimized", lognormal_samples(30, 0.5, 0.05, 1)),
                              timed_row("a", "reference", lognormal_samples(30, 9.0, 0.05, 2)), bad,
                              untimed_row("b", "optimized", "not_supported", "k % 128 != 0 " + kEvil)});
  d["context"]["backends"][0]["devices"][0]["name"] = kEvil;
  return d;
}

TEST(Escape, HtmlXmlAndMarkdown) {
  EXPECT_EQ(html_escape(kEvil), "&lt;script&gt;alert(1)&lt;/script&gt;|*x*&quot;&#39;&amp;");
  EXPECT_EQ(xml_escape(std::string("a\x01") + "b\xff" + "é"), "a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "é");
  EXPECT_EQ(md_escape("a|b\n<i>*x*</i>"), "a\\|b &lt;i&gt;\\*x\\*&lt;/i&gt;");
}

TEST(Junit, OneTestcasePerResultFailuresCarryMetricAndThreshold) {
  const std::string x = scorecard_junit(mixed_card());
  EXPECT_EQ(count(x, "<testcase "), 4u);
  EXPECT_EQ(count(x, "<failure "), 1u);
  EXPECT_EQ(count(x, "<skipped "), 1u);
  EXPECT_NE(x.find("tests=\"4\" failures=\"1\" errors=\"0\" skipped=\"1\""), std::string::npos);
  EXPECT_NE(x.find("message=\"d: cos_diff 0.003 &gt; tolerance 1e-05; 3 of 4096 checked elements beyond abs 0.01 and rel "
                   "0.00785"),
            std::string::npos)
      << x;
  EXPECT_EQ(x.find("<script>"), std::string::npos);
}

TEST(Junit, RunLevelErrorsBecomeAFailingTestcase) {
  nlohmann::json d = card_of({});
  d["errors"] = {"suite nope: not found"};
  const std::string x = scorecard_junit(d);
  EXPECT_NE(x.find("<error type=\"run\" message=\"suite nope: not found\"/>"), std::string::npos) << x;
}

TEST(Markdown, RunSummaryListsFailuresAndEscapesEverything) {
  const std::string md = scorecard_markdown(mixed_card());
  EXPECT_NE(md.find("❌ 1 failed"), std::string::npos);
  EXPECT_NE(md.find("### Failures"), std::string::npos);
  EXPECT_EQ(md.find("<script>"), std::string::npos);
  // Every table row keeps its column count: escaped pipes do not split cells.
  for (const std::string& line : {std::string("| gemm\\_fp8\\_blockscaled | 2 | 1 | 0 | 1 | 0 | 0 |")})
    EXPECT_NE(md.find(line), std::string::npos) << md;
  const std::regex unescaped_pipe(R"([^\\]\|\*x)");
  EXPECT_FALSE(std::regex_search(md, unescaped_pipe));
}

TEST(CompareOutputs, MarkdownAndJsonLeadWithTheVerdict) {
  auto slow = lognormal_samples(100, 1.0, 0.02, 3);
  for (double& v : slow) v *= 1.3;
  const auto base = load(card_of({timed_row("a", "optimized", lognormal_samples(100, 1.0, 0.02, 1))}), "b.json");
  const auto next = load(card_of({timed_row("a", "optimized", slow)}), "n.json");
  const CompareResult r = compare_scorecards(base, next, {});
  EXPECT_EQ(compare_markdown(r).rfind("## dsbench compare: 1 regression(s)", 0), 0u);
  const nlohmann::json j = compare_json(r);
  EXPECT_EQ(j.at("exit_code"), 1);
  EXPECT_EQ(j.at("rows").at(0).at("verdict"), "slower");
  EXPECT_NEAR(j.at("rows").at(0).at("timing").at("ratio").get<double>(), 1.3, 0.03);
}

TEST(HtmlReport, SelfContainedChartsEscapedStrings) {
  const Scorecard a = load(mixed_card(), "evil.json");
  const Scorecard b = load(card_of({timed_row("a", "optimized", lognormal_samples(30, 0.4, 0.05, 5))}), "other.json");
  ReportOptions o;
  o.prices = {{"cpu", 0.5}};
  const std::string h = html_report({a, b}, o);
  EXPECT_EQ(h.find("<script"), std::string::npos) << "no script at all, and none injected";
  EXPECT_NE(h.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(h.find("Content-Security-Policy"), std::string::npos);
  EXPECT_EQ(count(h, "<svg class=\"chart throughput\""), 1u);
  EXPECT_EQ(count(h, "<svg class=\"chart accuracy\""), 1u);
  EXPECT_NE(h.find("n/a (no measured ceiling)"), std::string::npos);
  EXPECT_NE(h.find("n/a (no power measurement)"), std::string::npos);
  EXPECT_NE(h.find("per $ (cpu at $0.5/h)"), std::string::npos);
  EXPECT_NE(h.find("Comparison with the baseline: evil"), std::string::npos);
  const std::regex remote(R"((src|href)\s*=\s*["']?(https?:)?//)");
  EXPECT_FALSE(std::regex_search(h, remote)) << "nothing may be fetched";
}

TEST(HtmlReport, RendersMeasuredCeilingAndPowerWhenPresent) {
  nlohmann::json d = card_of({timed_row("a", "optimized", lognormal_samples(30, 0.5, 0.05, 1))});
  d["schema_version"] = "1.9.0";
  d["results"][0]["metrics"]["ceiling"] = {{"name", "HBM3 <peak>"}, {"value", 3350}, {"unit", "GB/s"}, {"pct", 63}};
  d["results"][0]["timing"]["avg_watts"] = 500;
  const std::string h = html_report({load(d, "gpu.json")}, {});
  EXPECT_NE(h.find("63% of HBM3 &lt;peak&gt; (3350 GB/s)"), std::string::npos);
  EXPECT_NE(h.find("FLOP/s per W"), std::string::npos);
}

}  // namespace
}  // namespace dsbench::report
