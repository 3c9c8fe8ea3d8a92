// `dsbench list` (ops, kernels, backends, suites) and `dsbench info` (devices, build, versions).
#include <iostream>

#include <nlohmann/json.hpp>

#include "dsbench/kernel.hpp"
#include "harness/backend_registry.hpp"
#include "harness/build_id.hpp"
#include "harness/cli/commands.hpp"
#include "harness/op_registry.hpp"
#include "harness/isolation.hpp"
#include "harness/plugin_backend.hpp"
#include "harness/scorecard.hpp"
#include "harness/suite.hpp"

namespace dsbench::cli {
namespace {

// The plugins whose init and device queries survive a worker process (probe_plugin): one that
// crashes or hangs is named on stderr and left out, and the command goes on with the rest.
std::vector<std::string> probed_plugins(const std::vector<std::string>& paths, const char* command, int* refused) {
  std::vector<std::string> ok;
  for (const std::string& p : paths) {
    try {
      probe_plugin(p);
      ok.push_back(p);
    } catch (const std::exception& e) {
      std::cerr << "dsbench " << command << ": " << e.what() << " (left out)\n";
      ++*refused;
    }
  }
  return ok;
}

}  // namespace

void setup_list(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("list", "List ops, kernels, backends and suites (all four without a flag)");
  auto flags = std::make_shared<std::array<bool, 4>>();
  auto plugins = std::make_shared<std::vector<std::string>>();
  cmd->add_option("--plugin", *plugins, "Also load this vendor plugin (.so); repeatable")->check(CLI::ExistingFile);
  cmd->add_flag("--ops", (*flags)[0], "Ops with their params");
  cmd->add_flag("--kernels", (*flags)[1], "Kernel ids per backend");
  cmd->add_flag("--backends", (*flags)[2], "Backends built and their device counts");
  cmd->add_flag("--suites", (*flags)[3], "Suites found in ./suites and the source tree");
  cmd->callback([flags, plugins, exit_code] {
    const bool all = !(*flags)[0] && !(*flags)[1] && !(*flags)[2] && !(*flags)[3];
    int refused = 0;
    const auto backends = make_backends_with_plugins(probed_plugins(*plugins, "list", &refused));
    if (all || (*flags)[0]) {
      std::cout << "ops:\n";
      for (int i = 1; i < DSB_OP_COUNT; ++i) {
        const dsb_op op = static_cast<dsb_op>(i);
        const OpDriver* d = find_driver(op);
        std::cout << "  " << dsb_op_name(op) << (d ? "  params: " + d->params_help() : "  (no driver in this build yet)")
                  << "\n";
      }
    }
    if (all || (*flags)[1]) {
      std::cout << "kernels:\n";
      for (const auto& b : backends)
        for (const Kernel* k : b->kernels()) std::cout << "  " << k->id() << "\n";
    }
    if (all || (*flags)[2]) {
      std::cout << "backends:\n";
      for (const auto& b : backends) {
        const int n = b->device_count();
        std::cout << "  " << b->name() << "  devices: " << n;
        if (n == 0) std::cout << "  (" << b->unavailable_reason() << ")";
        std::cout << "\n";
      }
    }
    if (all || (*flags)[3]) {
      std::cout << "suites:\n";
      for (const std::string& s : list_suites()) std::cout << "  " << s << "\n";
    }
    *exit_code = refused ? 2 : 0;
  });
}

void setup_info(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("info", "Show the build, library versions, backends and devices");
  auto as_json = std::make_shared<bool>(false);
  auto plugins = std::make_shared<std::vector<std::string>>();
  cmd->add_flag("--json", *as_json, "Print as JSON (the scorecard's context block)");
  cmd->add_option("--plugin", *plugins, "Also load this vendor plugin (.so); repeatable")->check(CLI::ExistingFile);
  cmd->callback([as_json, plugins, exit_code] {
    int refused = 0;
    const auto backends = make_backends_with_plugins(probed_plugins(*plugins, "info", &refused));
    RunContext ctx;
    for (const auto& b : backends) ctx.backends.push_back(b.get());
    nlohmann::json j = context_json(ctx);
    j["libraries"] = {{"nlohmann_json", std::to_string(NLOHMANN_JSON_VERSION_MAJOR) + "." +
                                            std::to_string(NLOHMANN_JSON_VERSION_MINOR) + "." +
                                            std::to_string(NLOHMANN_JSON_VERSION_PATCH)},
                      {"cli11", CLI11_VERSION}};
    if (*as_json) {
      std::cout << j.dump(2) << "\n";
    } else {
      const BuildId& b = build_id();
      std::cout << "dsbench " << b.version << " (" << b.git_commit << (b.git_dirty ? ", dirty" : "") << ")\n"
                << "build: " << b.compiler << ", " << b.build_type << ", backends " << b.backends << "\n"
                << "host: " << j["host"].get<std::string>() << ", " << j["os"].get<std::string>() << "\n"
                << "libraries: nlohmann_json " << j["libraries"]["nlohmann_json"].get<std::string>() << ", CLI11 "
                << CLI11_VERSION << "\n";
      for (const auto& be : j["backends"]) {
        std::cout << "backend " << be["name"].get<std::string>() << ": " << be["devices"].size() << " device(s)";
        if (!be["available"].get<bool>()) std::cout << " (" << be["reason"].get<std::string>() << ")";
        std::cout << "\n  build: " << be["build_info"].dump() << "\n";
        for (const auto& d : be["devices"])
          std::cout << "  [" << d["index"] << "] " << d["name"].get<std::string>() << "  " << d["properties"].dump() << "\n";
      }
    }
    *exit_code = refused ? 2 : 0;
  });
}

}  // namespace dsbench::cli
