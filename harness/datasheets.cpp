#include "harness/datasheets.hpp"

#include <cstring>

namespace dsbench {
namespace {

struct Sheet {
  const char* backend;
  const char* match;  // a substring of the device name the runtime reports
  const char* model;
  double memory_gbps, fp8_tflops, bf16_tflops;  // 0: the device has no such rate
  const char* source;
};

// Most specific first: "H100 PCIe" before "H100". Figures from the vendors' product pages and
// datasheets (dense Tensor Core rates: half of the "with sparsity" figures NVIDIA headlines).
constexpr Sheet kSheets[] = {
    {"cuda", "H100 PCIe", "H100 PCIe", 2000, 1513, 756, "NVIDIA H100 datasheet (PCIe)"},
    {"cuda", "H100 NVL", "H100 NVL", 3900, 1671, 835, "NVIDIA H100 datasheet (NVL)"},
    {"cuda", "H100", "H100 SXM5", 3350, 1979, 989, "NVIDIA H100 datasheet (SXM)"},
    {"cuda", "H800", "H800 SXM5", 3350, 1979, 989, "NVIDIA H800 (the H100 SXM's rates)"},
    {"cuda", "H200", "H200 SXM", 4800, 1979, 989, "NVIDIA H200 datasheet (SXM)"},
    {"cuda", "H20", "H20", 4000, 296, 148, "NVIDIA H20 product brief"},
    {"cuda", "A100-SXM4-80GB", "A100 SXM4 80GB", 2039, 0, 312, "NVIDIA A100 datasheet (SXM, 80 GB)"},
    {"cuda", "A100-SXM4-40GB", "A100 SXM4 40GB", 1555, 0, 312, "NVIDIA A100 datasheet (SXM, 40 GB)"},
    {"hip", "MI300X", "Instinct MI300X", 5300, 2615, 1307, "AMD Instinct MI300X data sheet"},
};

}  // namespace

nlohmann::json datasheet_for(const std::string& backend, const std::string& device_name) {
  for (const Sheet& s : kSheets) {
    if (backend != s.backend || device_name.find(s.match) == std::string::npos) continue;
    nlohmann::json values = nlohmann::json::object();
    values["memory_gbps"] = {{"value", s.memory_gbps}, {"note", "peak memory bandwidth"}};
    if (s.fp8_tflops > 0) values["fp8_tflops"] = {{"value", s.fp8_tflops}, {"note", "dense FP8 Tensor Core"}};
    if (s.bf16_tflops > 0) values["bf16_tflops"] = {{"value", s.bf16_tflops}, {"note", "dense BF16 Tensor Core"}};
    return {{"device", s.model}, {"source", s.source}, {"values", values}};
  }
  return nullptr;
}

nlohmann::json of_datasheet(const std::string& op, double tflops, double gbps, const nlohmann::json& d) {
  if (!d.is_object() || !d.contains("values")) return nullptr;
  const nlohmann::json& v = d.at("values");
  nlohmann::json out = nlohmann::json::object();
  auto ratio = [&](const char* what, const char* key, double achieved) {
    if (!v.contains(key) || !(achieved > 0.0)) return;
    const double peak = v[key].at("value").get<double>();
    out[what] = {{"datasheet", key}, {"value", peak}, {"fraction", achieved / peak}};
  };
  ratio("bandwidth", "memory_gbps", gbps);
  // The rate the op's arithmetic runs at: FP8 GEMMs and the MoE layer's, MLA decode's BF16.
  if (op.rfind("gemm_fp8_", 0) == 0 || op == "moe_layer") ratio("compute", "fp8_tflops", tflops);
  else if (op == "mla_decode") ratio("compute", "bf16_tflops", tflops);
  return out.empty() ? nlohmann::json() : out;
}

}  // namespace dsbench
