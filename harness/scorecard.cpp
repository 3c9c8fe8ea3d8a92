#include "harness/scorecard.hpp"
#include "harness/output_file.hpp"
#include "harness/world.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>

#include "harness/build_id.hpp"
#include "harness/ceilings.hpp"
#include "harness/datasheets.hpp"
#include "harness/error.hpp"

namespace dsbench {
namespace fs = std::filesystem;

namespace {

// JSON has no NaN/Inf: non-finite numbers become strings so nothing is lost.
nlohmann::json num(double v) {
  if (std::isfinite(v)) return v;
  return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
}

std::string os_string() {
  std::ifstream f("/etc/os-release");
  for (std::string line; std::getline(f, line);)
    if (line.rfind("PRETTY_NAME=", 0) == 0) {
      std::string v = line.substr(12);
      if (v.size() >= 2 && v.front() == '"') v = v.substr(1, v.size() - 2);
      return v;
    }
  utsname u{};
  return uname(&u) == 0 ? std::string(u.sysname) + " " + u.release : "unknown";
}

nlohmann::json accuracy_json(const OutputAccuracy& a) {
  const Tolerance& t = a.tolerance;
  nlohmann::json j = {{"output", a.output}, {"verification", a.sampled ? "sampled" : "full"}, {"rule", a.rule},
          {"elements_total", a.total}, {"elements_checked", a.checked}, {"mismatches", a.mismatches},
          {"nonfinite_mismatches", a.nonfinite_mismatches}, {"cos_diff", num(a.cos_diff)},
          {"max_abs_err", num(a.max_abs_err)}, {"max_rel_err", num(a.max_rel_err)},
          {"tolerance", {{"abs", t.abs}, {"abs_rms", t.abs_rms}, {"abs_effective", num(a.abs_effective)},
                         {"rel", t.rel}, {"cos_diff", t.cos_diff}}},
          {"worst", {{"index", a.worst_coord}, {"expected", num(a.worst_expected)}, {"actual", num(a.worst_actual)}}},
          {"passed", a.passed}};
  if (!a.findings.empty()) {
    nlohmann::json f = nlohmann::json::object();
    for (const auto& [name, v] : a.findings) f[name] = num(v);
    j["findings"] = f;
  }
  return j;
}

// A reading as JSON: only the values the device could read.
nlohmann::json telemetry_json(const Telemetry& t) {
  nlohmann::json j = nlohmann::json::object();
  if (t.clock_mhz >= 0) j["clock_mhz"] = t.clock_mhz;
  if (t.temperature_c >= 0) j["temperature_c"] = t.temperature_c;
  if (t.power_w >= 0) j["power_w"] = t.power_w;
  if (t.energy_j >= 0) j["energy_j"] = t.energy_j;
  j["throttled"] = t.throttled;
  if (!t.throttle_reasons.empty()) j["throttle_reasons"] = t.throttle_reasons;
  return j;
}

Telemetry telemetry_from(const nlohmann::json& j) {
  Telemetry t;
  t.clock_mhz = j.value("clock_mhz", -1.0);
  t.temperature_c = j.value("temperature_c", -1.0);
  t.power_w = j.value("power_w", -1.0);
  t.energy_j = j.value("energy_j", -1.0);
  t.throttled = j.value("throttled", false);
  if (j.contains("throttle_reasons")) t.throttle_reasons = j.at("throttle_reasons").get<std::vector<std::string>>();
  return t;
}

nlohmann::json timing_json(const TimingStats& t) {
  nlohmann::json j = {{"method", t.method}, {"cache", t.cache}, {"warmup", t.warmup}, {"samples", t.samples},
          {"median_ms", t.median_ms}, {"p10_ms", t.p10_ms}, {"p90_ms", t.p90_ms}, {"min_ms", t.min_ms},
          {"max_ms", t.max_ms}, {"mean_ms", t.mean_ms}, {"stdev_ms", t.stdev_ms}, {"rel_spread", t.rel_spread},
          {"noise", t.samples > 1 ? nlohmann::json(t.noise) : nlohmann::json()},  // undefined from one sample
          {"stop_reason", t.stop_reason}, {"raw_ms", t.raw_ms}};
  if (t.graph_launches > 1) j["graph_launches"] = t.graph_launches;
  if (t.batch > 1) j["batch"] = t.batch;
  if (!t.graph_refused.empty()) j["graph_refused"] = t.graph_refused;
  if (!t.stages.empty()) {
    j["stages"] = nlohmann::json::array();
    for (const StageTiming& s : t.stages)
      j["stages"].push_back({{"stage", s.name}, {"median_ms", s.median_ms}, {"p10_ms", s.p10_ms}, {"p90_ms", s.p90_ms},
                             {"samples", s.samples}});
  }
  if (!t.stages_refused.empty()) j["stages_refused"] = t.stages_refused;
  if (!t.has_telemetry) return j;
  // sm_clock_mhz and throttled are what `dsbench compare` flags between runs: GPU SM clocks only
  // (a CPU's core clock wanders with turbo and load on every run).
  j["throttled"] = t.throttled;
  if (t.after.reports_sm_clock && t.after.clock_mhz >= 0) j["sm_clock_mhz"] = t.after.clock_mhz;
  nlohmann::json tel = {{"before", telemetry_json(t.before)}, {"after", telemetry_json(t.after)}, {"wall_s", t.wall_s}};
  if (const double w = average_power_w(t); w >= 0) tel["avg_power_w"] = w;
  if (const double e = joules_per_repetition(t); e >= 0) tel["joules_per_repetition"] = e;
  j["telemetry"] = tel;
  return j;
}

double num_from(const nlohmann::json& j) {
  if (j.is_number()) return j.get<double>();
  const std::string s = j.get<std::string>();
  if (s == "nan") return NAN;
  if (s == "inf") return INFINITY;
  if (s == "-inf") return -INFINITY;
  DSB_THROW("not a number: \"" + s + "\"");
}

OutputAccuracy accuracy_from(const nlohmann::json& j) {
  OutputAccuracy a;
  a.output = j.at("output");
  a.sampled = j.at("verification") == "sampled";
  a.rule = j.at("rule");
  a.total = j.at("elements_total");
  a.checked = j.at("elements_checked");
  a.mismatches = j.at("mismatches");
  a.nonfinite_mismatches = j.at("nonfinite_mismatches");
  a.cos_diff = num_from(j.at("cos_diff"));
  a.max_abs_err = num_from(j.at("max_abs_err"));
  a.max_rel_err = num_from(j.at("max_rel_err"));
  const auto& t = j.at("tolerance");
  a.tolerance = {t.at("abs"), t.at("abs_rms"), t.at("rel"), t.at("cos_diff")};
  a.abs_effective = num_from(t.at("abs_effective"));
  a.worst_coord = j.at("worst").at("index").get<std::vector<int64_t>>();
  a.worst_expected = num_from(j.at("worst").at("expected"));
  a.worst_actual = num_from(j.at("worst").at("actual"));
  a.passed = j.at("passed");
  if (j.contains("findings"))
    for (const auto& [name, v] : j.at("findings").items()) a.findings[name] = num_from(v);
  return a;
}

TimingStats timing_from(const nlohmann::json& j) {
  TimingStats t;
  t.method = j.at("method");
  t.cache = j.at("cache");
  t.warmup = j.at("warmup");
  t.raw_ms = j.at("raw_ms").get<std::vector<double>>();
  t.stop_reason = j.at("stop_reason");
  t.graph_launches = j.value("graph_launches", 1);
  t.batch = j.value("batch", 1);
  t.graph_refused = j.value("graph_refused", std::string());
  if (j.contains("stages"))
    for (const auto& s : j.at("stages"))
      t.stages.push_back({s.at("stage"), s.at("median_ms"), s.at("p10_ms"), s.at("p90_ms"), s.at("samples")});
  t.stages_refused = j.value("stages_refused", std::string());
  if (j.contains("telemetry")) {
    const nlohmann::json& tel = j.at("telemetry");
    t.has_telemetry = true;
    t.before = telemetry_from(tel.at("before"));
    t.after = telemetry_from(tel.at("after"));
    t.wall_s = tel.value("wall_s", 0.0);
    t.throttled = j.value("throttled", false);
    t.after.reports_sm_clock = j.contains("sm_clock_mhz");
  }
  summarize(&t);
  return t;
}

}  // namespace

ResultRow row_from_json(const nlohmann::json& j) {
  ResultRow r;
  r.case_id = j.at("case_id");
  r.op = j.at("op");
  r.params = j.at("params");
  r.seed = j.at("seed");
  r.kernel = j.at("kernel").is_null() ? "" : j.at("kernel").get<std::string>();
  r.backend = j.at("backend");
  r.device = j.at("device").is_null() ? -1 : j.at("device").get<int>();
  r.disposition = j.at("disposition");
  r.reason = j.at("reason");
  r.verification = j.at("verification");
  for (const auto& a : j.at("accuracy")) r.accuracy.push_back(accuracy_from(a));
  if (!j.at("timing").is_null()) r.timing = timing_from(j.at("timing"));
  r.flops = j.at("metrics").at("flops");
  r.bytes = j.at("metrics").at("bytes");
  r.tokens = j.at("metrics").value("tokens", 0.0);
  if (j.contains("dump")) r.dump_path = j.at("dump");
  if (j.contains("reference")) {
    r.reference.source = reference_source_from(j.at("reference").at("source"));
    r.reference.detail = j.at("reference").at("detail");
  }
  if (j.contains("collective")) r.collective = j.at("collective");
  if (j.contains("ranks")) r.ranks = j.at("ranks");
  return r;
}

std::string utc_now() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

nlohmann::json properties_json(const Properties& p) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : p) std::visit([&, key = k](const auto& x) { j[key] = x; }, v);
  return j;
}

