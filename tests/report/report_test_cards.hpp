// Synthetic scorecards for the report tests: rows with chosen samples, dispositions and errors,
// written through the real scorecard writer and read back through load_scorecard.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/report/scorecard_load.hpp"
#include "harness/runner.hpp"

namespace dsbench::report::testing {

// n samples around median_ms with log-normal spread sigma; deterministic in seed (portable: no <random>).
std::vector<double> lognormal_samples(int n, double median_ms, double sigma, uint64_t seed);

// A passed GEMM row of case "gemm_fp8_blockscaled/<shape>" with one output "d".
ResultRow timed_row(const std::string& shape, const std::string& variant, std::vector<double> samples_ms,
                    double cos_diff = 1e-12);
ResultRow untimed_row(const std::string& shape, const std::string& variant, const std::string& disposition,
                      const std::string& reason);

// make_scorecard over the rows, on the CPU backend's context.
nlohmann::json card_of(const std::vector<ResultRow>& rows);

// Writes doc to a fresh temporary file named `name` and returns its path.
std::string write_temp(const nlohmann::json& doc, const std::string& name);
std::string write_temp_text(const std::string& text, const std::string& name);
// write_temp + load_scorecard.
Scorecard load(const nlohmann::json& doc, const std::string& name);

}  // namespace dsbench::report::testing
