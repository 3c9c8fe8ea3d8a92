#include "kernels/cpu/cpu_telemetry.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

namespace dsbench::cpu {
namespace {

double read_number(const std::string& path) {
  std::ifstream in(path);
  double v = -1;
  if (!(in >> v)) return -1;
  return v;
}

// Mean of the "cpu MHz" lines (x86); else cpufreq's current frequency of CPU 0.
double clock_mhz() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  double sum = 0;
  int n = 0;
  while (std::getline(in, line)) {
    if (line.rfind("cpu MHz", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    try {
      sum += std::stod(line.substr(colon + 1));
      ++n;
    } catch (const std::exception&) {
    }
  }
  if (n > 0) return sum / n;
  const double khz = read_number("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq");
  return khz > 0 ? khz / 1000.0 : -1;
}

double hottest_zone_c() {
  double best = -1;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/sys/class/thermal", ec)) {
    if (e.path().filename().string().rfind("thermal_zone", 0) != 0) continue;
    const double milli = read_number((e.path() / "temp").string());
    if (milli > 0) best = std::max(best, milli / 1000.0);
  }
  return best;
}

double package_energy_j() {
  const double uj = read_number("/sys/class/powercap/intel-rapl:0/energy_uj");  // also AMD's, on newer kernels
  return uj >= 0 ? uj * 1e-6 : -1;
}

}  // namespace

Status read_cpu_telemetry(Telemetry* out) {
  *out = Telemetry{};
  out->clock_mhz = clock_mhz();
  out->temperature_c = hottest_zone_c();
  out->energy_j = package_energy_j();
  if (out->clock_mhz < 0 && out->temperature_c < 0 && out->energy_j < 0)
    return Status::error(DSB_STATUS_NOT_SUPPORTED, "no clock, thermal zone or RAPL counter readable");
  return Status::success();
}

}  // namespace dsbench::cpu
