// What `dsbench compare` prints: a text table for terminals and logs, Markdown for CI step
// summaries, JSON for machines. All three lead with the regressions and end with the verdict.
#pragma once

#include <ostream>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/report/compare.hpp"

namespace dsbench::report {

// only_changes: leave out rows whose verdict is "same" with no notes, flags or regressions.
void print_compare_text(std::ostream& os, const CompareResult& r, bool only_changes);
std::string compare_markdown(const CompareResult& r);
nlohmann::json compare_json(const CompareResult& r);

// "x1.213 [x1.180, x1.247]" or "-" when not timed.
std::string ratio_text(const RowComparison& row);

}  // namespace dsbench::report
