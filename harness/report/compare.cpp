#include "harness/report/compare.hpp"

#include <cmath>
#include <cstdio>
#include <set>

#include "harness/error.hpp"
#include "harness/rng.hpp"
#include "harness/suite.hpp"

namespace dsbench::report {
namespace {

bool timed(const nlohmann::json* r) { return r != nullptr && !r->at("timing").is_null(); }

std::string sci(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2g", v);
  return buf;
}

// passed -> incorrect, error, not_supported; incorrect -> passed etc. become regressions or notes.
void compare_dispositions(RowComparison& row) {
  const std::string b = row.base_disposition(), n = row.new_disposition();
  if (b == n) return;
  const std::string change = b + " -> " + n;
  const std::string why = row.next->at("reason").get<std::string>();
  const std::string because = why.empty() ? "" : ": " + why;
  const bool had_result = b == "passed" || b == "not_verified" || b == "incorrect";
  if (n == "incorrect") row.regressions.push_back("accuracy: " + change + because);
  else if (n == "error") row.regressions.push_back("coverage: " + change + because);
  else if (n == "not_supported" && had_result) row.regressions.push_back("coverage: " + change + because);
  else if (b == "incorrect" || b == "error") row.notes.push_back("fixed: " + change);
  else row.notes.push_back(change + because);
}

// Per output: cos_diff (the one error metric every op reports) grown beyond error_growth x, once it
// matters (above error_floor x the tolerance; below that it varies by orders of magnitude between seeds).
void compare_accuracy(RowComparison& row, const CompareOptions& o) {
  if (row.base_disposition() != "passed" || row.new_disposition() != "passed") return;
  for (const auto& na : row.next->at("accuracy")) {
    for (const auto& ba : row.base->at("accuracy")) {
      if (ba.at("output") != na.at("output")) continue;
      const double before = number_of(ba.at("cos_diff")), after = number_of(na.at("cos_diff"));
      const double tol = na.at("tolerance").at("cos_diff").get<double>();
      const double floor = o.error_floor * tol;
      if (std::isfinite(before) && std::isfinite(after) && after > floor && after > o.error_growth * before)
        row.regressions.push_back("accuracy: " + na.at("output").get<std::string>() + " cos_diff " + sci(before) +
                                  " -> " + sci(after) + " (grew more than " + sci(o.error_growth) +
                                  "x and is above " + sci(o.error_floor * 100) + "% of the tolerance " + sci(tol) + ")");
    }
  }
}

// Timed on the host (a steady clock around CPU work) rather than with device events.
bool host_timed(const RowComparison& row) {
  const nlohmann::json* r = row.base ? row.base : row.next;
  if (r == nullptr) return false;
  const nlohmann::json& t = r->at("timing");
  return !t.is_null() && t.at("method").get<std::string>().rfind("host", 0) == 0;
}

// The floor for a row's timing method: host clocks on a shared CPU move more between runs than GPU events.
double configured_floor(const RowComparison& row, const CompareOptions& o) {
  return host_timed(row) ? o.stats.host_noise_floor : o.stats.noise_floor;
}

// Results scatter by more than the configured floor between two runs of (presumably) the same code.
bool noisy_machine(const SuiteShift& scatter, double configured_floor) {
  return scatter.results >= kMinResultsForSpread && scatter.spread > std::log1p(configured_floor);
}

// First pass: the estimate (interval with the configured floor) or why there is none.
void estimate_timing(RowComparison& row, const CompareOptions& o) {
  if (!timed(row.base) || !timed(row.next)) {
    row.verdict = "untimed";
    return;
  }
  const auto base_ms = row.base->at("timing").at("raw_ms").get<std::vector<double>>();
  const auto new_ms = row.next->at("timing").at("raw_ms").get<std::vector<double>>();
  if (base_ms.empty() || new_ms.empty()) {
    row.verdict = "noisy";
    row.notes.push_back(std::string("no raw samples in the ") + (base_ms.empty() ? "base" : "new") + " scorecard");
    return;
  }
  StatsOptions stats = o.stats;
  stats.noise_floor = configured_floor(row, o);
  row.estimate = estimate_ratio(base_ms, new_ms, stats, hash_name(row.key));
}

// Second pass, once the suite's run-to-run spread is known: the interval under the floor in force, the verdict.
void classify_timing(RowComparison& row, const StatsOptions& stats, double configured_floor, const SuiteShift& scatter) {
  if (!row.estimate) return;
  if (stats.noise_floor != configured_floor) {
    const auto base_ms = row.base->at("timing").at("raw_ms").get<std::vector<double>>();
    const auto new_ms = row.next->at("timing").at("raw_ms").get<std::vector<double>>();
    row.estimate = estimate_ratio(base_ms, new_ms, stats, hash_name(row.key));
  }
  TimingVerdict v = classify(*row.estimate, row.threshold, stats);
  if (stats.measured_floor && noisy_machine(scatter, configured_floor) && (v.verdict == "slower" || v.verdict == "faster")) {
    // Between-run noise here is heavy-tailed (a 50 us kernel moved 2x between processes on the CI
    // VM while steady within each): no single-result rule can tell its tail from a code change.
    char buf[400];
    std::snprintf(buf, sizeof buf,
                  "%s beyond the measured noise (x%.4g [x%.4g, x%.4g]), but this comparison's results scatter by "
                  "%.1f%%, more than the %.3g%% floor: on so noisy a machine one result's timing does not gate "
                  "(the suite-wide verdict does; compare on a quieter machine, or pass --fixed-noise-floor)",
                  v.verdict == "slower" ? "slower" : "faster", row.estimate->ratio, row.estimate->lo,
                  row.estimate->hi, scatter.spread * 100, configured_floor * 100);
    v = TimingVerdict{"noisy", buf, *row.estimate};
  } else if (!stats.gate_host_timing && host_timed(row) && (v.verdict == "slower" || v.verdict == "faster")) {
    char buf[400];
    std::snprintf(buf, sizeof buf,
                  "%s (x%.4g [x%.4g, x%.4g]), but a host-timed result: on a shared CPU host single results of "
                  "identical code move this far between runs, so it does not gate (--gate-host-timing on a "
                  "dedicated machine); the suite-wide verdict does",
                  v.verdict.c_str(), row.estimate->ratio, row.estimate->lo, row.estimate->hi);
    v = TimingVerdict{"noisy", buf, *row.estimate};
  }
  row.verdict = v.verdict;
  if (!v.why.empty()) row.notes.push_back(v.why);
  if (v.verdict == "slower") {
    char buf[160];
    std::snprintf(buf, sizeof buf, "slower: median x%.4g (%.0f%% interval x%.4g to x%.4g), threshold %.1f%%",
                  row.estimate->ratio, stats.confidence * 100, row.estimate->lo, row.estimate->hi,
                  row.threshold * 100);
    row.regressions.insert(row.regressions.begin(), buf);
  }
}

std::string about(const Scorecard& card) {
  const nlohmann::json& c = card.doc.at("context");
  return card.path + " (suite " + c.at("suite").at("name").get<std::string>() + ", backend " +
         c.at("backend").get<std::string>() + ", " + c.at("date").get<std::string>() + ", commit " +
         c.at("tool").at("git_commit").get<std::string>().substr(0, 12) +
         (c.at("tool").at("git_dirty").get<bool>() ? "+dirty" : "") + ")";
}

}  // namespace

std::string RowComparison::base_disposition() const { return base ? base->at("disposition").get<std::string>() : "-"; }
std::string RowComparison::new_disposition() const { return next ? next->at("disposition").get<std::string>() : "-"; }

double threshold_for(const CompareOptions& o, const std::string& op, const std::string& case_id) {
  for (const auto& [pattern, value] : o.op_thresholds)
    if (glob_match(pattern, op) || glob_match(pattern, case_id)) return value;
  return o.threshold;
}

double parse_fraction(const std::string& text, const std::string& what) {
  std::string s = text;
  const bool percent = !s.empty() && s.back() == '%';
  if (percent) s.pop_back();
  size_t used = 0;
  double v = NAN;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (s.empty() || used != s.size() || !std::isfinite(v))
    DSB_THROW(what + ": \"" + text + "\" is not a number (write 0.05 or 5%)");
  if (percent) v /= 100.0;
  if (v < 0 || v > 10) DSB_THROW(what + ": \"" + text + "\" is outside 0 to 1000%");
  return v;
}

CompareResult compare_scorecards(const Scorecard& base, const Scorecard& next, const CompareOptions& o) {
  CompareResult out;
  out.base_path = base.path;
  out.new_path = next.path;
  out.base_about = about(base);
  out.new_about = about(next);
  out.options = o;
  std::map<std::string, const nlohmann::json*> new_by_key;
  for (const auto& r : next.doc.at("results")) new_by_key[result_key(r)] = &r;
  std::set<std::string> matched;
  for (const auto& r : base.doc.at("results")) {
    RowComparison row;
    row.key = result_key(r);
    row.base = &r;
    if (const auto it = new_by_key.find(row.key); it != new_by_key.end()) row.next = it->second;
    out.rows.push_back(row);
    if (row.next) matched.insert(row.key);
  }
  if (matched.empty())
    DSB_THROW("no overlapping results: " + base.path + " (" + std::to_string(base.doc.at("results").size()) +
              " results, suite " + base.doc.at("context").at("suite").at("name").get<std::string>() + ", backend " +
              base.doc.at("context").at("backend").get<std::string>() + ") and " + next.path + " (" +
              std::to_string(next.doc.at("results").size()) + " results, suite " +
              next.doc.at("context").at("suite").at("name").get<std::string>() + ", backend " +
              next.doc.at("context").at("backend").get<std::string>() +
              ") share no (case, kernel, device); nothing can be compared");
  for (const auto& r : next.doc.at("results")) {
    if (matched.count(result_key(r))) continue;
    RowComparison row;
    row.key = result_key(r);
    row.next = &r;
    out.rows.push_back(row);
  }
  out.environment = environment_differences(base.doc, next.doc);
  for (RowComparison& row : out.rows) {
    const nlohmann::json& any = row.base ? *row.base : *row.next;
    row.case_id = any.at("case_id").get<std::string>();
    row.op = any.at("op").get<std::string>();
    row.kernel = kernel_of(any);
    row.device = device_of(any);
    row.threshold = threshold_for(o, row.op, row.case_id);
    if (row.base && row.next) estimate_timing(row, o);
  }
  // One run per side cannot show how much a second run moves, but the suite's results can: when
  // they scatter by more than the configured floor, that measured noise is the floor in force.
  // The configured floor of the card's timing method (a card holds one backend's results).
  out.configured_floor = o.stats.noise_floor;
  for (const RowComparison& row : out.rows)
    if (row.estimate) {
      out.configured_floor = configured_floor(row, o);
      break;
    }
  // The suite-wide view keeps the device floor: a median over many results averages the per-result
  // noise that the host floor is for.
  const SuiteShift scatter = suite_shift(out.rows, o);
  out.noise_floor = out.configured_floor;
  for (RowComparison& row : out.rows) {
    StatsOptions stats = o.stats;
    const double configured = configured_floor(row, o);
    stats.noise_floor = configured;
    if (o.stats.measured_floor && row.estimate)
      stats.noise_floor = measured_noise_floor(scatter.spread, scatter.results, o.stats.confidence, row.threshold,
                                               configured);
    out.noise_floor = std::max(out.noise_floor, stats.noise_floor);
    if (!row.next) {
      row.verdict = "gone";
      if (!o.allow_gone) row.regressions.push_back("coverage: missing from the new scorecard (--allow-gone accepts)");
    } else if (!row.base) {
      row.verdict = "new";
    } else {
      classify_timing(row, stats, configured, scatter);
      compare_dispositions(row);
      compare_accuracy(row, o);
      row.flags = measurement_flags(base.doc, *row.base, next.doc, *row.next);
    }
    ++out.verdicts[row.verdict];
    if (!row.regressions.empty()) ++out.regressions;
  }
  out.suite = suite_shift(out.rows, o);
  return out;
}

}  // namespace dsbench::report
