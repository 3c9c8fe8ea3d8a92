// The HTML report's cross-card sections: the comparison with the baseline card (best throughput per
// case and its ratio, and compare's verdicts where the cards share case x kernel x device) and the
// environment each card was measured in (versions, build, host, devices, configuration).
#include <map>
#include <sstream>

#include "harness/error.hpp"
#include "harness/report/escape.hpp"
#include "harness/report/html_parts.hpp"

namespace dsbench::report::html {
namespace {

std::string e(const std::string& s) { return html_escape(s); }
std::string str(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

bool usable(const nlohmann::json& r) {
  const std::string d = r.at("disposition").get<std::string>();
  return (d == "passed" || d == "not_verified") && !r.at("timing").is_null();
}

std::string kv(const std::string& k, const std::string& v) { return "<tr><th>" + e(k) + "</th><td>" + e(v) + "</td></tr>\n"; }

}  // namespace

std::string comparison_section(const std::vector<Scorecard>& cards, const std::vector<Entry>& entries,
                               const ReportOptions& o) {
  const size_t base = o.baseline;
  std::vector<std::string> cases;
  std::map<std::string, bool> flops_case;
  std::map<std::pair<std::string, size_t>, std::pair<double, std::string>> best;  // (case, card) -> rate, series
  for (const Entry& x : entries) {
    const std::string c = x.r->at("case_id").get<std::string>();
    if (!flops_case.count(c)) cases.push_back(c);
    flops_case[c] = flops_case[c] || x.r->at("metrics").at("flops").get<double>() > 0;
  }
  for (const Entry& x : entries) {
    if (!usable(*x.r)) continue;
    const std::string c = x.r->at("case_id").get<std::string>();
    const double rate = per_second(*x.r, flops_case[c]);
    auto& slot = best[{c, x.card}];
    if (rate > slot.first) slot = {rate, kernel_of(*x.r) + (x.device.empty() ? "" : " · " + x.device)};
  }
  std::ostringstream h;
  h << "<section id=\"comparison\"><h2>Comparison with the baseline: " << e(cards[base].label) << "</h2>\n"
    << "<p>Best passing kernel per case on each card; the ratio is its throughput over the baseline's best "
       "(above 1: faster than the baseline). Verdicts below use <code>dsbench compare</code>'s statistics on the "
       "results the cards share.</p>\n<table class=\"comparison\"><tr><th>case</th>";
  for (const auto& c : cards) h << "<th>" << e(c.label) << (&c == &cards[base] ? " (baseline)" : "") << "</th>";
  h << "</tr>\n";
  for (const std::string& c : cases) {
    h << "<tr><td>" << e(c) << "</td>";
    const auto b = best.find({c, base});
    for (size_t k = 0; k < cards.size(); ++k) {
      const auto it = best.find({c, k});
      if (it == best.end()) {
        h << "<td class=\"dim\">no passing result</td>";
        continue;
      }
      const double rate = it->second.first;
      h << "<td>" << e(si(rate, flops_case[c] ? "FLOP/s" : "B/s"));
      if (k != base && b != best.end() && b->second.first > 0) {
        const double ratio = rate / b->second.first;
        h << " <b class=\"" << (ratio >= 1 ? "up" : "down") << "\">×" << fmt("%.3g", ratio) << "</b>";
      }
      h << "<br><span class=\"dim\">" << e(it->second.second) << "</span></td>";
    }
    h << "</tr>\n";
  }
  h << "</table>\n<h3>Verdicts against the baseline</h3>\n<ul class=\"verdicts\">\n";
  for (size_t k = 0; k < cards.size(); ++k) {
    if (k == base) continue;
    h << "<li><b>" << e(cards[k].label) << "</b>: ";
    try {
      const CompareResult r = compare_scorecards(cards[base], cards[k], o.compare);
      for (const auto& [v, n] : r.verdicts) h << n << " " << e(v) << "; ";
      const int n = r.regressions + (r.suite_slower() ? 1 : 0);
      h << (n ? "<span class=\"tag incorrect\">" + std::to_string(n) + " regression(s)</span>"
              : std::string("<span class=\"tag passed\">no regressions</span>"));
      const RatioEstimate& s = r.suite.verdict.estimate;
      h << "<ul>";
      if (r.suite.results > 0)
        h << "<li>all " << r.suite.results << " timed results together: median ×" << fmt("%.3f", s.ratio) << " [×"
          << fmt("%.3f", s.lo) << ", ×" << fmt("%.3f", s.hi) << "] <b>" << e(r.suite.verdict.verdict)
          << "</b>; run-to-run spread " << fmt("%.1f", r.suite.spread * 100) << "%</li>";
      for (const auto& env : r.environment) h << "<li class=\"dim\">⚠ " << e(env) << "</li>";
      for (const auto& row : r.rows)
        for (const auto& g : row.regressions) h << "<li>" << e(row.key) << ": " << e(g) << "</li>";
      h << "</ul>";
    } catch (const Error& err) {
      h << "<span class=\"dim\">" << e(err.what()) << "</span>";
    }
    h << "</li>\n";
  }
  h << "</ul></section>\n";
  return h.str();
}

std::string environment_section(const std::vector<Scorecard>& cards) {
  std::ostringstream h;
  h << "<section id=\"environment\"><h2>Environment and versions</h2>\n<div class=\"cards\">\n";
  for (const Scorecard& card : cards) {
    const nlohmann::json& c = card.doc.at("context");
    const nlohmann::json& t = c.at("tool");
    h << "<div class=\"card\"><h3>" << e(card.label) << "</h3>\n<table class=\"kv\">\n"
      << kv("file", card.path) << kv("schema", card.doc.at("schema_version").get<std::string>())
      << kv("dsbench", str(t.at("version")) + " · " + str(t.at("git_commit")) + (t.at("git_dirty").get<bool>() ? " (dirty)" : ""))
      << kv("build", str(c.at("build").at("compiler")) + " · " + str(c.at("build").at("build_type")) + " · backends " +
                         str(c.at("build").at("backends")))
      << kv("date", str(c.at("date"))) << kv("host", str(c.at("host"))) << kv("os", str(c.at("os")))
      << kv("suite", str(c.at("suite").at("name")) + " (" + str(c.at("suite").at("path")) + ")")
      << kv("backend", str(c.at("backend"))) << kv("seed", str(c.at("seed"))) << kv("command", str(c.at("command_line")))
      << kv("timing config", c.at("config").at("timing").dump()) << kv("verification config", c.at("config").at("verification").dump());
    for (const auto& b : c.at("backends")) {
      std::string info = b.at("available").get<bool>() ? "available" : "unavailable: " + str(b.at("reason"));
      for (const auto& [k, v] : b.at("build_info").items()) info += " · " + k + " " + str(v);
      h << kv("backend " + str(b.at("name")), info);
      for (const auto& d : b.at("devices")) {
        std::string props = str(d.at("name")) + " · fp8 " + str(d.at("fp8_e4m3"));
        for (const auto& [k, v] : d.at("properties").items()) props += " · " + k + " " + str(v);
        h << kv(str(b.at("name")) + " device " + str(d.at("index")), props);
      }
    }
    for (const auto& err : card.doc.at("errors")) h << kv("run-level error", str(err));
    h << "</table></div>\n";
  }
  h << "</div></section>\n";
  return h.str();
}

}  // namespace dsbench::report::html
