// The readable results table printed while a suite runs: one line per case x kernel.
#pragma once

#include <ostream>
#include <vector>

#include "harness/runner.hpp"

namespace dsbench {

void print_table_header(std::ostream& os);
void print_table_row(std::ostream& os, const ResultRow& r);
// "N results: ..."; `interrupted` (Ctrl-C, SIGTERM) says the run stopped before its end.
void print_summary(std::ostream& os, const std::vector<ResultRow>& rows, bool interrupted = false);

}  // namespace dsbench
