// Where two measurements are not like for like. Run level: host, OS, compiler, build type, backends,
// devices and their properties, run configuration, uncommitted changes. Result level: throttling and
// clocks (timing.throttled, timing.sm_clock_mhz: written by GPU backends when they can tell), cache
// mode, timing method, an interrupted measurement, and the device's name.
#include <cmath>
#include <cstdio>

#include "harness/report/compare.hpp"

namespace dsbench::report {
namespace {

std::string show(const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

void differ(std::vector<std::string>& out, const std::string& what, const nlohmann::json& a, const nlohmann::json& b) {
  if (a != b) out.push_back(what + " differs: " + show(a) + " vs " + show(b));
}

const nlohmann::json* find_backend(const nlohmann::json& ctx, const std::string& name) {
  for (const auto& b : ctx.at("backends"))
    if (b.at("name") == name) return &b;
  return nullptr;
}

}  // namespace

std::vector<std::string> environment_differences(const nlohmann::json& base_card, const nlohmann::json& new_card) {
  const nlohmann::json& a = base_card.at("context");
  const nlohmann::json& b = new_card.at("context");
  std::vector<std::string> out;
  if (a.at("host") != b.at("host"))
    out.push_back("host differs: " + show(a.at("host")) + " vs " + show(b.at("host")) +
                  ": the timings compare machines as well as code");
  differ(out, "os", a.at("os"), b.at("os"));
  differ(out, "compiler", a.at("build").at("compiler"), b.at("build").at("compiler"));
  differ(out, "build type", a.at("build").at("build_type"), b.at("build").at("build_type"));
  differ(out, "backends built", a.at("build").at("backends"), b.at("build").at("backends"));
  differ(out, "backend used", a.at("backend"), b.at("backend"));
  differ(out, "dsbench version", a.at("tool").at("version"), b.at("tool").at("version"));
  if (a.at("tool").at("git_commit") == b.at("tool").at("git_commit") &&
      a.at("tool").at("git_dirty") == b.at("tool").at("git_dirty") && !a.at("tool").at("git_dirty").get<bool>())
    out.push_back("same commit " + show(a.at("tool").at("git_commit")) + " on both sides: differences are noise or "
                  "environment");
  if (b.at("tool").at("git_dirty").get<bool>()) out.push_back("the new build has uncommitted changes (git_dirty)");
  const nlohmann::json &ca = a.at("config"), &cb = b.at("config");
  for (const char* k : {"verify_only", "perf_only", "kernel_glob", "case_glob"}) differ(out, std::string("config.") + k, ca.at(k), cb.at(k));
  for (const auto& [k, v] : ca.at("timing").items()) {
    if (!cb.at("timing").contains(k)) continue;
    if (k == "flush_cache" && v != cb.at("timing").at(k))
      out.push_back(std::string("cache mode differs: ") + (v.get<bool>() ? "cold" : "warm") + " vs " +
                    (v.get<bool>() ? "warm" : "cold") + ": timings are not comparable");
    else differ(out, "config.timing." + k, v, cb.at("timing").at(k));
  }
  if (a.at("seed") != b.at("seed"))
    out.push_back("seeds differ (" + show(a.at("seed")) + " vs " + show(b.at("seed")) +
                  "): accuracy figures come from different inputs");
  // The devices the rows ran on: names, properties (e.g. omp_max_threads, clocks) and build info.
  const std::string backend = b.at("backend").get<std::string>();
  const nlohmann::json *ba = find_backend(a, backend), *bb = find_backend(b, backend);
  if (ba && bb) {
    differ(out, backend + " build info", ba->at("build_info"), bb->at("build_info"));
    for (const auto& db : bb->at("devices"))
      for (const auto& da : ba->at("devices")) {
        if (da.at("index") != db.at("index")) continue;
        const std::string dev = backend + " device " + show(db.at("index"));
        differ(out, dev + " name", da.at("name"), db.at("name"));
        for (const auto& [k, v] : db.at("properties").items())
          if (da.at("properties").contains(k)) differ(out, dev + " " + k, da.at("properties").at(k), v);
      }
  }
  return out;
}

std::vector<std::string> measurement_flags(const nlohmann::json& base_card, const nlohmann::json& base_row,
                                           const nlohmann::json& new_card, const nlohmann::json& new_row) {
  std::vector<std::string> out;
  const std::string name_a = device_name(base_card, base_row), name_b = device_name(new_card, new_row);
  if (name_a != name_b) out.push_back("device: " + name_a + " vs " + name_b);
  const nlohmann::json &ta = base_row.at("timing"), &tb = new_row.at("timing");
  if (ta.is_null() || tb.is_null()) return out;
  const bool throttled_a = ta.value("throttled", false), throttled_b = tb.value("throttled", false);
  if (throttled_a || throttled_b)
    out.push_back(std::string("throttled (") + (throttled_a && throttled_b ? "both sides" : throttled_a ? "base" : "new") +
                  "): clocks were reduced while it was measured");
  if (ta.contains("sm_clock_mhz") && tb.contains("sm_clock_mhz") && ta.at("sm_clock_mhz").is_number() &&
      tb.at("sm_clock_mhz").is_number()) {
    const double ca = ta.at("sm_clock_mhz").get<double>(), cb = tb.at("sm_clock_mhz").get<double>();
    if (std::fabs(cb - ca) > 0.01 * std::max(ca, cb)) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "clock: %.0f MHz vs %.0f MHz", ca, cb);
      out.push_back(buf);
    }
  }
  if (ta.at("cache") != tb.at("cache")) out.push_back("cache: " + show(ta.at("cache")) + " vs " + show(tb.at("cache")));
  if (ta.at("method") != tb.at("method")) out.push_back("timer: " + show(ta.at("method")) + " vs " + show(tb.at("method")));
  if (ta.at("stop_reason") == "interrupted" || tb.at("stop_reason") == "interrupted")
    out.push_back("sampling was interrupted");
  return out;
}

}  // namespace dsbench::report
