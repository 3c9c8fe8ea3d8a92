// `dsbench run`: a suite on one backend, a results table on stdout, a scorecard on disk — written
// whole whatever happens to the cases (and on Ctrl-C, with what has run so far).
#include <csignal>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <sstream>

#include "harness/backend_registry.hpp"
#include "harness/ceilings.hpp"
#include "harness/datasheets.hpp"
#include "harness/cli/commands.hpp"
#include "harness/error.hpp"
#include "harness/isolation.hpp"
#include "harness/local_world.hpp"
#include "harness/output_file.hpp"
#include "harness/plugin_backend.hpp"
#include "harness/report/run_outputs.hpp"
#include "harness/report_table.hpp"
#include "harness/runner.hpp"
#include "harness/scorecard.hpp"
#include "harness/suite.hpp"
#include "harness/world.hpp"

namespace dsbench::cli {
namespace {

struct RunArgs {
  std::string suite = "smoke";
  std::string backend = "auto";
  std::string out;
  std::string dump, dump_failures;
  std::string seed = "random";
  RunOptions opts;
  bool no_flush = false;
  bool isolate = false, no_isolate = false;
  std::set<std::string> given;  // timing flags passed explicitly
  report::RunOutputs outputs;   // --junit, --format
  std::string ceilings = "auto";  // off | auto | measure (harness/ceilings.hpp)
  int local_ranks = 1;            // ranks as threads of this process (harness/local_world.hpp)
  std::string setup_error;        // set when the ranks could not be started: run writes it and stops
};

std::string joined_command_line() {
  std::ifstream f("/proc/self/cmdline");
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  for (char& c : all) if (c == '\0') c = ' ';
  while (!all.empty() && all.back() == ' ') all.pop_back();
  return all;
}

uint64_t parse_seed(const std::string& s) {
  if (s == "random") return (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  try {
    if (s.empty() || s[0] == '-' || s[0] == '+') throw std::invalid_argument(s);
    size_t used = 0;
    const uint64_t v = std::stoull(s, &used, 0);
    if (used == s.size()) return v;
  } catch (const std::exception&) {
  }
  DSB_THROW("--seed: \"" + s + "\" is not an unsigned integer or \"random\"");
}

void on_interrupt(int) { request_stop(); }

// A selection that would run nothing is a usage error: a CI job must not pass while testing nothing.
void check_selection(const Suite& suite, Backend& backend, const RunOptions& o) {
  bool any_case = false, any_kernel = false, any_pair = false;
  for (const Kernel* k : backend.kernels()) any_kernel = any_kernel || glob_match(o.kernel_glob, k->id());
  for (const CaseSpec& c : suite.cases) {
    if (!glob_match(o.case_glob, c.id)) continue;
    any_case = true;
    const dsb_op op = dsb_op_from_name(c.op.c_str());
    bool op_has_kernels = false;
    for (const Kernel* k : backend.kernels()) {
      if (k->op() != op) continue;
      op_has_kernels = true;
      any_pair = any_pair || glob_match(o.kernel_glob, k->id());
    }
    // A malformed case, or an op without kernels, still yields a row (error / not_supported).
    any_pair = any_pair || !c.error.empty() || (!op_has_kernels && o.kernel_glob == "*");
  }
  if (!any_case) DSB_THROW("--case \"" + o.case_glob + "\" matches no case of suite " + suite.name);
  if (!any_kernel)
    DSB_THROW("--kernel \"" + o.kernel_glob + "\" matches no kernel of backend " + backend.name() +
              " (dsbench list --kernels)");
  if (!any_pair)
    DSB_THROW("--case \"" + o.case_glob + "\" and --kernel \"" + o.kernel_glob +
              "\" select no case x kernel pair: the matching kernels implement other ops");
}

// Options given on the command line win over the suite's "defaults.timing".
void apply_suite_timing(const Suite& suite, RunArgs& a) {
  const nlohmann::json& t = suite.timing_defaults;
  TimingConfig& c = a.opts.timing;
  auto take = [&](const char* key, const char* flag, auto& field) {
    if (t.contains(key) && !a.given.count(flag)) field = t.at(key).get<std::remove_reference_t<decltype(field)>>();
  };
  take("warmup", "--warmup", c.warmup);
  take("min_reps", "--reps", c.min_reps);
  take("max_reps", "--max-reps", c.max_reps);
  take("budget_s", "--budget", c.budget_s);
  take("noise", "--noise", c.noise);
}

int run_command(RunArgs& a) {
  World& world = World::get();
  const bool leader = world.rank() == 0;
  // Only rank 0 talks and writes; the other ranks work silently (their rows reach rank 0).
  std::ostream silent(nullptr);  // per call: in-process ranks run this on several threads
  std::ostream& out = leader ? std::cout : silent;
  RunContext ctx;
  ctx.command_line = joined_command_line();
  ctx.options = a.opts;
  if (a.out.empty()) {
    std::string stem = a.suite.substr(a.suite.find_last_of('/') + 1);
    if (stem.size() > 5 && stem.compare(stem.size() - 5, 5, ".json") == 0) stem.resize(stem.size() - 5);
    a.out = "dsbench-results/" + stem + ".json";
  }
  check_writable(a.out);  // before any work: an unwritable path must not cost a run
  report::check_run_outputs(a.outputs);
  std::vector<std::unique_ptr<Backend>> backends;

  std::vector<ResultRow> rows, so_far;  // so_far: rows as they arrive (what a fatal end keeps)
  auto finish = [&](int code_if_no_rows) {
    int code = rows.empty() && !ctx.errors.empty() ? code_if_no_rows : exit_code_for(rows, ctx.errors);
    if (leader) {
      const nlohmann::json doc = make_scorecard(ctx, rows);
      write_json_atomic(a.out, doc);
      out << "scorecard: " << a.out << "\n";
      report::write_run_outputs(a.outputs, doc, out);
    }
    // Every rank exits with rank 0's verdict, so mpirun's exit code is the run's.
    int32_t shared = code;
    if (world.world_size() > 1 && world.broadcast(&shared, sizeof shared, 0).ok()) code = shared;
    return code;
  };
  if (world.world_size() > 1) {
    ctx.world = world_json(world);
    a.opts.on_communicator = [&](const std::string& name, const Properties& info) {
      nlohmann::json c = properties_json(info);
      c["name"] = name;
      ctx.world["communicator"] = c;
    };
    a.opts.on_fatal = [&](const ResultRow& row) {
      // The job is about to end: keep what has run, and say why it stopped.
      std::vector<ResultRow> all = so_far;
      all.push_back(row);
      ctx.errors.push_back("the job was ended: " + row.reason);
      try {
        write_json_atomic(a.out, make_scorecard(ctx, all));
        std::cerr << "dsbench: scorecard with " << all.size() << " results written to " << a.out << "\n";
      } catch (const std::exception& e) {
        std::cerr << "dsbench: could not write the scorecard: " << e.what() << "\n";
      }
    };
  }
  if (!a.setup_error.empty()) {
    std::cerr << "dsbench run: error: " << a.setup_error << "\n";
    ctx.errors.push_back(a.setup_error);
    return finish(2);
  }
  try {
    for (const std::string& p : a.opts.plugin_paths) probe_plugin(p);  // a crash in its init costs nothing here
    backends = make_backends_with_plugins(a.opts.plugin_paths);
    for (const auto& b : backends) ctx.backends.push_back(b.get());
    ctx.seed = a.opts.seed = parse_seed(a.seed);
    // Every rank must generate the same data: rank 0's seed (a "random" one included) for all.
    if (world.world_size() > 1 && !world.broadcast(&ctx.seed, sizeof ctx.seed, 0).ok())
      DSB_THROW("could not broadcast the seed from rank 0");
    a.opts.seed = ctx.seed;
    if (!a.dump.empty() && !a.dump_failures.empty()) DSB_THROW("--dump and --dump-failures are exclusive");
    a.opts.dump_dir = a.dump.empty() ? a.dump_failures : a.dump;
    a.opts.dump_failures_only = !a.dump_failures.empty();
    a.opts.timing.flush_cache = !a.no_flush;
    if (a.opts.verify_only && a.opts.perf_only) DSB_THROW("--verify-only and --perf-only are exclusive");
    if (a.opts.reference_only && a.opts.reference_cache.empty())
      DSB_THROW("--reference-only fills a reference cache: give --reference-cache DIR");
    if (a.opts.reference_only && a.opts.perf_only) DSB_THROW("--reference-only and --perf-only are exclusive");
    Backend* backend = pick_backend(backends, a.backend);
    ctx.backend_used = backend->name();
    if (a.isolate && a.no_isolate) DSB_THROW("--isolate and --no-isolate are exclusive");
    // Vendor code runs isolated unless asked otherwise; built-in backends on request.
    a.opts.isolate = a.isolate || (is_plugin_backend(*backend) && !a.no_isolate);
    if (world.world_size() > 1 && a.given.count("--device") == 0 && backend->device_count() > 0)
      a.opts.device_index = world.local_rank() % backend->device_count();
    // In-process ranks on a device backend: one device each (NCCL takes no two ranks on one GPU).
    if (world.launcher() == "single-process" && backend->device_count() > 0 && !backend->device(0)->host_accessible() &&
        world.world_size() > backend->device_count())
      DSB_THROW("--local-ranks " + std::to_string(world.world_size()) + ": backend " + backend->name() + " has " +
                std::to_string(backend->device_count()) + " device(s); each in-process rank needs its own");
    if (backend->device_count() > 0 && a.opts.device_index >= backend->device_count())
      DSB_THROW("--device " + std::to_string(a.opts.device_index) + ": backend " + backend->name() + " has " +
                std::to_string(backend->device_count()) + " device(s)");
    const CeilingsMode ceilings_mode = ceilings_mode_from(a.ceilings);
    if (!a.opts.dump_dir.empty()) check_writable_folder(a.opts.dump_dir, a.dump.empty() ? "--dump-failures" : "--dump");
    ctx.suite_path = resolve_suite_path(a.suite);
    const Suite suite = load_suite(ctx.suite_path);
    apply_suite_timing(suite, a);
    ctx.suite_name = suite.name;
    ctx.suite_path = suite.path;
    check_selection(suite, *backend, a.opts);
    ctx.options = a.opts;
    out << "dsbench run: suite " << suite.name << " (" << suite.path << "), backend " << backend->name()
              << (a.opts.isolate ? " (isolated: one worker process per case x kernel)" : "")
              << (world.world_size() > 1 ? ", " + std::to_string(world.world_size()) + " ranks (" + world.launcher() + ")" : "")
              << ", seed " << ctx.seed << " (pass --seed " << ctx.seed << " to reproduce the inputs)\n\n";
    if (leader && backend->device_count() > 0) {
      std::string note;
      ctx.ceilings = obtain_ceilings(backend->name(), *backend->device(a.opts.device_index), ceilings_mode, &note);
      ctx.datasheet = datasheet_for(backend->name(), backend->device(a.opts.device_index)->name());
      out << note << "\n\n";
    }
    print_table_header(out);
    std::signal(SIGINT, on_interrupt);
    std::signal(SIGTERM, on_interrupt);
    rows = run_suite(suite, *backend, a.opts, [&](const ResultRow& r) {
      so_far.push_back(r);
      print_table_row(out, r);
      if (leader && world.world_size() > 1) {
        // A rank that crashes makes the launcher end every rank at once, rank 0 included: what has
        // run must already be on disk. The final write replaces this one.
        RunContext partial = ctx;
        partial.errors.push_back("incomplete: written after " + std::to_string(so_far.size()) +
                                 " results while the run was going (the job ended before the run finished)");
        write_json_atomic(a.out, make_scorecard(partial, so_far));
      }
    });
    if (stop_requested()) ctx.errors.push_back("interrupted: the scorecard holds the results finished before the signal");
    print_summary(out, rows, stop_requested());
  } catch (const Error& e) {
    if (leader) std::cerr << "dsbench run: error: " << e.what() << "\n";
    ctx.errors.push_back(e.what());
    return finish(2);
  }
  return finish(2);
}

}  // namespace

void setup_run(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand("run", "Run a suite: check every kernel against the FP64 reference, time it, "
                                        "print a table and write a JSON scorecard");
  cmd->add_option("--suite", a->suite, "Suite name (finds suites/NAME.json) or path")->capture_default_str();
  cmd->add_option("--backend", a->backend, "Backend name (cpu, cuda, ...) or auto: the first with a device")
      ->capture_default_str();
  cmd->add_option("--plugin", a->opts.plugin_paths, "Load a vendor plugin (.so); repeatable. Its backend is named by the plugin")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--isolate", a->isolate, "Run each case x kernel in a worker process (default for plugin backends)");
  cmd->add_flag("--no-isolate", a->no_isolate, "Run plugin kernels in this process");
  cmd->add_option("--case-timeout", a->opts.case_timeout_s,
                  "Seconds before an isolated worker is killed; in a multi-rank run, how long rank 0 waits for the "
                  "other ranks at each agreement point (a stuck exchange ends the job after 2x this + 5 s)")
      ->check(kFinite)->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--local-ranks", a->local_ranks,
                  "Run N ranks as threads of this process, rank r on device r (nccl-tests' one-process mode, one "
                  "thread per GPU): multi-rank ops without mpirun/srun; CPU ranks exchange through shared memory")
      ->check(CLI::Range(1, 1024))->capture_default_str();
  cmd->add_option("--device", a->opts.device_index, "Device index on the backend")->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--kernel", a->opts.kernel_glob, "Glob over kernel ids, e.g. 'cpu.*.optimized'")->capture_default_str();
  cmd->add_option("--case", a->opts.case_glob, "Glob over case ids, e.g. 'gemm_fp8_blockscaled/*'")->capture_default_str();
  cmd->add_option("--out", a->out, "Scorecard path (default dsbench-results/<suite>.json)");
  cmd->add_option("--dump", a->dump, "Write every case x kernel (inputs, outputs, reference) to this folder");
  cmd->add_option("--dump-failures", a->dump_failures, "Write only incorrect or errored cases to this folder");
  cmd->add_option("--seed", a->seed, "Base seed for the inputs, or 'random' (printed, recorded)")->capture_default_str();
  cmd->add_option("--warmup", a->opts.timing.warmup, "Untimed runs before sampling")->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--reps", a->opts.timing.min_reps, "Minimum timed repetitions")->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--max-reps", a->opts.timing.max_reps, "Maximum timed repetitions")->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--rounds", a->opts.timing.rounds,
                  "Time every case in this many rounds spread over the run, each with its share of the budget and "
                  "repetitions (a host slowdown lasting seconds then hits one round, not all samples); results print "
                  "after the last round")
      ->check(CLI::Range(1, 100))->capture_default_str();
  cmd->add_option("--budget", a->opts.timing.budget_s, "Seconds of measured time per case x kernel")->check(kFinite)->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--noise", a->opts.timing.noise, "Stop once the relative standard error is below this")
      ->check(kFinite)->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_flag("--warm-cache", a->no_flush, "Do not flush caches between repetitions");
  cmd->add_option("--graph", a->opts.timing.graph_launches,
                  "Time graph replays of N launches (CUDA graphs; launch overhead leaves short kernels' times), each "
                  "sample = replay time / N; 1 = launch by launch. Backends without graphs time launch by launch and "
                  "say why in the scorecard")
      ->check(CLI::Range(1, 1000))->capture_default_str();
  cmd->add_option("--batch", a->opts.timing.batch,
                  "Time N launches back to back per sample (no flush between; the sample is their mean), as "
                  "nccl-tests times its iterations: multi-rank ops then agree and line up once per N exchanges "
                  "instead of once per exchange, which small exchanges need; 1 = each launch a sample")
      ->check(CLI::Range(1, 100000))->capture_default_str();
  cmd->add_option("--ceilings", a->ceilings,
                  "Measured ceilings for achieved/ceiling in the scorecard: auto (the per-device cache, else measure "
                  "and cache), measure (measure anew), off")
      ->check(CLI::IsMember({"auto", "measure", "off"}))->capture_default_str();
  cmd->add_flag("--verify-only", a->opts.verify_only, "Check outputs, do not time");
  cmd->add_flag("--perf-only", a->opts.perf_only, "Time, do not check (rows are not_verified)");
  cmd->add_flag("--verify-full", a->opts.verify.force_full, "Check every element even when a sample would do");
  cmd->add_option("--full-max-macs", a->opts.verify.full_max_macs,
                  "Reference multiply-adds up to which the check is full; above it, sampled")
      ->check(kFinite)->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--sample-rows", a->opts.verify.sample_rows, "Random rows checked whole when sampling")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--sample-cols", a->opts.verify.sample_cols, "Random columns checked whole when sampling")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--reference-cache", a->opts.reference_cache,
                  "Folder of stored reference checks: a trusted entry (same build, same inputs hash, intact) is "
                  "used instead of computing the FP64 reference; otherwise it is computed and stored. Each row "
                  "says which (docs/gpu_check.md#reference-cache)");
  cmd->add_flag("--reference-only", a->opts.reference_only,
                "With --reference-cache: compute and store each selected case's reference checks, run no kernel "
                "(rows are skipped, with the cache's note)");
  cmd->add_option("--max-reference-gflop", a->opts.max_reference_gflop,
                  "Skip the FP64 reference kernel on cases above this many GFLOP")
      ->check(kFinite)->check(CLI::NonNegativeNumber)->capture_default_str();
  // The isolated worker (harness/isolation.hpp): not for people, hence no help text and no group.
  auto result_fd = std::make_shared<int>(-1);
  auto probe = std::make_shared<std::string>();
  auto* worker = app.add_subcommand(kWorkerCommand, "")->group("");
  worker->add_option("--result-fd", *result_fd)->required();
  worker->add_option("--probe-plugin", *probe);
  worker->callback([result_fd, probe, exit_code] {
    *exit_code = probe->empty() ? isolated_worker_main(*result_fd) : plugin_probe_main(*probe, *result_fd);
  });

  report::add_run_output_options(cmd, &a->outputs);
  cmd->callback([a, cmd, exit_code] {
    for (const char* flag : {"--warmup", "--reps", "--max-reps", "--budget", "--noise", "--device"})
      if (cmd->count(flag) > 0) a->given.insert(flag);
    if (a->local_ranks == 1) {
      *exit_code = run_command(*a);
      return;
    }
    // Every rank parses its own copy of the arguments: run_command adjusts them per rank.
    if (World::get().world_size() > 1) {
      std::cerr << "dsbench run: error: --local-ranks with a launcher (" << World::get().launcher()
                << "): use one or the other\n";
      *exit_code = 2;
      return;
    }
    if (a->isolate || !a->opts.plugin_paths.empty() || cmd->count("--device") > 0) {
      std::cerr << "dsbench run: error: --local-ranks runs built-in backends in this process, rank r on device r: "
                   "not with --isolate, --plugin or --device\n";
      *exit_code = 2;
      return;
    }
    a->no_isolate = true;
    std::string start_error;
    *exit_code = LocalWorld::run(
        a->local_ranks,
        [&](int) {
          RunArgs mine = *a;
          return run_command(mine);
        },
        &start_error);
    if (!start_error.empty()) {  // no rank ran: one scorecard, written here, says why
      RunArgs alone = *a;
      alone.setup_error = start_error;
      *exit_code = run_command(alone);
    }
  });
}

}  // namespace dsbench::cli
