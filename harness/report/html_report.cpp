// The HTML report page: head (inline CSS, a Content-Security-Policy that forbids scripts and network
// loads as a second line of defence behind escaping), the summary of each card, the comparison, one
// section per op, the environment. Sections come from html_ops.cpp and html_context.cpp.
#include "harness/report/html_report.hpp"

#include <chrono>
#include <cmath>
#include <map>
#include <cstdio>
#include <ctime>
#include <sstream>

#include "harness/build_id.hpp"
#include "harness/error.hpp"
#include "harness/report/escape.hpp"
#include "harness/report/html_parts.hpp"

namespace dsbench::report {
namespace html {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string si(double v, const std::string& unit) {
  static const char* kPrefix[] = {"", "k", "M", "G", "T", "P", "E"};
  int i = 0;
  while (std::abs(v) >= 1000 && i < 6) v /= 1000, ++i;
  return fmt("%.3g", v) + " " + kPrefix[i] + unit;
}

double per_second(const nlohmann::json& r, bool flops) {
  if (r.at("timing").is_null()) return 0;
  const double ms = r.at("timing").at("median_ms").get<double>();
  return ms > 0 ? r.at("metrics").at(flops ? "flops" : "bytes").get<double>() / (ms * 1e-3) : 0;
}

std::optional<std::pair<std::string, double>> price_for(const ReportOptions& o, const Scorecard& card, const Entry& e) {
  for (const auto& [name, price] : o.prices)
    if (name == card.label || (!e.device.empty() && name == e.device) || name == e.r->at("backend").get<std::string>())
      return std::make_pair(name, price);
  return std::nullopt;
}

}  // namespace html

namespace {

constexpr const char* kStyle = R"css(
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d1d1f;margin:0;background:#f6f7f9}
main{max-width:1280px;margin:0 auto;padding:20px 28px 60px;background:#fff}
h1{font-size:24px;margin:8px 0 4px}h2{font-size:19px;border-bottom:2px solid #e3e6ea;padding-bottom:4px;margin-top:34px}
h3{font-size:15px;margin:18px 0 6px;color:#333}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}th,td{border:1px solid #dde1e6;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f0f2f5;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
td.zero{color:#aaa}td.passed{background:#e6f4ea}td.incorrect,td.error{background:#fde7e7;font-weight:600}
td.not_supported,td.skipped,td.not_verified{background:#fff6e0}
.tag{display:inline-block;padding:0 6px;border-radius:8px;font-size:12px;background:#eee}
.tag.passed{background:#d7f0de}.tag.incorrect,.tag.error{background:#f9d2d2}.tag.not_supported,.tag.skipped,.tag.not_verified{background:#fbecc4}
.dim{color:#6b7280}.up{color:#137333}.down{color:#b3261e}
.swatch{display:inline-block;width:10px;height:10px;margin-right:6px;border-radius:2px}
svg.chart{display:block;max-width:1100px;margin:8px 0 4px;background:#fcfcfd;border:1px solid #eceef1}
svg text{font:12px system-ui,sans-serif;fill:#222}svg text.ctitle{font-weight:600;font-size:13px}
svg text.value,svg text.axis-label{fill:#444;font-size:11px}svg text.legend{font-size:12px}
svg line.axis{stroke:#888}svg line.grid{stroke:#e4e6ea}svg line.tolerance{stroke:#d93025;stroke-width:2}
svg rect.pass{fill:#34a853}svg rect.fail{fill:#d93025}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:14px}
.card{border:1px solid #e3e6ea;border-radius:6px;padding:4px 12px}table.kv th{width:150px}table.kv td{word-break:break-word}
table.comparison{width:100%;table-layout:fixed}table.comparison td{word-break:break-word}
ul.reasons li,ul.verdicts li{margin:2px 0}nav a{margin-right:12px}code{background:#f0f2f5;padding:0 3px}
)css";

std::string series_name(const Scorecard& card, const nlohmann::json& r, const std::string& device, bool several) {
  return (several ? card.label + ": " : "") + kernel_of(r) + (device.empty() ? "" : " · " + device);
}

}  // namespace

std::pair<std::string, double> parse_price(const std::string& text) {
  const size_t eq = text.rfind('=');
  if (eq == std::string::npos || eq == 0)
    DSB_THROW("--price: \"" + text + "\" is not NAME=PER_HOUR (NAME: a card label, device name or backend)");
  const std::string value = text.substr(eq + 1);
  size_t used = 0;
  double v = -1;
  try {
    v = std::stod(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (value.empty() || used != value.size() || !(v > 0) || !std::isfinite(v))
    DSB_THROW("--price: \"" + value + "\" in \"" + text + "\" is not a positive price per hour");
  return {text.substr(0, eq), v};
}

std::string html_report(const std::vector<Scorecard>& cards, const ReportOptions& o) {
  DSB_REQUIRE(!cards.empty() && o.baseline < cards.size(), "html_report: no cards, or baseline out of range");
  using namespace html;
  const bool several = cards.size() > 1;
  std::vector<std::string> ops;
  std::map<std::string, std::vector<Entry>> by_op;
  for (size_t c = 0; c < cards.size(); ++c)
    for (const auto& r : cards[c].doc.at("results")) {
      const std::string op = r.at("op").get<std::string>().empty() ? "(no op)" : r.at("op").get<std::string>();
      if (!by_op.count(op)) ops.push_back(op);
      const std::string dev = device_name(cards[c].doc, r);
      by_op[op].push_back({c, &r, dev, series_name(cards[c], r, dev, several)});
    }
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));

  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    << "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
    << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"generator\" content=\"dsbench "
    << html_escape(build_id().version) << "\">\n<title>" << html_escape(o.title) << "</title>\n<style>" << kStyle
    << "</style></head>\n<body><main>\n<h1>" << html_escape(o.title) << "</h1>\n<p class=\"dim\">Generated " << date
    << " by dsbench " << html_escape(build_id().version) << " from " << cards.size()
    << " scorecard(s). Self-contained: no scripts, no network.</p>\n<nav>";
  for (size_t i = 0; i < ops.size(); ++i) h << "<a href=\"#op-" << i << "\">" << html_escape(ops[i]) << "</a>";
  if (several) h << "<a href=\"#comparison\">comparison</a>";
  h << "<a href=\"#environment\">environment</a></nav>\n<h2>Summary</h2>\n<table class=\"summary\"><tr><th>scorecard</th>"
       "<th>suite</th><th>backend · device</th><th>date</th><th>results</th><th>passed</th><th>incorrect</th><th>error</th>"
       "<th>not supported</th><th>skipped</th><th>not verified</th><th>exit code</th></tr>\n";
  for (const Scorecard& card : cards) {
    const nlohmann::json& ctx = card.doc.at("context");
    const nlohmann::json& n = card.doc.at("summary").at("by_disposition");
    std::string devices;
    for (const auto& r : card.doc.at("results")) {
      const std::string d = device_name(card.doc, r);
      if (!d.empty() && devices.find(d) == std::string::npos) devices += (devices.empty() ? "" : ", ") + d;
    }
    h << "<tr><td><b>" << html_escape(card.label) << "</b></td><td>" << html_escape(ctx.at("suite").at("name").get<std::string>())
      << "</td><td>" << html_escape(ctx.at("backend").get<std::string>() + (devices.empty() ? "" : " · " + devices))
      << "</td><td>" << html_escape(ctx.at("date").get<std::string>()) << "</td><td class=\"n\">"
      << card.doc.at("results").size() << "</td>";
    for (const char* d : {"passed", "incorrect", "error", "not_supported", "skipped", "not_verified"})
      h << "<td class=\"n " << (n.at(d).get<int>() ? d : "zero") << "\">" << n.at(d).get<int>() << "</td>";
    h << "<td class=\"n\">" << card.doc.at("exit_code").get<int>() << "</td></tr>\n";
  }
  h << "</table>\n";
  if (several) h << comparison_section(cards, [&] {
    std::vector<Entry> all;
    for (const auto& op : ops) all.insert(all.end(), by_op[op].begin(), by_op[op].end());
    return all;
  }(), o);
  for (size_t i = 0; i < ops.size(); ++i) h << op_section(ops[i], static_cast<int>(i), by_op[ops[i]], cards, o);
  h << environment_section(cards) << "</main></body></html>\n";
  return h.str();
}

}  // namespace dsbench::report
