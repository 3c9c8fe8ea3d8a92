// dsbench calibrate: measures the device's ceilings (copy bandwidth, the vendor library's GEMM
// rates), prints them with how each was measured, and stores them in the per-device cache that
// `dsbench run` reads (docs/ceilings.md).
#include <iomanip>
#include <iostream>
#include <memory>

#include "harness/backend_registry.hpp"
#include "harness/ceilings.hpp"
#include "harness/cli/commands.hpp"
#include "harness/error.hpp"

namespace dsbench::cli {
namespace {

struct CalibrateArgs {
  std::string backend = "auto";
  int device = 0;
};

int calibrate_command(const CalibrateArgs& a) {
  const auto backends = make_backends();
  Backend* backend = pick_backend(backends, a.backend);
  if (a.device >= backend->device_count())
    DSB_THROW("--device " + std::to_string(a.device) + ": backend " + backend->name() + " has " +
              std::to_string(backend->device_count()) + " device(s)" +
              (backend->unavailable_reason().empty() ? "" : " (" + backend->unavailable_reason() + ")"));
  Device& device = *backend->device(a.device);
  std::cout << "dsbench calibrate: " << backend->name() << " device " << a.device << " (" << device.name() << ")\n";
  std::string note;
  const nlohmann::json c = obtain_ceilings(backend->name(), device, CeilingsMode::kMeasure, &note);
  if (c.is_null()) {
    std::cout << note << "\n";
    return 1;
  }
  for (const auto& [key, v] : c.at("values").items())
    std::cout << "  " << std::left << std::setw(18) << key << std::right << std::setw(12) << std::setprecision(4)
              << v.at("value").get<double>() << "   " << v.at("method").get<std::string>() << "\n";
  std::cout << note << " (key " << c.at("device_key").get<std::string>() << ")\n";
  return 0;
}

}  // namespace

void setup_calibrate(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<CalibrateArgs>();
  auto* cmd = app.add_subcommand("calibrate", "Measure the device's ceilings (copy bandwidth, GEMM rates) and cache "
                                              "them for `run`'s achieved/ceiling fractions");
  cmd->add_option("--backend", a->backend, "Backend name or auto: the first with a device")->capture_default_str();
  cmd->add_option("--device", a->device, "Device index on the backend")->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->callback([a, exit_code] { *exit_code = calibrate_command(*a); });
}

}  // namespace dsbench::cli