nlohmann::json row_json(const ResultRow& r) {
  nlohmann::json j = {{"case_id", r.case_id}, {"op", r.op}, {"params", r.params}, {"seed", r.seed},
                      {"kernel", r.kernel.empty() ? nlohmann::json() : nlohmann::json(r.kernel)},
                      {"backend", r.backend}, {"device", r.device < 0 ? nlohmann::json() : nlohmann::json(r.device)},
                      {"disposition", r.disposition}, {"reason", r.reason}, {"verification", r.verification}};
  j["accuracy"] = nlohmann::json::array();
  for (const OutputAccuracy& a : r.accuracy) j["accuracy"].push_back(accuracy_json(a));
  j["timing"] = r.timing ? timing_json(*r.timing) : nlohmann::json();
  nlohmann::json m = {{"flops", r.flops}, {"bytes", r.bytes}};
  if (r.timing && r.timing->median_ms > 0) {
    m["tflops"] = r.flops / (r.timing->median_ms * 1e-3) / 1e12;
    m["gbps"] = r.bytes / (r.timing->median_ms * 1e-3) / 1e9;
  }
  if (r.tokens > 0) {
    m["tokens"] = r.tokens;
    if (r.timing && r.timing->median_ms > 0) m["tokens_per_s"] = r.tokens / (r.timing->median_ms * 1e-3);
  }
  j["metrics"] = m;
  if (!r.dump_path.empty()) j["dump"] = r.dump_path;
  if (r.reference.source != ReferenceSource::kNone)
    j["reference"] = {{"source", reference_source_name(r.reference.source)}, {"detail", r.reference.detail}};
  if (!r.collective.is_null()) j["collective"] = r.collective;
  if (!r.ranks.is_null()) j["ranks"] = r.ranks;
  return j;
}

