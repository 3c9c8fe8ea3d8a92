// JUnit XML for a scorecard: one <testsuite> per op, one <testcase> per case x kernel. The layout
// follows what Jenkins, GitLab and the GitHub test-reporter actions read: classname, name, time,
// <failure message type>, <skipped message>, <properties>, <system-out>.
#include <cstdio>
#include <map>
#include <sstream>

#include "harness/report/escape.hpp"
#include "harness/report/run_summaries.hpp"
#include "harness/report/scorecard_load.hpp"

namespace dsbench::report {
namespace {

std::string g(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

std::string str(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

double seconds_of(const nlohmann::json& r) {
  if (r.at("timing").is_null()) return 0.0;
  double ms = 0;
  for (const auto& v : r.at("timing").at("raw_ms")) ms += v.get<double>();
  return ms / 1e3;
}

std::string attr(const char* name, const std::string& value) {
  return std::string(" ") + name + "=\"" + xml_escape(value) + "\"";
}

}  // namespace

std::string failure_message(const nlohmann::json& r) {
  const std::string d = r.at("disposition").get<std::string>();
  if (d != "incorrect") return d == "passed" ? "" : r.at("reason").get<std::string>();
  std::string msg;
  for (const auto& a : r.at("accuracy")) {
    if (a.at("passed").get<bool>()) continue;
    const nlohmann::json& t = a.at("tolerance");
    const double cos = number_of(a.at("cos_diff")), cos_tol = t.at("cos_diff").get<double>();
    std::string m = a.at("output").get<std::string>() + ": cos_diff " + g(cos) + (cos > cos_tol ? " > " : " <= ") +
                    "tolerance " + g(cos_tol);
    const auto bad = a.at("mismatches").get<int64_t>(), nonfinite = a.at("nonfinite_mismatches").get<int64_t>();
    if (bad > 0)
      m += "; " + std::to_string(bad) + " of " + std::to_string(a.at("elements_checked").get<int64_t>()) +
           " checked elements beyond abs " + g(number_of(t.at("abs_effective"))) + " and rel " + g(t.at("rel").get<double>()) +
           " (max_abs_err " + g(number_of(a.at("max_abs_err"))) + ", max_rel_err " + g(number_of(a.at("max_rel_err"))) + ")";
    if (nonfinite > 0) m += "; " + std::to_string(nonfinite) + " NaN/Inf where the reference differs";
    const nlohmann::json& w = a.at("worst");
    m += "; worst element " + w.at("index").dump() + ": expected " + str(w.at("expected")) + ", got " + str(w.at("actual"));
    msg += (msg.empty() ? "" : " | ") + m;
  }
  return msg.empty() ? r.at("reason").get<std::string>() : msg;
}

std::string scorecard_junit(const nlohmann::json& card) {
  const nlohmann::json& ctx = card.at("context");
  std::map<std::string, std::vector<const nlohmann::json*>> by_op;
  for (const auto& r : card.at("results")) by_op[r.at("op").get<std::string>().empty() ? "(no op)" : r.at("op").get<std::string>()].push_back(&r);
  std::ostringstream props;
  props << "    <properties>\n";
  for (const auto& [k, v] : std::map<std::string, std::string>{
           {"suite", str(ctx.at("suite").at("name"))}, {"backend", str(ctx.at("backend"))}, {"host", str(ctx.at("host"))},
           {"git_commit", str(ctx.at("tool").at("git_commit")) + (ctx.at("tool").at("git_dirty").get<bool>() ? "+dirty" : "")},
           {"seed", str(ctx.at("seed"))}, {"date", str(ctx.at("date"))}})
    props << "      <property" << attr("name", k) << attr("value", v) << "/>\n";
  props << "    </properties>\n";

  std::ostringstream body;
  int tests = 0, failures = 0, skipped = 0;
  double total_s = 0;
  for (const auto& [op, rows] : by_op) {
    int f = 0, s = 0;
    double t = 0;
    std::ostringstream cases;
    for (const nlohmann::json* r : rows) {
      const std::string d = r->at("disposition").get<std::string>();
      const double secs = seconds_of(*r);
      t += secs;
      cases << "    <testcase" << attr("classname", "dsbench." + op) << attr("name", r->at("case_id").get<std::string>() + " [" + kernel_of(*r) + "]")
            << attr("time", g(secs));
      if (d == "incorrect" || d == "error") {
        ++f;
        cases << ">\n      <failure" << attr("type", d) << attr("message", failure_message(*r)) << ">"
              << xml_escape(r->at("reason").get<std::string>()) << "</failure>\n    </testcase>\n";
      } else if (d == "not_supported" || d == "skipped") {
        ++s;
        cases << ">\n      <skipped" << attr("message", d + ": " + r->at("reason").get<std::string>()) << "/>\n    </testcase>\n";
      } else if (d == "not_verified") {
        cases << ">\n      <system-out>" << xml_escape("not verified: " + r->at("reason").get<std::string>())
              << "</system-out>\n    </testcase>\n";
      } else {
        cases << "/>\n";
      }
    }
    body << "  <testsuite" << attr("name", "dsbench." + str(ctx.at("suite").at("name")) + "." + op)
         << attr("tests", std::to_string(rows.size())) << attr("failures", std::to_string(f)) << attr("errors", "0")
         << attr("skipped", std::to_string(s)) << attr("time", g(t)) << ">\n"
         << props.str() << cases.str() << "  </testsuite>\n";
    tests += static_cast<int>(rows.size());
    failures += f;
    skipped += s;
    total_s += t;
  }
  // Run-level errors (the run could not start, or was interrupted) are a failing testcase of their own.
  const nlohmann::json& errors = card.at("errors");
  if (!errors.empty()) {
    std::string all;
    for (const auto& e : errors) all += (all.empty() ? "" : "; ") + e.get<std::string>();
    body << "  <testsuite" << attr("name", "dsbench.run") << attr("tests", "1") << attr("failures", "0")
         << attr("errors", "1") << attr("skipped", "0") << attr("time", "0") << ">\n"
         << "    <testcase" << attr("classname", "dsbench.run") << attr("name", "run-level errors") << attr("time", "0")
         << ">\n      <error" << attr("type", "run") << attr("message", all) << "/>\n    </testcase>\n  </testsuite>\n";
  }
  std::ostringstream out;
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites" << attr("name", "dsbench")
      << attr("tests", std::to_string(tests + (errors.empty() ? 0 : 1))) << attr("failures", std::to_string(failures))
      << attr("errors", errors.empty() ? "0" : "1") << attr("skipped", std::to_string(skipped)) << attr("time", g(total_s))
      << ">\n" << body.str() << "</testsuites>\n";
  return out.str();
}

}  // namespace dsbench::report
