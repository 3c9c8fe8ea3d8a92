#include "harness/suite.hpp"

#include <fnmatch.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "dsbench/ops.h"
#include "harness/error.hpp"
#include "harness/json_file.hpp"

namespace dsbench {
namespace fs = std::filesystem;

namespace {

std::vector<fs::path> search_dirs() {
  std::vector<fs::path> dirs{fs::path("suites")};
#ifdef DSB_SOURCE_DIR
  dirs.push_back(fs::path(DSB_SOURCE_DIR) / "suites");
#endif
  return dirs;
}

}  // namespace

bool glob_match(const std::string& pattern, const std::string& text) {
  return fnmatch(pattern.c_str(), text.c_str(), 0) == 0;
}

std::string resolve_suite_path(const std::string& name_or_path) {
  const bool is_path = name_or_path.find('/') != std::string::npos ||
                       (name_or_path.size() > 5 && name_or_path.compare(name_or_path.size() - 5, 5, ".json") == 0);
  if (is_path) {
    if (!fs::exists(name_or_path)) DSB_THROW("suite file " + name_or_path + ": no such file");
    if (fs::is_directory(name_or_path)) DSB_THROW("suite file " + name_or_path + ": is a folder, not a suite file");
    return name_or_path;
  }
  std::string searched;
  for (const fs::path& d : search_dirs()) {
    const fs::path p = d / (name_or_path + ".json");
    if (fs::exists(p)) return p.string();
    searched += (searched.empty() ? "" : ", ") + p.string();
  }
  DSB_THROW("unknown suite \"" + name_or_path + "\": looked for " + searched + " (dsbench list --suites shows them)");
}

std::vector<std::string> list_suites() {
  std::set<std::string> names;
  for (const fs::path& d : search_dirs()) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(d, ec))
      if (e.path().extension() == ".json") names.insert(e.path().stem().string());
  }
  return {names.begin(), names.end()};
}

