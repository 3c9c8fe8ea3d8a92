// Suites: JSON files listing cases (op + params), found by name in suites/ or given as a path.
// A defect in one case is recorded on that case (it becomes an `error` row); only a file that
// cannot be read or parsed at all is fatal. Format: docs/suites.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dsbench {

struct CaseSpec {
  std::string id;                 // "<op>/<shape tag>", unique in the suite
  std::string op;                 // canonical op name
  nlohmann::json params;          // op-specific, checked by the op's driver
  nlohmann::json tolerance;       // optional per-output overrides {"d": {"rel": 0.01}}
  std::optional<uint64_t> seed;   // fixed seed for this case; otherwise derived from the run's seed
  std::string error;              // non-empty: the case is malformed (message names file, case, field)
};

struct Suite {
  std::string name;
  std::string path;
  std::string description;
  nlohmann::json timing_defaults = nlohmann::json::object();  // "defaults": {"timing": {...}}
  std::vector<CaseSpec> cases;
};

// Finds suites/NAME.json (in ./suites, then the source tree's suites/) or takes an existing path.
// Throws Error naming what was searched.
std::string resolve_suite_path(const std::string& name_or_path);

// Throws Error (file-level: unreadable, not JSON, no "cases" array); per-case defects go to CaseSpec::error.
Suite load_suite(const std::string& name_or_path);
Suite parse_suite(const nlohmann::json& doc, const std::string& path);

// Names of the suites found in the search path.
std::vector<std::string> list_suites();

// fnmatch-style glob ("gemm_*", "*/m128_*").
bool glob_match(const std::string& pattern, const std::string& text);

}  // namespace dsbench
