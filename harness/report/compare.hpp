// `dsbench compare`'s engine: match two scorecards' results by (case, kernel, device) and give each
// a timing verdict (faster / slower / same / noisy / new / gone), accuracy changes (passed ->
// incorrect, error grown beyond a factor), coverage changes (newly not_supported or error), and
// flags where the two measurements are not like for like (other host, device, clock, throttling).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/report/compare_stats.hpp"
#include "harness/report/scorecard_load.hpp"

namespace dsbench::report {

struct CompareOptions {
  double threshold = 0.05;  // a slowdown must exceed this fraction to count
  // (glob over op name or case id, threshold), first match wins: --op-threshold 'mla_decode=0.08'
  std::vector<std::pair<std::string, double>> op_thresholds;
  double error_growth = 4.0;  // cos_diff may grow by this factor before it counts (4x ~ 2x the L2 error)
  double error_floor = 0.01;  // errors below this fraction of the tolerance are not compared
  bool allow_gone = false;    // results missing from NEW are reported but are not regressions
  StatsOptions stats;
};

struct RowComparison {
  std::string key, case_id, op, kernel, device;
  const nlohmann::json* base = nullptr;  // into the base card; null for "new"
  const nlohmann::json* next = nullptr;  // into the new card; null for "gone"
  std::string verdict;  // faster | slower | same | noisy | new | gone | untimed
  double threshold = 0;
  std::optional<RatioEstimate> estimate;
  std::vector<std::string> regressions;  // why this row fails the gate (empty: it does not)
  std::vector<std::string> notes;        // why noisy, improvements, informational changes
  std::vector<std::string> flags;        // not like for like: throttled, clocks, cache, device
  std::string base_disposition() const;
  std::string new_disposition() const;
};

// All timed results together: the median of their log-ratios with a bootstrap-over-results
// interval. One run per side cannot show run-to-run noise, but many results can: `spread` (robust
// SD of the log-ratios) is the machine's run-to-run noise when the code is identical, and a
// suite-wide shift (a compiler flag, a throttled device) is caught even when each result is noisy.
struct SuiteShift {
  int results = 0;       // timed results with enough samples on both sides
  double spread = 0;     // 1.4826 * MAD of the log-ratios (0.05 ~ 5%)
  TimingVerdict verdict; // verdict.estimate.ratio/lo/hi over results; "noisy" below 5 results
};

struct CompareResult {
  std::string base_path, new_path;
  std::string base_about, new_about;     // path (suite, backend, date, commit)
  std::vector<std::string> environment;  // differences between the two runs' contexts
  std::vector<RowComparison> rows;       // base order, then new-only rows
  std::map<std::string, int> verdicts;   // count per verdict
  int regressions = 0;                   // rows with at least one regression
  SuiteShift suite;                      // a suite-wide "slower" is a regression too
  double noise_floor = 0;                // the largest floor in force: the configured one, or the measured one
  double configured_floor = 0;           // the configured floor of the card's timing method
  CompareOptions options;
  bool suite_slower() const { return suite.verdict.verdict == "slower"; }
  int exit_code() const { return regressions > 0 || suite_slower() ? 1 : 0; }
};

// Throws dsbench::Error (exit 2) when the cards share no (case, kernel, device).
CompareResult compare_scorecards(const Scorecard& base, const Scorecard& next, const CompareOptions& opts);

// The threshold for a row: the first --op-threshold pattern matching its op or case id, else the default.
double threshold_for(const CompareOptions& opts, const std::string& op, const std::string& case_id);

// "0.05" or "5%" -> 0.05; throws Error naming `what` for anything else or a value outside [0, 10].
double parse_fraction(const std::string& text, const std::string& what);

// The suite-wide shift over rows that have a timing estimate (compare_suite.cpp).
SuiteShift suite_shift(const std::vector<RowComparison>& rows, const CompareOptions& opts);

// Differences between two runs' contexts that make timings not like for like (compare_env.cpp).
std::vector<std::string> environment_differences(const nlohmann::json& base_card, const nlohmann::json& new_card);
// Per-row: either side throttled, different clocks, cache mode, timing method, device name.
std::vector<std::string> measurement_flags(const nlohmann::json& base_card, const nlohmann::json& base_row,
                                           const nlohmann::json& new_card, const nlohmann::json& new_row);

}  // namespace dsbench::report
