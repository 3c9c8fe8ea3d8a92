// Reading scorecards for `dsbench compare` and `dsbench report`: parse, check the schema version,
// validate against the published schema, and refuse — naming the file and the field — anything a
// verdict cannot be built on (a truncated or hand-edited file, another major version, no results).
#pragma once

#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dsbench::report {

struct Scorecard {
  std::string path;   // as given on the command line
  std::string label;  // short unique name for tables and charts (see label_scorecards)
  nlohmann::json doc;
  int schema_minor = 0;  // the 1.x minor version the card was written with
};

// Throws dsbench::Error "<path>: <json pointer>: <what>" for: an unreadable file, invalid JSON (with
// the byte offset: a truncated file says so), a missing or malformed schema_version, a major version
// other than ours, any schema violation (a card of a newer 1.x minor may carry fields we do not
// know; those are allowed), an empty results array, and two results with the same key.
Scorecard load_scorecard(const std::string& path);

// results_schema/scorecard.schema.json in the current folder, else in the source tree.
std::string scorecard_schema_path();

// Labels from file names ("nightly-0412.json" -> "nightly-0412"), with the parent folder (then a
// number) added where two cards would otherwise share a label.
void label_scorecards(std::vector<Scorecard>& cards);

// The identity of a result across scorecards: (case, kernel, device).
std::string result_key(const nlohmann::json& result);
std::string kernel_of(const nlohmann::json& result);       // "-" when null
std::string device_of(const nlohmann::json& result);       // "0", or "-" when null

// The name of the device a result ran on (context.backends[backend].devices[index].name), or "".
std::string device_name(const nlohmann::json& card, const nlohmann::json& result);

// Numbers that the scorecard may store as "nan"/"inf"/"-inf"; NaN for anything else.
double number_of(const nlohmann::json& v);

}  // namespace dsbench::report
