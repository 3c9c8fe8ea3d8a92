#include "harness/report/compare_format.hpp"

#include <cmath>
#include <cstdio>

#include "harness/report/escape.hpp"

namespace dsbench::report {
namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// A ratio in at most about ten characters: x1.234, or x1.23e+300 when a run was off by orders.
std::string ratio(double v) { return std::fabs(v) < 1e4 && (v == 0 || std::fabs(v) >= 1e-3) ? fmt("x%.3f", v) : fmt("x%.3g", v); }

std::string median_text(const nlohmann::json* r) {
  if (r == nullptr || r->at("timing").is_null()) return "-";
  return fmt("%.4g", r->at("timing").at("median_ms").get<double>());
}

std::string fit(const std::string& s, size_t w) { return s.size() <= w ? s : s.substr(0, w - 1) + "~"; }

std::string settings_line(const CompareResult& r) {
  const CompareOptions& o = r.options;
  std::string s = "threshold " + fmt("%.3g", o.threshold * 100) + "%";
  for (const auto& [p, v] : o.op_thresholds) s += ", " + p + " " + fmt("%.3g", v * 100) + "%";
  return s + "; " + fmt("%.3g", o.stats.confidence * 100) + "% interval (block bootstrap, " +
         std::to_string(o.stats.bootstrap) + " resamples) widened by a " + fmt("%.3g", r.noise_floor * 100) +
         "% run-to-run noise floor" + (r.noise_floor > r.configured_floor ? " (measured; configured " +
         fmt("%.3g", r.configured_floor * 100) + "%)" : "") + "; at least " + std::to_string(o.stats.min_samples) + " samples per side";
}

std::string counts_line(const CompareResult& r) {
  std::string s = std::to_string(r.rows.size()) + " results:";
  for (const char* v : {"same", "faster", "slower", "noisy", "untimed", "new", "gone"})
    if (const auto it = r.verdicts.find(v); it != r.verdicts.end()) s += " " + std::to_string(it->second) + " " + v;
  return s;
}

std::string suite_line(const CompareResult& r) {
  const SuiteShift& s = r.suite;
  const RatioEstimate& e = s.verdict.estimate;
  if (s.results == 0) return "all results together: no timed results to compare";
  return "all " + std::to_string(s.results) + " timed results together: median " + ratio(e.ratio) + " [" +
         ratio(e.lo) + ", " + ratio(e.hi) + "] " + s.verdict.verdict +
         (s.verdict.why.empty() ? "" : " (" + s.verdict.why + ")") + "; run-to-run spread " +
         fmt("%.1f", s.spread * 100) + "%";
}

// Identical code on this machine scatters results by about `spread`; a floor below it invites false
// verdicts, so compare raises the floor to what it measured (unless --fixed-noise-floor) and says so.
std::string spread_warning(const CompareResult& r) {
  const StatsOptions& st = r.options.stats;
  const bool enough = r.suite.results >= kMinResultsForSpread;
  const bool noisy = enough && r.suite.spread > std::log1p(r.configured_floor);
  const std::string spread = "results scattered by " + fmt("%.1f", r.suite.spread * 100) +
                             "% between the runs (robust SD of their ratios)";
  if (noisy && st.measured_floor)
    return spread + ", more than the " + fmt("%.3g", r.configured_floor * 100) + "% noise floor: per-result intervals "
           "were widened to the measured noise (floor up to " + fmt("%.3g", r.noise_floor * 100) + "%, family-wise over " +
           std::to_string(r.suite.results) + " results) and no single result's timing gates on so noisy a machine; "
           "the suite-wide verdict does. Compare on a quieter machine to gate result by result";
  if (noisy)
    return spread + ", more than the " + fmt("%.3g", r.configured_floor * 100) + "% noise floor: if the code is the "
           "same, this machine's run-to-run noise is larger than assumed and single-result verdicts may be noise "
           "(drop --fixed-noise-floor, raise --noise-floor, or compare on a quieter machine)";
  if (r.noise_floor > r.configured_floor)
    return spread + ": per-result intervals were widened to the measured noise (floor up to " +
           fmt("%.3g", r.noise_floor * 100) + "%, family-wise over " + std::to_string(r.suite.results) + " results)";
  return "";
}

bool interesting(const RowComparison& row) {
  return row.verdict != "same" || !row.notes.empty() || !row.flags.empty() || !row.regressions.empty();
}

}  // namespace

std::string ratio_text(const RowComparison& row) {
  if (!row.estimate) return "-";
  return ratio(row.estimate->ratio) + " [" + ratio(row.estimate->lo) + ", " + ratio(row.estimate->hi) + "]";
}

void print_compare_text(std::ostream& os, const CompareResult& r, bool only_changes) {
  os << "dsbench compare\n  base: " << r.base_about << "\n  new:  " << r.new_about << "\n  " << settings_line(r) << "\n";
  if (!r.environment.empty()) {
    os << "\nnot like for like:\n";
    for (const auto& e : r.environment) os << "  ! " << e << "\n";
  }
  char buf[512];
  std::snprintf(buf, sizeof buf, "\n%-48s %-40s %3s %10s %10s %-27s %s\n", "case", "kernel", "dev", "base ms", "new ms",
                "new/base [interval]", "verdict");
  os << buf << std::string(150, '-') << "\n";
  for (const RowComparison& row : r.rows) {
    if (only_changes && !interesting(row)) continue;
    std::snprintf(buf, sizeof buf, "%-48s %-40s %3s %10s %10s %-27s %s%s\n", fit(row.case_id, 48).c_str(),
                  fit(row.kernel, 40).c_str(), row.device.c_str(), median_text(row.base).c_str(),
                  median_text(row.next).c_str(), ratio_text(row).c_str(), row.verdict.c_str(),
                  row.regressions.empty() ? "" : "  REGRESSION");
    os << buf;
    for (const auto& g : row.regressions) os << "    regression: " << g << "\n";
    for (const auto& n : row.notes) os << "    note: " << n << "\n";
    for (const auto& f : row.flags) os << "    ! " << f << "\n";
  }
  os << "\n" << counts_line(r) << "\n" << suite_line(r) << (r.suite_slower() ? "  REGRESSION" : "") << "\n";
  if (const std::string w = spread_warning(r); !w.empty()) os << "! " << w << "\n";
  if (r.exit_code() == 0) {
    os << "verdict: no regressions (exit 0)\n";
    return;
  }
  os << "verdict: " << r.regressions + (r.suite_slower() ? 1 : 0) << " regression(s) (exit 1):\n";
  if (r.suite_slower()) os << "  the suite as a whole is slower: " << suite_line(r) << "\n";
  for (const RowComparison& row : r.rows)
    for (const auto& g : row.regressions) os << "  " << row.key << ": " << g << "\n";
}

