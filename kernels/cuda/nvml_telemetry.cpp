#include "kernels/cuda/nvml_telemetry.hpp"

#include <dlfcn.h>

#include <mutex>
#include <utility>

namespace dsbench::cuda {
namespace {

// NVML's ABI as documented in nvml.h: int return codes (0 = success), an opaque device handle.
using nvmlDevice_t = struct nvmlDeviceOpaque*;
using InitFn = int (*)();
using ByPciFn = int (*)(const char*, nvmlDevice_t*);
using ClockFn = int (*)(nvmlDevice_t, int, unsigned int*);
using TempFn = int (*)(nvmlDevice_t, int, unsigned int*);
using PowerFn = int (*)(nvmlDevice_t, unsigned int*);
using EnergyFn = int (*)(nvmlDevice_t, unsigned long long*);
using ReasonsFn = int (*)(nvmlDevice_t, unsigned long long*);
constexpr int kNvmlClockSm = 1, kNvmlTemperatureGpu = 0;

struct Nvml {
  std::string error;  // why NVML is not usable; empty when it is
  ByPciFn by_pci = nullptr;
  ClockFn clock = nullptr;
  TempFn temperature = nullptr;
  PowerFn power = nullptr;
  EnergyFn energy = nullptr;
  ReasonsFn reasons = nullptr;
};

const Nvml& nvml() {
  static Nvml n;
  static std::once_flag once;
  std::call_once(once, [] {
    void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);  // kept open for the process
    if (lib == nullptr) {
      n.error = std::string("NVML not loadable: ") + dlerror();
      return;
    }
    auto sym = [&](const char* name) { return dlsym(lib, name); };
    auto init = reinterpret_cast<InitFn>(sym("nvmlInit_v2"));
    n.by_pci = reinterpret_cast<ByPciFn>(sym("nvmlDeviceGetHandleByPciBusId_v2"));
    n.clock = reinterpret_cast<ClockFn>(sym("nvmlDeviceGetClockInfo"));
    n.temperature = reinterpret_cast<TempFn>(sym("nvmlDeviceGetTemperature"));
    n.power = reinterpret_cast<PowerFn>(sym("nvmlDeviceGetPowerUsage"));
    n.energy = reinterpret_cast<EnergyFn>(sym("nvmlDeviceGetTotalEnergyConsumption"));
    n.reasons = reinterpret_cast<ReasonsFn>(sym("nvmlDeviceGetCurrentClocksEventReasons"));
    if (n.reasons == nullptr) n.reasons = reinterpret_cast<ReasonsFn>(sym("nvmlDeviceGetCurrentClocksThrottleReasons"));
    if (init == nullptr || n.by_pci == nullptr) {
      n.error = "NVML lacks nvmlInit_v2 or nvmlDeviceGetHandleByPciBusId_v2";
    } else if (const int rc = init(); rc != 0) {
      n.error = "nvmlInit_v2 returned " + std::to_string(rc);
    }
  });
  return n;
}

}  // namespace

std::vector<std::string> nvml_throttle_reason_names(unsigned long long mask, bool* throttled) {
  // nvml.h's nvmlClocksEventReason* bits.
  static const std::pair<unsigned long long, const char*> kBits[] = {
      {0x1, "gpu_idle"}, {0x2, "applications_clocks_setting"}, {0x4, "sw_power_cap"}, {0x8, "hw_slowdown"},
      {0x10, "sync_boost"}, {0x20, "sw_thermal_slowdown"}, {0x40, "hw_thermal_slowdown"},
      {0x80, "hw_power_brake_slowdown"}, {0x100, "display_clock_setting"}};
  constexpr unsigned long long kHoldsDown = 0x4 | 0x8 | 0x20 | 0x40 | 0x80;
  std::vector<std::string> names;
  for (const auto& [bit, name] : kBits)
    if (mask & bit) names.push_back(name);
  *throttled = (mask & kHoldsDown) != 0;
  return names;
}

Status read_nvml_telemetry(const std::string& pci_bus_id, Telemetry* out) {
  const Nvml& n = nvml();
  if (!n.error.empty()) return Status::error(DSB_STATUS_NOT_SUPPORTED, n.error);
  nvmlDevice_t dev = nullptr;
  if (const int rc = n.by_pci(pci_bus_id.c_str(), &dev); rc != 0)
    return Status::error(DSB_STATUS_NOT_SUPPORTED, "NVML has no device at " + pci_bus_id + " (" + std::to_string(rc) + ")");
  *out = Telemetry{};
  out->reports_sm_clock = true;
  unsigned int u = 0;
  unsigned long long ull = 0;
  if (n.clock && n.clock(dev, kNvmlClockSm, &u) == 0) out->clock_mhz = u;
  if (n.temperature && n.temperature(dev, kNvmlTemperatureGpu, &u) == 0) out->temperature_c = u;
  if (n.power && n.power(dev, &u) == 0) out->power_w = u * 1e-3;        // milliwatts
  if (n.energy && n.energy(dev, &ull) == 0) out->energy_j = static_cast<double>(ull) * 1e-3;  // millijoules
  if (n.reasons && n.reasons(dev, &ull) == 0) out->throttle_reasons = nvml_throttle_reason_names(ull, &out->throttled);
  return Status::success();
}

}  // namespace dsbench::cuda
