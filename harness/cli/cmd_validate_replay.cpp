// `dsbench validate` (a scorecard against the published schema) and `dsbench replay` (a dumped case
// from its files: inputs never regenerated, reference recomputed from them).
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "harness/backend_registry.hpp"
#include "harness/cli/commands.hpp"
#include "harness/dump.hpp"
#include "harness/error.hpp"
#include "harness/json_schema.hpp"
#include "harness/op_registry.hpp"
#include "harness/plugin_backend.hpp"
#include "harness/isolation.hpp"
#include "harness/json_file.hpp"
#include "harness/report_table.hpp"
#include "harness/runner.hpp"

namespace dsbench::cli {
namespace fs = std::filesystem;
namespace {

std::string default_schema_path() {
  for (const fs::path& p : {fs::path("results_schema/scorecard.schema.json"),
                           fs::path(DSB_SOURCE_DIR) / "results_schema/scorecard.schema.json"})
    if (fs::exists(p)) return p.string();
  DSB_THROW("cannot find results_schema/scorecard.schema.json; pass --schema");
}

int replay_command(const std::string& dir, std::string kernel_id, std::string out_dir, VerifyPolicy policy,
                   const std::vector<std::string>& plugins) {
  const DumpedCase d = read_case_json(dir);
  if (d.meta.contains("verification") && !policy.force_full) {
    const nlohmann::json& v = d.meta.at("verification");  // the run's policy: the same positions are checked
    policy.full_max_macs = v.value("full_max_macs", policy.full_max_macs);
    policy.sample_rows = v.value("sample_rows", policy.sample_rows);
    policy.sample_cols = v.value("sample_cols", policy.sample_cols);
  }
  const dsb_op op = dsb_op_from_name(d.op.c_str());
  const OpDriver* driver = find_driver(op);
  if (driver == nullptr) DSB_THROW(dir + "/case.json: field \"op\": \"" + d.op + "\" has no driver in this build");
  std::unique_ptr<Problem> problem;
  try {
    problem = driver->make(d.meta.at("params"));
  } catch (const Error& e) {
    DSB_THROW(dir + "/case.json: " + e.what());
  }
  const std::string case_json = (fs::path(dir) / "case.json").string();
  if (!d.meta.contains("format") || d.meta.at("format") != "dsbench-dump/1")
    DSB_THROW(case_json + ": field \"format\": " + (d.meta.contains("format") ? d.meta.at("format").dump() : "missing") +
              ", expected \"dsbench-dump/1\"");
  std::map<std::string, Tolerance> tol;
  try {
    tol = merge_tolerances(driver->default_tolerances(), d.meta.value("tolerance", nlohmann::json()));
  } catch (const Error& e) {
    DSB_THROW(case_json + ": " + e.what());
  }
  const TensorMap inputs = read_inputs(dir, *problem, &d.meta.at("tensors"));
  try {
    problem->validate(inputs);
  } catch (const Error& e) {
    DSB_THROW(dir + ": " + e.what());
  }
  if (kernel_id.empty()) kernel_id = d.kernel;
  const auto backends = make_backends_with_plugins(plugins);
  Backend* backend = backend_of_kernel(backends, kernel_id);
  const Kernel* kernel = nullptr;
  for (const Kernel* k : backend->kernels())
    if (k->id() == kernel_id) kernel = k;
  if (kernel == nullptr) DSB_THROW("kernel \"" + kernel_id + "\" is not in this build (dsbench list --kernels)");
  if (kernel->op() != op) DSB_THROW("kernel \"" + kernel_id + "\" does not implement op " + d.op);
  Device* device = backend->device_count() > 0 ? backend->device(0) : nullptr;
  if (device == nullptr) DSB_THROW("backend " + backend->name() + " has no device: " + backend->unavailable_reason());

  std::cout << "replay " << dir << ": case " << d.case_id << ", kernel " << kernel_id << " on " << device->name() << "\n";
  const std::vector<OutputCheck> checks = problem->reference(inputs, policy, sample_seed(d.seed));
  for (const OutputCheck& c : checks) {
    // A reference that is NaN/Inf at every checked element judges nothing: an output of the same
    // NaNs would "pass" (edited inputs, e.g. NaN scales, that the op's own checks let through).
    bool any_finite = c.expected.empty();
    for (double v : c.expected) any_finite = any_finite || std::isfinite(v);
    if (!any_finite)
      DSB_THROW(dir + ": the reference of output " + c.output + " is NaN or infinite at every one of its " +
                std::to_string(c.expected.size()) + " checked elements: the inputs cannot be judged (edited .npy files?)");
  }
  RunOptions opts;
  opts.verify_only = true;
  Execution ex = execute(*kernel, *device, *problem, inputs, &checks, tol, opts);
  ex.row.case_id = d.case_id;
  if (out_dir.empty()) out_dir = (fs::path(dir) / "replay").string();
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) DSB_THROW(out_dir + ": cannot create folder: " + ec.message());
  if (!ex.outputs.empty()) write_tensors(out_dir, ex.outputs, "output");
  write_reference(out_dir, *problem, checks);
  print_table_header(std::cout);
  print_table_row(std::cout, ex.row);
  for (const OutputAccuracy& a : ex.row.accuracy)
    std::cout << "  " << a.output << ": " << a.checked << " of " << a.total << " checked (" << a.rule << "), "
              << a.mismatches << " mismatches, max_abs_err " << a.max_abs_err << ", max_rel_err " << a.max_rel_err
              << ", cos_diff " << a.cos_diff << " (tolerance " << a.tolerance.cos_diff << ")\n";
  std::cout << "outputs written to " << out_dir << "\nverdict: " << ex.row.disposition << "\n";
  return ex.row.disposition == "passed" ? 0 : 1;
}

}  // namespace