nlohmann::json context_json(const RunContext& ctx) {
  const BuildId& b = build_id();
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  const RunOptions& o = ctx.options;
  nlohmann::json backends = nlohmann::json::array();
  for (Backend* be : ctx.backends) {
    nlohmann::json devices = nlohmann::json::array();
    const int n = be->device_count();
    for (int i = 0; i < n; ++i) {
      Device* d = be->device(i);
      devices.push_back({{"index", i}, {"name", d->name()}, {"fp8_e4m3", dsb_dtype_name(d->fp8_e4m3())},
                         {"properties", properties_json(d->properties())}});
    }
    backends.push_back({{"name", be->name()}, {"available", n > 0}, {"reason", be->unavailable_reason()},
                        {"build_info", properties_json(be->build_info())}, {"devices", devices}});
  }
  nlohmann::json out = {
      {"tool", {{"name", "dsbench"}, {"version", b.version}, {"git_commit", b.git_commit}, {"git_dirty", b.git_dirty}}},
      {"build", {{"compiler", b.compiler}, {"build_type", b.build_type}, {"backends", b.backends}}},
      {"date", utc_now()},
      {"host", host},
      {"os", os_string()},
      {"command_line", ctx.command_line},
      {"suite", {{"name", ctx.suite_name}, {"path", ctx.suite_path}}},
      {"backend", ctx.backend_used},
      {"seed", ctx.seed},
      {"world_size", ctx.world.is_null() ? 1 : ctx.world.at("size").get<int>()},
      {"rank", 0},
      {"config",
       {{"kernel_glob", o.kernel_glob}, {"case_glob", o.case_glob}, {"verify_only", o.verify_only},
        {"perf_only", o.perf_only}, {"max_reference_gflop", o.max_reference_gflop},
        {"timing", {{"warmup", o.timing.warmup}, {"min_reps", o.timing.min_reps}, {"max_reps", o.timing.max_reps},
                    {"budget_s", o.timing.budget_s}, {"noise", o.timing.noise}, {"flush_cache", o.timing.flush_cache},
                    {"rounds", o.timing.rounds}}},
        {"verification", {{"full_max_macs", o.verify.full_max_macs}, {"sample_rows", o.verify.sample_rows},
                          {"sample_cols", o.verify.sample_cols}, {"force_full", o.verify.force_full}}}}},
      {"backends", backends}};
  if (o.timing.batch > 1) out["config"]["timing"]["batch"] = o.timing.batch;
  if (!o.reference_cache.empty())
    out["config"]["reference_cache"] = {{"dir", o.reference_cache}, {"reference_only", o.reference_only}};
  if (!ctx.world.is_null()) out["world"] = ctx.world;
  if (!ctx.ceilings.is_null()) out["ceilings"] = ctx.ceilings;
  if (!ctx.datasheet.is_null()) out["datasheet"] = ctx.datasheet;
  return out;
}