Suite parse_suite(const nlohmann::json& doc, const std::string& path) {
  if (!doc.is_object()) DSB_THROW(path + ": a suite must be a JSON object");
  if (!doc.contains("cases") || !doc.at("cases").is_array()) DSB_THROW(path + ": missing \"cases\" array");
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    static const std::set<std::string> known{"name", "description", "defaults", "cases", "generated_from", "note"};
    if (!known.count(it.key()))
      DSB_THROW(path + ": field \"" + it.key() + "\": unknown (name, description, defaults, cases, generated_from, note)");
  }
  Suite s;
  s.path = path;
  s.name = doc.value("name", fs::path(path).stem().string());
  s.description = doc.value("description", std::string());
  if (doc.contains("defaults")) {
    const nlohmann::json& d = doc.at("defaults");
    if (!d.is_object()) DSB_THROW(path + ": field \"defaults\": not an object");
    for (auto it = d.begin(); it != d.end(); ++it)
      if (it.key() != "timing") DSB_THROW(path + ": field \"defaults." + it.key() + "\": unknown (timing)");
    if (d.contains("timing")) {
      const nlohmann::json& t = d.at("timing");
      if (!t.is_object()) DSB_THROW(path + ": field \"defaults.timing\": not an object");
      for (auto it = t.begin(); it != t.end(); ++it) {
        static const std::set<std::string> known{"warmup", "min_reps", "max_reps", "budget_s", "noise"};
        if (!known.count(it.key()))
          DSB_THROW(path + ": field \"defaults.timing." + it.key() + "\": unknown (warmup, min_reps, max_reps, budget_s, noise)");
        const bool integral = it.key() != "budget_s" && it.key() != "noise";
        const double lo = it.key() == "max_reps" ? 1 : 0;
        const nlohmann::json& v = it.value();
        // The integral fields are int in TimingConfig: 2^64 - 1 would otherwise be read as -1.
        const double hi = integral ? 2147483647.0 : 1e12;
        if (!v.is_number() || (integral && !v.is_number_integer()) || !(v.get<double>() >= lo && v.get<double>() <= hi))
          DSB_THROW(path + ": field \"defaults.timing." + it.key() + "\": " + v.dump() + " is not " +
                    (integral ? "an integer" : "a number") + " in [" + std::to_string(static_cast<int>(lo)) + ", " +
                    (integral ? "2147483647" : "1e12") + "]");
      }
      s.timing_defaults = t;
    }
  }
  std::map<std::string, size_t> first_of;  // id -> index of the case that has it
  const auto& cases = doc.at("cases");
  for (size_t i = 0; i < cases.size(); ++i) {
    const nlohmann::json& c = cases[i];
    CaseSpec cs;
    const std::string where = path + ": case " + std::to_string(i);
    auto fail = [&](const std::string& what) {
      if (cs.error.empty()) cs.error = where + (cs.id.empty() ? "" : " (\"" + cs.id + "\")") + ": " + what;
    };
    // A case without a usable id still gets a row: "#<index>", which no suite id can be made to
    // collide with silently (a duplicate below gets the same treatment).
    const std::string synthetic = "#" + std::to_string(i);
    if (!c.is_object()) {
      fail("expected an object, got " + std::string(c.type_name()));
      cs.id = synthetic;
    } else {
      if (c.contains("id") && c.at("id").is_string()) cs.id = c.at("id").get<std::string>();
      if (cs.id.empty()) {
        fail("field \"id\": missing or not a string");
        cs.id = synthetic;
      }
      // Ids go to terminals, file names and XML: control characters (a NUL, an ANSI escape) are refused.
      for (size_t k = 0; k < cs.id.size(); ++k) {
        const auto ch = static_cast<unsigned char>(cs.id[k]);
        if (ch < 0x20 || ch == 0x7f) {
          char code[8];
          std::snprintf(code, sizeof code, "U+%04X", ch);
          cs.id = synthetic;
          fail("field \"id\": control character " + std::string(code) + " at byte " + std::to_string(k) +
               " (ids are printable text)");
          break;
        }
      }
      if (const auto [it, fresh] = first_of.emplace(cs.id, i); !fresh) {
        fail("field \"id\": duplicate of case " + std::to_string(it->second) + " (\"" + cs.id + "\")");
        cs.id += synthetic;  // the row must not share the first one's id (compare/report key on it)
      }
      if (!c.contains("op") || !c.at("op").is_string()) {
        fail("field \"op\": missing or not a string");
      } else {
        cs.op = c.at("op").get<std::string>();
        if (dsb_op_from_name(cs.op.c_str()) == DSB_OP_INVALID) fail("field \"op\": unknown op \"" + cs.op + "\"");
      }
      if (!c.contains("params") || !c.at("params").is_object()) fail("field \"params\": missing or not an object");
      else cs.params = c.at("params");
      if (c.contains("tolerance")) {
        if (!c.at("tolerance").is_object()) fail("field \"tolerance\": not an object");
        else cs.tolerance = c.at("tolerance");
      }
      if (c.contains("seed")) {
        const nlohmann::json& sd = c.at("seed");
        if (!sd.is_number_integer() || (!sd.is_number_unsigned() && sd.get<int64_t>() < 0))
          fail("field \"seed\": not a non-negative integer");
        else cs.seed = sd.get<uint64_t>();
      }
      for (auto it = c.begin(); it != c.end(); ++it)
        if (it.key() != "id" && it.key() != "op" && it.key() != "params" && it.key() != "tolerance" &&
            it.key() != "seed" && it.key() != "note")
          fail("field \"" + it.key() + "\": unknown field");
    }
    s.cases.push_back(std::move(cs));
  }
  return s;
}

Suite load_suite(const std::string& name_or_path) {
  const std::string path = resolve_suite_path(name_or_path);
  return parse_suite(read_json_file(path, "suite file " + path), path);
}

}  // namespace dsbench
