// One op's section of the HTML report: conformance counts and reasons, the throughput chart and
// table (% of measured ceiling, per unit cost, per watt), and accuracy against tolerance.
#include <algorithm>
#include <cmath>
#include <map>
#include <tuple>
#include <set>
#include <sstream>

#include "harness/report/escape.hpp"
#include "harness/report/html_charts.hpp"
#include "harness/report/html_parts.hpp"

namespace dsbench::report::html {
namespace {

constexpr const char* kDispositions[] = {"passed", "incorrect", "error", "not_supported", "skipped", "not_verified"};

std::string e(const std::string& s) { return html_escape(s); }
std::string str(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

std::string conformance(const std::vector<Entry>& entries, const std::vector<Scorecard>& cards) {
  std::ostringstream h;
  h << "<table class=\"conformance\"><tr><th>scorecard</th>";
  for (const char* d : kDispositions) h << "<th>" << d << "</th>";
  h << "</tr>\n";
  for (size_t c = 0; c < cards.size(); ++c) {
    std::map<std::string, int> n;
    int total = 0;
    for (const Entry& x : entries)
      if (x.card == c) ++n[x.r->at("disposition").get<std::string>()], ++total;
    if (total == 0) continue;
    h << "<tr><td>" << e(cards[c].label) << "</td>";
    for (const char* d : kDispositions) h << "<td class=\"n " << (n[d] ? d : "zero") << "\">" << n[d] << "</td>";
    h << "</tr>\n";
  }
  h << "</table>\n";
  // Reasons, grouped: the same reason on many cases is one line.
  std::map<std::tuple<size_t, std::string, std::string>, std::vector<std::string>> reasons;
  for (const Entry& x : entries) {
    const std::string d = x.r->at("disposition").get<std::string>();
    if (d == "passed") continue;
    reasons[{x.card, d, x.r->at("reason").get<std::string>()}].push_back(x.r->at("case_id").get<std::string>() + " × " +
                                                                          kernel_of(*x.r));
  }
  if (reasons.empty()) return h.str();
  h << "<ul class=\"reasons\">\n";
  for (const auto& [k, which] : reasons) {
    const auto& [c, d, why] = k;
    h << "<li><span class=\"tag " << d << "\">" << d << "</span> " << e(cards[c].label) << ": "
      << e(why.empty() ? "(no reason given)" : why) << " <span class=\"dim\">(" << which.size() << ": ";
    for (size_t i = 0; i < which.size() && i < 4; ++i) h << (i ? ", " : "") << e(which[i]);
    h << (which.size() > 4 ? ", …" : "") << ")</span></li>\n";
  }
  h << "</ul>\n";
  return h.str();
}

std::string ceiling_text(const nlohmann::json& r) {
  const nlohmann::json& m = r.at("metrics");
  if (!m.contains("ceiling") || !m.at("ceiling").is_object()) return "n/a (no measured ceiling)";
  const nlohmann::json& c = m.at("ceiling");
  std::string s = c.contains("pct") && c.at("pct").is_number() ? fmt("%.0f", c.at("pct").get<double>()) + "% of " : "";
  s += str(c.value("name", nlohmann::json("ceiling")));
  if (c.contains("value") && c.at("value").is_number())
    s += " (" + fmt("%.4g", c.at("value").get<double>()) + " " + str(c.value("unit", nlohmann::json(""))) + ")";
  return s;
}

// Throughput per watt, from timing.avg_watts or metrics.joules_per_op; "" when not measured.
double per_watt(const nlohmann::json& r, double per_s, bool flops) {
  const nlohmann::json& t = r.at("timing");
  if (!t.is_null() && t.contains("avg_watts") && t.at("avg_watts").is_number() && t.at("avg_watts").get<double>() > 0)
    return per_s / t.at("avg_watts").get<double>();
  const nlohmann::json& m = r.at("metrics");
  if (m.contains("joules_per_op") && m.at("joules_per_op").is_number() && m.at("joules_per_op").get<double>() > 0)
    return m.at(flops ? "flops" : "bytes").get<double>() / m.at("joules_per_op").get<double>();
  return 0;
}

}  // namespace

std::string op_section(const std::string& op, int op_index, const std::vector<Entry>& entries,
                       const std::vector<Scorecard>& cards, const ReportOptions& o) {
  bool flops = false;
  for (const Entry& x : entries) flops = flops || x.r->at("metrics").at("flops").get<double>() > 0;
  double max_rate = 0;
  for (const Entry& x : entries) max_rate = std::max(max_rate, per_second(*x.r, flops));
  const double scale = flops ? (max_rate >= 1e12 ? 1e12 : 1e9) : (max_rate >= 1e12 ? 1e12 : 1e9);
  const std::string unit = flops ? (scale == 1e12 ? "TFLOP/s" : "GFLOP/s") : (scale == 1e12 ? "TB/s" : "GB/s");

  std::ostringstream h;
  h << "<section class=\"op\" id=\"op-" << op_index << "\"><h2>" << e(op) << "</h2>\n<h3>Conformance</h3>\n"
    << conformance(entries, cards);

  BarChart chart;
  chart.id = "throughput-" + std::to_string(op_index);
  chart.title = op + ": throughput per case (" + unit + ", median; higher is better)";
  chart.unit = unit;
  std::map<std::string, int> series_index;
  std::map<std::string, size_t> group_index;
  std::ostringstream table;
  table << "<table class=\"throughput\"><tr><th>case</th><th>series</th><th>median ms [p10, p90]</th><th>" << e(unit)
        << "</th><th>% of measured ceiling</th><th>per unit cost</th><th>per watt</th></tr>\n";
  std::vector<AccuracyPoint> accuracy;
  for (const Entry& x : entries) {
    const nlohmann::json& r = *x.r;
    const std::string case_id = r.at("case_id").get<std::string>();
    // Within an op's section the op prefix of case ids ("gemm_fp8_blockscaled/") is noise.
    const std::string shape = case_id.rfind(op + "/", 0) == 0 ? case_id.substr(op.size() + 1) : case_id;
    const std::string kernel = kernel_of(r), variant = kernel.substr(kernel.rfind('.') + 1);
    for (const auto& a : r.at("accuracy")) {
      const double cos = number_of(a.at("cos_diff")), tol = a.at("tolerance").at("cos_diff").get<double>();
      accuracy.push_back({shape + " · " + variant + (cards.size() > 1 ? " · " + cards[x.card].label : ""),
                          tol > 0 ? cos / tol : (cos > 0 ? INFINITY : 0), a.at("passed").get<bool>(),
                          str(a.at("output")) + ": cos_diff " + fmt("%.2g", cos) + " (tol " + fmt("%.0g", tol) + "), " +
                              std::to_string(a.at("mismatches").get<int64_t>()) + "/" +
                              std::to_string(a.at("elements_checked").get<int64_t>()) + " beyond"});
    }
    if (r.at("timing").is_null()) continue;
    const double rate = per_second(r, flops);
    const auto [sit, fresh_series] = series_index.emplace(x.series, static_cast<int>(chart.series.size()));
    if (fresh_series) chart.series.push_back(x.series);
    const auto [git, fresh_group] = group_index.emplace(case_id, chart.groups.size());
    if (fresh_group) chart.groups.push_back({shape, {}});
    const std::string ceiling = ceiling_text(r);
    chart.groups[git->second].bars.push_back({sit->second, rate / scale, ceiling.rfind("n/a", 0) == 0 ? "" : ceiling});
    const nlohmann::json& t = r.at("timing");
    std::string cost = "n/a (no --price)", watt = "n/a (no power measurement)";
    if (const auto p = price_for(o, cards[x.card], x); p && p->second > 0)
      cost = si(rate * 3600.0 / p->second, flops ? "FLOP" : "B") + " per $ (" + p->first + " at $" +
             fmt("%.4g", p->second) + "/h)";
    if (const double w = per_watt(r, rate, flops); w > 0) watt = si(w, flops ? "FLOP/s" : "B/s") + " per W";
    table << "<tr><td>" << e(case_id) << "</td><td><span class=\"swatch\" style=\"background:"
          << series_colour(sit->second) << "\"></span>" << e(x.series) << "</td><td>"
          << fmt("%.4g", t.at("median_ms").get<double>()) << " [" << fmt("%.4g", t.at("p10_ms").get<double>()) << ", "
          << fmt("%.4g", t.at("p90_ms").get<double>()) << "] <span class=\"dim\">n=" << t.at("samples").get<int>()
          << "</span></td><td>" << fmt("%.4g", rate / scale) << "</td><td>" << e(ceiling) << "</td><td>" << e(cost)
          << "</td><td>" << e(watt) << "</td></tr>\n";
  }
  table << "</table>\n";
  h << "<h3>Throughput</h3>\n";
  if (chart.groups.empty()) h << "<p class=\"dim\">No timed results for this op.</p>\n";
  else h << svg_bar_chart(chart) << "<details><summary>Throughput table</summary>\n" << table.str() << "</details>\n";
  h << "<h3>Accuracy against tolerance</h3>\n";
  if (accuracy.empty()) h << "<p class=\"dim\">No checked outputs for this op.</p>\n";
  else h << svg_accuracy_chart("accuracy-" + std::to_string(op_index),
                               op + ": cos_diff / tolerance (log scale; right of the red line fails)", accuracy);
  h << "</section>\n";
  return h.str();
}

}  // namespace dsbench::report::html
