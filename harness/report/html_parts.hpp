// Internal to the HTML report: the pieces html_report.cpp assembles (per-op sections in html_ops.cpp,
// environment and comparison in html_context.cpp) and the formatting helpers they share.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness/report/html_report.hpp"

namespace dsbench::report::html {

// One result of one card, with what the report derives from it.
struct Entry {
  size_t card = 0;               // index into the cards
  const nlohmann::json* r = nullptr;
  std::string device;            // device name from the card's context ("" when none)
  std::string series;            // chart legend: "[card:] kernel · device"
};

std::string fmt(const char* f, double v);
// 1.23e13 with unit "FLOP" -> "12.3 TFLOP"
std::string si(double v, const std::string& unit);
// Throughput in units per second: FLOP/s when the op counts FLOPs, else bytes/s; 0 when untimed.
double per_second(const nlohmann::json& r, bool flops);
// The price per hour that applies to an entry, and the name it matched.
std::optional<std::pair<std::string, double>> price_for(const ReportOptions& o, const Scorecard& card, const Entry& e);

std::string op_section(const std::string& op, int op_index, const std::vector<Entry>& entries,
                       const std::vector<Scorecard>& cards, const ReportOptions& o);
std::string comparison_section(const std::vector<Scorecard>& cards, const std::vector<Entry>& entries,
                               const ReportOptions& o);
std::string environment_section(const std::vector<Scorecard>& cards);

}  // namespace dsbench::report::html