void setup_validate(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("validate", "Validate a scorecard against results_schema/scorecard.schema.json");
  auto file = std::make_shared<std::string>();
  auto schema = std::make_shared<std::string>();
  cmd->add_option("scorecard", *file, "Scorecard JSON file")->required();
  cmd->add_option("--schema", *schema, "Schema file (default: results_schema/scorecard.schema.json)");
  cmd->callback([file, schema, exit_code] {
    const std::string schema_path = schema->empty() ? default_schema_path() : *schema;
    const nlohmann::json s = read_json_file(schema_path, "schema " + schema_path);
    const nlohmann::json doc = read_json_file(*file, "scorecard " + *file);
    const auto violations = harness::validate_against_schema(s, doc);
    for (const auto& v : violations)
      std::cout << *file << ": " << (v.instance_path.empty() ? "/" : v.instance_path) << ": " << v.message << "\n";
    std::cout << *file << ": " << (violations.empty() ? "valid" : std::to_string(violations.size()) + " violation(s)")
              << "\n";
    *exit_code = violations.empty() ? 0 : 1;
  });
}

void setup_replay(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("replay", "Run a dumped case from its .npy files and compare with the reference");
  auto dir = std::make_shared<std::string>();
  auto kernel = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto policy = std::make_shared<VerifyPolicy>();
  auto plugins = std::make_shared<std::vector<std::string>>();
  cmd->add_option("dir", *dir, "Dump folder (holds case.json)")->required();
  cmd->add_option("--kernel", *kernel, "Kernel id to run (default: the kernel in case.json)");
  cmd->add_option("--out", *out, "Folder for the outputs (default DIR/replay)");
  cmd->add_flag("--verify-full", policy->force_full, "Check every element even when a sample would do");
  cmd->add_option("--plugin", *plugins, "Load the vendor plugin that provides the kernel (.so); repeatable")
      ->check(CLI::ExistingFile);
  auto timeout = std::make_shared<double>(600.0);
  auto in_process = std::make_shared<bool>(false);
  cmd->add_option("--timeout", *timeout,
                  "Seconds the replay may take: it runs in a child process, killed past this (a hanging kernel "
                  "costs the replay, not the terminal); a crash is reported with its signal")
      ->check(kFinite)->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_flag("--in-process", *in_process, "")->group("");  // the child's own run (not for people)
  cmd->callback([dir, kernel, out, policy, plugins, timeout, in_process, exit_code] {
    if (*in_process) {
      *exit_code = replay_command(*dir, *kernel, *out, *policy, *plugins);
      return;
    }
    for (const std::string& p : *plugins) probe_plugin(p);  // a crash in its init is named here
    std::vector<std::string> args{"replay", *dir, "--in-process"};
    if (!kernel->empty()) args.insert(args.end(), {"--kernel", *kernel});
    if (!out->empty()) args.insert(args.end(), {"--out", *out});
    if (policy->force_full) args.push_back("--verify-full");
    for (const std::string& p : *plugins) args.insert(args.end(), {"--plugin", p});
    const ChildOutcome c = run_self(args, *timeout);
    const std::string what = "dsbench replay " + *dir + ": ";
    if (!c.spawn_error.empty()) DSB_THROW(what + "cannot start the replay: " + c.spawn_error);
    if (c.timed_out) {
      char t[32];
      std::snprintf(t, sizeof t, "%g", *timeout);
      std::cerr << what << "did not finish within " << t << " s (--timeout): killed (a hanging kernel?)\n";
      *exit_code = 1;
    } else if (c.interrupted) {
      std::cerr << what << "interrupted\n";
      *exit_code = 2;
    } else if (c.signal) {
      std::cerr << what << "killed by " << signal_description(c.signal) << " while replaying (a crash in the kernel or "
                << "its plugin)\n";
      *exit_code = 1;
    } else {
      *exit_code = c.exit_code == 127 ? 2 : c.exit_code;
    }
  });
}

}  // namespace dsbench::cli
