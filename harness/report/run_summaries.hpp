// A scorecard as CI systems read it: JUnit XML (each case x kernel one testcase; incorrect and error
// are failures whose message names the metric and its threshold; not_supported and skipped are
// skipped) and a Markdown summary for CI step summaries. Both are pure functions of the scorecard.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace dsbench::report {

std::string scorecard_junit(const nlohmann::json& scorecard);
std::string scorecard_markdown(const nlohmann::json& scorecard);

// Why a result failed, with the measured metric beside its threshold, e.g. "d: cos_diff 3.1e-03 >
// tolerance 1e-05; 17 of 32768 checked elements beyond abs 0.0142 and rel 0.00785 (max_abs_err 0.5)".
// The row's reason for error rows; "" for passing rows.
std::string failure_message(const nlohmann::json& result);

}  // namespace dsbench::report
