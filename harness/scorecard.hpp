// The JSON scorecard (results_schema/scorecard.schema.json): context (tool, build, host, backends,
// devices, configuration), one row per case x kernel, a summary, and run-level errors. Written
// atomically, also when cases fail or the run is interrupted by a configuration error.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsbench/backend.hpp"
#include "harness/runner.hpp"

namespace dsbench {

class World;

constexpr const char* kScorecardSchemaVersion = "1.5.0";

struct RunContext {
  std::string command_line;
  std::string suite_name, suite_path;
  uint64_t seed = 0;
  RunOptions options;
  std::vector<Backend*> backends;   // every backend built, for the environment block
  std::string backend_used;         // the backend the rows ran on
  std::vector<std::string> errors;  // run-level errors (e.g. a suite that could not be read)
  nlohmann::json world;             // multi-rank runs: context.world (null for a world of one)
  nlohmann::json ceilings;          // context.ceilings (harness/ceilings.hpp); null when none
  nlohmann::json datasheet;         // context.datasheet (harness/datasheets.hpp); null when unknown
};

nlohmann::json properties_json(const Properties& p);
std::string utc_now();  // ISO 8601, seconds, UTC: "2026-12-06T03:00:42Z"
nlohmann::json row_json(const ResultRow& r);
// The inverse of row_json (isolated workers send rows this way). Throws on a malformed row.
ResultRow row_from_json(const nlohmann::json& j);
nlohmann::json context_json(const RunContext& ctx);
nlohmann::json summary_json(const std::vector<ResultRow>& rows);
nlohmann::json make_scorecard(const RunContext& ctx, const std::vector<ResultRow>& rows);
// context.world of a multi-rank run: its size, launcher, MPI library, hosts and ranks per host.
nlohmann::json world_json(const World& w);

// temp file in the same folder + rename, so a reader never sees half a scorecard. Throws Error.
void write_json_atomic(const std::string& path, const nlohmann::json& doc);
// Fails early (before an hour of benchmarking) when path's folder cannot take a file.
void check_writable(const std::string& path);

// Exit code for a run: 0 all passed / not_supported / skipped / not_verified; 1 incorrect or error.
int exit_code_for(const std::vector<ResultRow>& rows, const std::vector<std::string>& errors);

}  // namespace dsbench
