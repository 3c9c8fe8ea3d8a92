#include "harness/report/scorecard_load.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "harness/error.hpp"
#include "harness/json_file.hpp"
#include "harness/json_schema.hpp"
#include "harness/scorecard.hpp"

namespace dsbench::report {
namespace fs = std::filesystem;
namespace {

int our_major() { return std::atoi(kScorecardSchemaVersion); }
int our_minor() { return std::atoi(std::strchr(kScorecardSchemaVersion, '.') + 1); }

nlohmann::json parse_file(const std::string& path) {
  if (fs::is_directory(path)) DSB_THROW(path + ": is a folder, not a scorecard file");
  return read_json_file(path, path);
}

// A card of a newer 1.x minor may carry optional fields this reader does not know (CHANGELOG:
// "a new optional field is a minor version"); everything else is still checked.
void allow_unknown_fields(nlohmann::json& schema) {
  if (schema.is_object()) {
    if (auto it = schema.find("additionalProperties"); it != schema.end() && it->is_boolean()) schema.erase(it);
    for (auto& [k, v] : schema.items()) allow_unknown_fields(v);
  } else if (schema.is_array()) {
    for (auto& v : schema) allow_unknown_fields(v);
  }
}

int check_version(const std::string& path, const nlohmann::json& doc) {
  if (!doc.is_object()) DSB_THROW(path + ": /: expected a JSON object (a dsbench scorecard), found " + doc.type_name());
  const auto it = doc.find("schema_version");
  if (it == doc.end()) DSB_THROW(path + ": /schema_version: missing: not a dsbench scorecard");
  if (!it->is_string()) DSB_THROW(path + ": /schema_version: expected a string like \"1.0.0\", found " + it->dump());
  static const std::regex kSemver(R"(^([0-9]+)\.([0-9]+)\.([0-9]+)$)");
  std::smatch m;
  const std::string v = it->get<std::string>();
  if (v.size() > 64 || !std::regex_match(v, m, kSemver)) DSB_THROW(path + ": /schema_version: \"" + v + "\" is not MAJOR.MINOR.PATCH");
  const int major = std::stoi(m[1].str());
  if (major != our_major())
    DSB_THROW(path + ": /schema_version: \"" + v + "\" is major version " + std::to_string(major) +
              "; this dsbench reads scorecards of major version " + std::to_string(our_major()) + " (it writes " +
              kScorecardSchemaVersion + "); results_schema/CHANGELOG.md lists the differences");
  return std::stoi(m[2].str());
}

void check_consistency(const std::string& path, const nlohmann::json& doc) {
  const nlohmann::json& results = doc.at("results");
  if (results.empty()) {
    std::string why;
    for (const auto& e : doc.at("errors")) why += (why.empty() ? "" : "; ") + e.get<std::string>();
    DSB_THROW(path + ": /results: empty: the run produced no results" +
              (why.empty() ? std::string() : " (its run-level errors: " + why + ")"));
  }
  const auto claimed = doc.at("summary").at("results").get<int64_t>();
  if (claimed != static_cast<int64_t>(results.size()))
    DSB_THROW(path + ": /summary/results: says " + std::to_string(claimed) + " but /results holds " +
              std::to_string(results.size()) + " (edited or truncated by hand?)");
  std::map<std::string, size_t> seen;
  for (size_t i = 0; i < results.size(); ++i) {
    const nlohmann::json& r = results[i];
    const std::string at = path + ": /results/" + std::to_string(i);
    const auto [it, fresh] = seen.emplace(result_key(r), i);
    if (!fresh)
      DSB_THROW(at + ": the same (case, kernel, device) as /results/" + std::to_string(it->second) + ": " + it->first);
    const nlohmann::json& t = r.at("timing");
    if (t.is_null()) continue;
    std::vector<double> raw = t.at("raw_ms").get<std::vector<double>>();
    if (static_cast<int64_t>(raw.size()) != t.at("samples").get<int64_t>() || raw.empty()) continue;
    std::sort(raw.begin(), raw.end());
    const double pos = 0.5 * static_cast<double>(raw.size() - 1);
    const size_t lo = static_cast<size_t>(pos), hi = std::min(lo + 1, raw.size() - 1);
    const double med = raw[lo] + (raw[hi] - raw[lo]) * (pos - static_cast<double>(lo));
    const double stored = t.at("median_ms").get<double>();
    if (std::fabs(med - stored) > 1e-9 * std::max(1.0, std::fabs(med)) + 1e-12)
      DSB_THROW(at + "/timing/median_ms: " + std::to_string(stored) + " is not the median of raw_ms (" +
                std::to_string(med) + "): the file was edited by hand");
  }
}

}  // namespace

std::string scorecard_schema_path() {
  for (const fs::path& p : {fs::path("results_schema/scorecard.schema.json"),
                           fs::path(DSB_SOURCE_DIR) / "results_schema/scorecard.schema.json"})
    if (fs::exists(p)) return p.string();
  DSB_THROW("cannot find results_schema/scorecard.schema.json (looked in the current folder and " +
            std::string(DSB_SOURCE_DIR) + ")");
}

Scorecard load_scorecard(const std::string& path) {
  Scorecard card;
  card.path = path;
  card.doc = parse_file(path);
  card.schema_minor = check_version(path, card.doc);
  static const nlohmann::json kSchema = parse_file(scorecard_schema_path());
  nlohmann::json schema = kSchema;
  if (card.schema_minor > our_minor()) allow_unknown_fields(schema);
  const auto violations = harness::validate_against_schema(schema, card.doc);
  if (!violations.empty()) {
    std::string text;
    const size_t shown = std::min<size_t>(violations.size(), 5);
    for (size_t i = 0; i < shown; ++i)
      text += "\n  " + path + ": " + (violations[i].instance_path.empty() ? "/" : violations[i].instance_path) + ": " +
              violations[i].message;
    if (violations.size() > shown) text += "\n  ... and " + std::to_string(violations.size() - shown) + " more";
    DSB_THROW(path + ": does not follow results_schema/scorecard.schema.json (" + std::to_string(violations.size()) +
              " violation(s); `dsbench validate` lists them all):" + text);
  }
  check_consistency(path, card.doc);
  card.label = fs::path(path).stem().string();
  return card;
}

void label_scorecards(std::vector<Scorecard>& cards) {
  auto clashes = [&](size_t i) {
    for (size_t j = 0; j < cards.size(); ++j)
      if (j != i && cards[j].label == cards[i].label) return true;
    return false;
  };
  std::vector<size_t> clashing;
  for (size_t i = 0; i < cards.size(); ++i)
    if (clashes(i)) clashing.push_back(i);
  for (size_t i : clashing) {
    const fs::path p = fs::absolute(cards[i].path);
    cards[i].label = p.parent_path().filename().string() + "/" + p.stem().string();
  }
  for (size_t i = 0; i < cards.size(); ++i)
    if (clashes(i)) cards[i].label += " #" + std::to_string(i + 1);
}

std::string kernel_of(const nlohmann::json& r) {
  const auto& k = r.at("kernel");
  return k.is_string() ? k.get<std::string>() : "-";
}

std::string device_of(const nlohmann::json& r) {
  const auto& d = r.at("device");
  return d.is_number_integer() ? std::to_string(d.get<int64_t>()) : "-";
}

std::string result_key(const nlohmann::json& r) {
  return r.at("case_id").get<std::string>() + " | " + kernel_of(r) + " | device " + device_of(r);
}

std::string device_name(const nlohmann::json& card, const nlohmann::json& r) {
  if (!r.at("device").is_number_integer()) return "";
  const int64_t index = r.at("device").get<int64_t>();
  for (const auto& b : card.at("context").at("backends"))
    if (b.at("name") == r.at("backend"))
      for (const auto& d : b.at("devices"))
        if (d.at("index").get<int64_t>() == index) return d.at("name").get<std::string>();
  return "";
}

double number_of(const nlohmann::json& v) {
  if (v.is_number()) return v.get<double>();
  if (v == "inf") return INFINITY;
  if (v == "-inf") return -INFINITY;
  return NAN;
}

}  // namespace dsbench::report
