#include "harness/ceilings.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "harness/error.hpp"
#include "harness/json_file.hpp"
#include "harness/scorecard.hpp"

namespace dsbench {
namespace {

nlohmann::json read_cache() {
  std::error_code ec;
  if (!std::filesystem::exists(ceilings_cache_path(), ec)) return nlohmann::json::object();
  try {
    nlohmann::json j = read_json_file(ceilings_cache_path(), "ceilings cache " + ceilings_cache_path());
    return j.is_object() ? j : nlohmann::json::object();
  } catch (const std::exception&) {
    return nlohmann::json::object();  // a damaged cache is measured anew, not an error
  }
}

// Atomically (write, then rename), so concurrent runs never read half a file.
void write_cache(const nlohmann::json& j) {
  const std::filesystem::path path = ceilings_cache_path();
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  const std::string tmp = path.string() + ".tmp." + std::to_string(getpid());
  {
    std::ofstream out(tmp);
    if (!out) return;  // an unwritable cache only costs a measurement next time
    out << j.dump(2) << "\n";
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) std::remove(tmp.c_str());
}

// The compute ceiling an op's throughput is measured against: the narrowest arithmetic its kernels
// may use, falling back to the device's general one (the CPU has only FP32 SGEMM).
std::vector<std::string> compute_ceilings_for(const std::string& op) {
  if (op.rfind("gemm_fp8_", 0) == 0 || op == "moe_layer") return {"gemm_fp8_tflops", "gemm_f32_tflops"};
  if (op == "mla_decode") return {"gemm_bf16_tflops", "gemm_f32_tflops"};
  return {};  // routing, dispatch, combine, all-to-all: bandwidth only
}

}  // namespace

CeilingsMode ceilings_mode_from(const std::string& s) {
  if (s == "off") return CeilingsMode::kOff;
  if (s == "auto") return CeilingsMode::kAuto;
  if (s == "measure") return CeilingsMode::kMeasure;
  DSB_THROW("--ceilings: \"" + s + "\" is not off, auto or measure");
}

std::string ceilings_device_key(const std::string& backend, const Device& device) {
  std::string key = backend + "/" + device.name();
  const nlohmann::json p = properties_json(device.properties());
  for (const char* k : {"compute_capability", "sm_count", "memory_bytes", "logical_cores", "omp_max_threads",
                        "sm_clock_max_khz"})
    if (p.contains(k)) key += std::string("/") + k + "=" + (p[k].is_string() ? p[k].get<std::string>() : p[k].dump());
  return key;
}

std::string ceilings_cache_path() {
  if (const char* d = std::getenv("DSBENCH_CACHE_DIR"); d && *d) return std::string(d) + "/ceilings.json";
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/dsbench/ceilings.json";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.cache/dsbench/ceilings.json";
}

nlohmann::json obtain_ceilings(const std::string& backend, Device& device, CeilingsMode mode, std::string* note) {
  if (mode == CeilingsMode::kOff) {
    *note = "ceilings off (--ceilings off)";
    return nullptr;
  }
  const std::string key = ceilings_device_key(backend, device);
  nlohmann::json cache = read_cache();
  if (mode == CeilingsMode::kAuto && cache.contains(key) && cache[key].contains("values")) {
    nlohmann::json c = cache[key];
    c["device_key"] = key;
    c["source"] = "cache";
    *note = "ceilings from " + ceilings_cache_path() + " (measured " + c.value("measured_at", "?") + ")";
    return c;
  }
  Ceilings measured;
  const Status st = device.measure_ceilings(&measured);
  if (!st.ok() || measured.empty()) {
    *note = "no ceilings: " + (st.ok() ? std::string("the backend measured none") : st.message);
    return nullptr;
  }
  nlohmann::json values = nlohmann::json::object();
  for (const auto& [k, c] : measured) values[k] = {{"value", c.value}, {"method", c.method}};
  nlohmann::json entry = {{"measured_at", utc_now()}, {"values", values}};
  cache[key] = entry;
  write_cache(cache);
  entry["device_key"] = key;
  entry["source"] = "measured";
  *note = "ceilings measured now and cached in " + ceilings_cache_path();
  return entry;
}

nlohmann::json of_ceiling(const std::string& op, double tflops, double gbps, const nlohmann::json& c) {
  if (!c.is_object() || !c.contains("values")) return nullptr;
  const nlohmann::json& v = c.at("values");
  nlohmann::json out = nlohmann::json::object();
  auto ratio = [&](const char* what, const std::string& key, double achieved) {
    if (!v.contains(key) || !(v[key].value("value", 0.0) > 0.0) || !(achieved > 0.0)) return false;
    const double ceiling = v[key].at("value").get<double>();
    out[what] = {{"ceiling", key}, {"value", ceiling}, {"fraction", achieved / ceiling}};
    return true;
  };
  ratio("bandwidth", "copy_gbps", gbps);
  for (const std::string& key : compute_ceilings_for(op))
    if (ratio("compute", key, tflops)) break;
  return out.empty() ? nlohmann::json() : out;
}

}  // namespace dsbench