nlohmann::json world_json(const World& w) {
  nlohmann::json per_host = nlohmann::json::object();
  for (const std::string& h : w.hosts()) per_host[h] = per_host.value(h, 0) + 1;
  nlohmann::json j = {{"size", w.world_size()}, {"launcher", w.launcher()}, {"hosts", w.hosts()},
                      {"ranks_per_host", per_host}};
  if (!w.mpi_library().empty()) j["mpi_library"] = w.mpi_library();
  return j;
}

nlohmann::json summary_json(const std::vector<ResultRow>& rows) {
  static const char* kDispositions[] = {"passed", "incorrect", "error", "not_supported", "skipped", "not_verified"};
  auto zero = [] {
    nlohmann::json j = nlohmann::json::object();
    for (const char* d : kDispositions) j[d] = 0;
    return j;
  };
  nlohmann::json total = zero(), by_op = nlohmann::json::object();
  for (const ResultRow& r : rows) {
    total[r.disposition] = total[r.disposition].get<int>() + 1;
    const std::string op = r.op.empty() ? "(no op)" : r.op;  // a malformed case may name none
    if (!by_op.contains(op)) by_op[op] = zero();
    by_op[op][r.disposition] = by_op[op][r.disposition].get<int>() + 1;
  }
  return {{"results", rows.size()}, {"by_disposition", total}, {"by_op", by_op}};
}

nlohmann::json make_scorecard(const RunContext& ctx, const std::vector<ResultRow>& rows) {
  nlohmann::json results = nlohmann::json::array();
  for (const ResultRow& r : rows) {
    nlohmann::json j = row_json(r);
    const nlohmann::json& m = j.at("metrics");
    if (!ctx.ceilings.is_null() && m.contains("tflops")) {
      nlohmann::json f = of_ceiling(r.op, m.at("tflops"), m.at("gbps"), ctx.ceilings);
      if (!f.is_null()) j["metrics"]["of_ceiling"] = f;
    }
    if (!ctx.datasheet.is_null() && m.contains("tflops")) {
      nlohmann::json f = of_datasheet(r.op, m.at("tflops"), m.at("gbps"), ctx.datasheet);
      if (!f.is_null()) j["metrics"]["of_datasheet"] = f;
    }
    results.push_back(std::move(j));
  }
  return {{"schema_version", kScorecardSchemaVersion},
          {"context", context_json(ctx)},
          {"results", results},
          {"summary", summary_json(rows)},
          {"errors", ctx.errors},
          {"exit_code", exit_code_for(rows, ctx.errors)}};
}

void check_writable(const std::string& path) { check_output_path(path, "output"); }

void write_json_atomic(const std::string& path, const nlohmann::json& doc) {
  write_output_file(path, doc.dump(2) + "\n", "output");
}

int exit_code_for(const std::vector<ResultRow>& rows, const std::vector<std::string>& errors) {
  if (!errors.empty()) return 2;
  for (const ResultRow& r : rows)
    if (r.disposition == "incorrect" || r.disposition == "error") return 1;
  return 0;
}

}  // namespace dsbench
