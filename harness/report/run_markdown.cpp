// The Markdown summary of one run, for CI step summaries ($GITHUB_STEP_SUMMARY, GitLab job
// summaries): verdict line, counts per op, failures with their metric and threshold, every result
// folded under <details>. Every scorecard string goes through md_escape.
#include <cstdio>
#include <map>

#include "harness/report/escape.hpp"
#include "harness/report/run_summaries.hpp"
#include "harness/report/scorecard_load.hpp"

namespace dsbench::report {
namespace {

constexpr const char* kDispositions[] = {"passed", "incorrect", "error", "not_supported", "skipped", "not_verified"};

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string text(const nlohmann::json& v) { return md_escape(v.is_string() ? v.get<std::string>() : v.dump()); }

std::string worst_cos(const nlohmann::json& r) {
  std::string out;
  for (const auto& a : r.at("accuracy"))
    out += (out.empty() ? "" : ", ") + fmt("%.1e", number_of(a.at("cos_diff"))) + " (" +
           fmt("%.0e", a.at("tolerance").at("cos_diff").get<double>()) + ")";
  return out.empty() ? "-" : out;
}

}  // namespace

std::string scorecard_markdown(const nlohmann::json& card) {
  const nlohmann::json& ctx = card.at("context");
  const nlohmann::json& counts = card.at("summary").at("by_disposition");
  const int failed = counts.at("incorrect").get<int>() + counts.at("error").get<int>();
  const bool run_errors = !card.at("errors").empty();
  std::string md = "## dsbench run: " + text(ctx.at("suite").at("name")) + " on " + text(ctx.at("backend")) + " — ";
  md += run_errors ? "❌ run-level error" : failed > 0 ? "❌ " + std::to_string(failed) + " failed" : "✅ all passed";
  md += "\n\n";
  std::string totals;
  for (const char* d : kDispositions)
    if (counts.at(d).get<int>() > 0) totals += (totals.empty() ? "" : ", ") + std::to_string(counts.at(d).get<int>()) + " " + d;
  md += "**" + std::to_string(card.at("results").size()) + " results" + (totals.empty() ? "" : ": " + totals) + "** · host " +
        text(ctx.at("host")) + " · dsbench " + text(ctx.at("tool").at("version")) + " (" +
        text(ctx.at("tool").at("git_commit")) + (ctx.at("tool").at("git_dirty").get<bool>() ? "+dirty" : "") + ") · " +
        text(ctx.at("date")) + " · seed " + text(ctx.at("seed")) + "\n";
  for (const auto& e : card.at("errors")) md += "\n> **run-level error:** " + text(e) + "\n";

  md += "\n| op | passed | incorrect | error | not supported | skipped | not verified |\n|---|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& [op, c] : card.at("summary").at("by_op").items()) {
    md += "| " + md_escape(op);
    for (const char* d : kDispositions) md += " | " + std::to_string(c.at(d).get<int>());
    md += " |\n";
  }
  if (failed > 0) {
    md += "\n### Failures\n\n| case | kernel | result | metric vs threshold |\n|---|---|---|---|\n";
    for (const auto& r : card.at("results")) {
      const std::string d = r.at("disposition").get<std::string>();
      if (d != "incorrect" && d != "error") continue;
      md += "| " + text(r.at("case_id")) + " | " + md_escape(kernel_of(r)) + " | **" + d + "** | " +
            md_escape(failure_message(r)) + " |\n";
    }
  }
  md += "\n<details><summary>All results</summary>\n\n| case | kernel | result | cos_diff (tolerance) | median ms | "
        "TFLOP/s | GB/s |\n|---|---|---|---|---:|---:|---:|\n";
  for (const auto& r : card.at("results")) {
    const nlohmann::json& m = r.at("metrics");
    const bool timed = !r.at("timing").is_null();
    md += "| " + text(r.at("case_id")) + " | " + md_escape(kernel_of(r)) + " | " + text(r.at("disposition")) + " | " +
          worst_cos(r) + " | " + (timed ? fmt("%.4g", r.at("timing").at("median_ms").get<double>()) : "-") + " | " +
          (m.contains("tflops") ? fmt("%.4g", m.at("tflops").get<double>()) : "-") + " | " +
          (m.contains("gbps") ? fmt("%.4g", m.at("gbps").get<double>()) : "-") + " |\n";
  }
  md += "\n</details>\n";
  return md;
}

}  // namespace dsbench::report