std::string compare_markdown(const CompareResult& r) {
  std::string md = "## dsbench compare: ";
  const int n = r.regressions + (r.suite_slower() ? 1 : 0);
  md += n == 0 ? "no regressions\n\n" : std::to_string(n) + " regression(s)\n\n";
  md += "- base: " + md_escape(r.base_about) + "\n- new: " + md_escape(r.new_about) + "\n- " +
        md_escape(settings_line(r)) + "\n- " + md_escape(counts_line(r)) + "\n- " +
        (r.suite_slower() ? "**" + md_escape(suite_line(r)) + "** ❌" : md_escape(suite_line(r))) + "\n";
  if (const std::string w = spread_warning(r); !w.empty()) md += "- ⚠ " + md_escape(w) + "\n";
  for (const auto& e : r.environment) md += "- **not like for like:** " + md_escape(e) + "\n";
  auto table = [&](bool regressions_only) {
    std::string t = "\n| case | kernel | dev | base ms | new ms | new/base [interval] | verdict | details |\n"
                    "|---|---|---|---:|---:|---|---|---|\n";
    for (const RowComparison& row : r.rows) {
      if (regressions_only != !row.regressions.empty()) continue;
      std::string details;
      for (const auto& g : row.regressions) details += (details.empty() ? "" : "<br>") + md_escape(g);
      for (const auto& n : row.notes) details += (details.empty() ? "" : "<br>") + md_escape(n);
      for (const auto& f : row.flags) details += (details.empty() ? "" : "<br>") + ("⚠ " + md_escape(f));
      t += "| " + md_escape(row.case_id) + " | " + md_escape(row.kernel) + " | " + md_escape(row.device) + " | " +
           median_text(row.base) + " | " + median_text(row.next) + " | " + ratio_text(row) + " | " +
           (row.regressions.empty() ? row.verdict : "**" + row.verdict + "** ❌") + " | " + details + " |\n";
    }
    return t;
  };
  if (r.regressions > 0 || r.suite_slower()) {
    md += "\n### Regressions\n";
    if (r.suite_slower()) md += "\n- **the suite as a whole is slower:** " + md_escape(suite_line(r)) + "\n";
    if (r.regressions > 0) md += table(true);
  }
  md += "\n<details><summary>All other results</summary>\n" + table(false) + "\n</details>\n";
  return md;
}

nlohmann::json compare_json(const CompareResult& r) {
  nlohmann::json rows = nlohmann::json::array();
  for (const RowComparison& row : r.rows) {
    nlohmann::json j = {{"key", row.key}, {"case_id", row.case_id}, {"op", row.op}, {"kernel", row.kernel},
                        {"device", row.device}, {"verdict", row.verdict}, {"threshold", row.threshold},
                        {"base_disposition", row.base_disposition()}, {"new_disposition", row.new_disposition()},
                        {"regressions", row.regressions}, {"notes", row.notes}, {"flags", row.flags}};
    if (row.estimate)
      j["timing"] = {{"ratio", row.estimate->ratio}, {"lo", row.estimate->lo}, {"hi", row.estimate->hi},
                     {"p10_ratio", row.estimate->p10_ratio}, {"base_samples", row.estimate->base_n},
                     {"new_samples", row.estimate->new_n}};
    rows.push_back(j);
  }
  const CompareOptions& o = r.options;
  const RatioEstimate& se = r.suite.verdict.estimate;
  const nlohmann::json suite = {{"results", r.suite.results}, {"spread", r.suite.spread}, {"verdict", r.suite.verdict.verdict},
                                {"why", r.suite.verdict.why}, {"ratio", se.ratio}, {"lo", se.lo}, {"hi", se.hi}};
  return {{"base", r.base_path}, {"new", r.new_path}, {"environment", r.environment}, {"verdicts", r.verdicts},
          {"suite", suite}, {"warning", spread_warning(r)},
          {"regressions", r.regressions}, {"exit_code", r.exit_code()},
          {"options", {{"threshold", o.threshold}, {"confidence", o.stats.confidence}, {"noise_floor", o.stats.noise_floor}, {"host_noise_floor", o.stats.host_noise_floor},
                       {"configured_floor", r.configured_floor},
                       {"noise_floor_in_force", r.noise_floor}, {"measured_floor", o.stats.measured_floor},
                       {"gate_host_timing", o.stats.gate_host_timing},
                       {"min_samples", o.stats.min_samples}, {"bootstrap", o.stats.bootstrap},
                       {"error_growth", o.error_growth}, {"error_floor", o.error_floor}, {"allow_gone", o.allow_gone}}},
          {"rows", rows}};
}

}  // namespace dsbench::report
