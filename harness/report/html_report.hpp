// `dsbench report`: one self-contained HTML file (inline CSS and SVG, no script, no network) for one
// scorecard or several side by side — conformance per op with reasons, throughput charts with % of
// measured ceiling, accuracy against tolerance, cost and power efficiency, a comparison with a
// baseline card, and the environment. Every scorecard string is escaped (plugin names are untrusted).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "harness/report/compare.hpp"
#include "harness/report/scorecard_load.hpp"

namespace dsbench::report {

struct ReportOptions {
  std::string title = "dsbench report";
  size_t baseline = 0;  // index into the cards: the comparison's reference
  // --price NAME=PER_HOUR: NAME is a card label, a device name or a backend name; first match wins.
  std::vector<std::pair<std::string, double>> prices;
  CompareOptions compare;  // for the verdicts against the baseline
};

std::string html_report(const std::vector<Scorecard>& cards, const ReportOptions& opts);

// "NAME=2.49" -> {"NAME", 2.49}; throws Error naming --price for anything else (the last '=' splits,
// so device names may contain '=').
std::pair<std::string, double> parse_price(const std::string& text);

}  // namespace dsbench::report
