#include <algorithm>
#include "harness/runner.hpp"

#include <atomic>
#include <cstdio>
#include <chrono>
#include <memory>
#include <new>

#include "harness/dump.hpp"
#include "harness/error.hpp"
#include "harness/isolation.hpp"
#include "harness/multi_rank.hpp"
#include "harness/world.hpp"
#include "harness/op_registry.hpp"
#include "harness/rng.hpp"

namespace dsbench {
namespace {

std::atomic<bool> g_stop{false};

constexpr uint8_t kPoison = 0xff;  // NaN in BF16/F32/FP8-E4M3FN, -1 in integers: unwritten output shows

bool is_reference_kernel(const Kernel& k) {
  const std::string& id = k.id();
  return id.size() > 10 && id.compare(id.size() - 10, 10, ".reference") == 0;
}


Tolerance parse_tolerance(Tolerance t, const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) DSB_THROW(where + ": expected an object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_number() || it.value().get<double>() < 0)
      DSB_THROW(where + "." + it.key() + ": expected a non-negative number");
    const double v = it.value().get<double>();
    if (it.key() == "abs") t.abs = v;
    else if (it.key() == "abs_rms") t.abs_rms = v;
    else if (it.key() == "rel") t.rel = v;
    else if (it.key() == "cos_diff") t.cos_diff = v;
    else DSB_THROW(where + "." + it.key() + ": unknown tolerance (abs, abs_rms, rel, cos_diff)");
  }
  return t;
}

}  // namespace

ResultRow case_row(const CaseSpec& c, uint64_t seed, const std::string& backend, int device) {
  ResultRow r;
  r.case_id = c.id;
  r.op = c.op;
  r.params = c.params.is_null() ? nlohmann::json::object() : c.params;
  r.seed = seed;
  r.backend = backend;
  r.device = device;
  return r;
}

void request_stop() { g_stop.store(true); }
bool stop_requested() { return g_stop.load(); }

std::map<std::string, Tolerance> merge_tolerances(std::map<std::string, Tolerance> tol, const nlohmann::json& o) {
  if (o.is_null()) return tol;
  for (auto it = o.begin(); it != o.end(); ++it) {
    auto t = tol.find(it.key());
    if (t == tol.end()) DSB_THROW("tolerance." + it.key() + ": the op has no output named \"" + it.key() + "\"");
    t->second = parse_tolerance(t->second, it.value(), "tolerance." + it.key());
  }
  return tol;
}

nlohmann::json params_for_device(const nlohmann::json& params, const Device& device) {
  nlohmann::json p = params;
  if (!p.is_object()) return p;
  for (auto it = p.begin(); it != p.end(); ++it) {
    const std::string& key = it.key();
    if (key.size() > 6 && key.compare(key.size() - 6, 6, "_dtype") == 0 && it.value() == "native")
      it.value() = dsb_dtype_name(device.fp8_e4m3());
  }
  return p;
}

uint64_t case_seed(const CaseSpec& c, uint64_t run_seed) {
  return c.seed ? *c.seed : mix64(run_seed ^ hash_name(c.id));
}

Execution execute(const Kernel& kernel, Device& device, const Problem& problem, const TensorMap& inputs,
                  const std::vector<OutputCheck>* checks, const std::map<std::string, Tolerance>& tolerances,
                  const RunOptions& opts) {
  Execution ex;
  ResultRow& row = ex.row;
  row.kernel = kernel.id();
  row.backend = device.backend();
  row.device = device.index();
  row.flops = problem.flops();
  row.bytes = problem.bytes();
  row.tokens = problem.tokens();
  auto fail = [&](const std::string& disposition, const std::string& why) -> Execution& {
    row.disposition = disposition;
    row.reason = why;
    return ex;
  };
  // Before the first exchange of a multi-rank op, every rank must hear how the others fared: one
  // rank's failure fails the case on all of them instead of leaving them waiting in the exchange.
  bool agreed_ready = !opts.agree;
  auto fail_early = [&](const std::string& disposition, const std::string& why) -> Execution& {
    if (!agreed_ready) {
      agreed_ready = true;
      const std::string all = opts.agree("ready", disposition + "\t" + why);
      if (!all.empty()) return fail(all.substr(0, all.find('\t')), all.substr(all.find('\t') + 1));
    }
    return fail(disposition, why);
  };
  try {
    std::vector<uint8_t> params = problem.params({});
    const Support sup = kernel.supports(params.data(), device);
    if (!sup.ok) return fail_early("not_supported", sup.reason);
    if (is_reference_kernel(kernel) && problem.flops() > opts.max_reference_gflop * 1e9)
    {
      char why[200];
      std::snprintf(why, sizeof why,
                    "the FP64 reference kernel is not run above %g GFLOP (this case: %.1f); raise --max-reference-gflop to run it",
                    opts.max_reference_gflop, problem.flops() / 1e9);
      return fail_early("skipped", why);
    }

    // Device memory for every tensor and the workspace; poisoned outputs so unwritten elements fail.
    std::map<std::string, std::unique_ptr<Buffer>> buffers;
    std::map<std::string, void*> ptrs;
    auto alloc = [&](const TensorSpec& spec) -> Status {
      std::unique_ptr<Buffer> b;
      Status st = device.allocate(spec.bytes(), &b);
      if (!st.ok()) {
        st.message = "allocating " + std::to_string(spec.bytes()) + " bytes for tensor '" + spec.name + "' " +
                     shape_string(spec.shape) + ": " + st.message;
        return st;
      }
      ptrs[spec.name] = b->data();
      buffers[spec.name] = std::move(b);
      return Status::success();
    };
    for (const TensorSpec& s : problem.inputs()) {
      Status st = alloc(s);
      if (st.ok()) st = device.copy_to_device(ptrs[s.name], inputs.at(s.name).data.data(), s.bytes());
      if (!st.ok()) return fail_early("error", st.message);
    }
    for (const TensorSpec& s : problem.outputs()) {
      Status st = alloc(s);
      if (st.ok()) st = device.fill_bytes(ptrs[s.name], kPoison, s.bytes());
      if (!st.ok()) return fail_early("error", st.message);
    }
    params = problem.params(ptrs);
    std::unique_ptr<Buffer> workspace;
    if (const size_t ws = kernel.workspace_bytes(params.data(), device); ws > 0) {
      const Status st = device.allocate(ws, &workspace);
      if (!st.ok()) return fail_early("error", "allocating " + std::to_string(ws) + " bytes of workspace: " + st.message);
    }
    void* ws_ptr = workspace ? workspace->data() : nullptr;
    std::unique_ptr<Stream> stream;
    if (const Status st = device.create_stream(&stream); !st.ok()) return fail_early("error", st.message);

    if (!agreed_ready) {
      agreed_ready = true;
      const std::string all = opts.agree("ready", "");
      if (!all.empty()) return fail(all.substr(0, all.find('\t')), all.substr(all.find('\t') + 1));
    }
    // Multi-rank: after the checked run every rank says how it went, and they time only together.
    auto fail_checked = [&](const std::string& disposition, const std::string& why) -> Execution& {
      if (opts.agree) opts.agree("checked", disposition + "\t" + why);
      return fail(disposition, why);
    };

    // The checked run.
    Status st = kernel.run(params.data(), ws_ptr, *stream);
    if (st.ok()) st = stream->synchronize();
    // A kernel may learn only when it runs that it cannot take a case (no library algorithm for it).
    if (st.code == DSB_STATUS_NOT_SUPPORTED) return fail_checked("not_supported", st.message);
    if (!st.ok()) return fail_checked("error", std::string("run failed (") + dsb_status_name(st.code) + "): " + st.message);
    for (const TensorSpec& s : problem.outputs()) {
      HostTensor h(s);
      if (const Status c = device.copy_to_host(h.data.data(), ptrs[s.name], s.bytes()); !c.ok())
        return fail_checked("error", "copying output '" + s.name + "' back: " + c.message);
      ex.outputs[s.name] = std::move(h);
    }
    if (checks != nullptr) {
      bool passed = true;
      for (const OutputCheck& c : *checks) {
        OutputAccuracy a = compare_output(c, tolerances.at(c.output), ex.outputs.at(c.output));
        passed = passed && a.passed;
        row.verification = c.sampled ? "sampled" : "full";
        row.accuracy.push_back(std::move(a));
      }
      row.disposition = passed ? "passed" : "incorrect";
      if (!passed) {
        for (const OutputAccuracy& a : row.accuracy) {
          if (a.passed) continue;
          row.reason += (row.reason.empty() ? "" : "; ") + a.output + ": " + std::to_string(a.mismatches) +
                        " mismatches, " + std::to_string(a.nonfinite_mismatches) + " NaN/Inf mismatches of " +
                        std::to_string(a.checked) + " checked, cos_diff " + std::to_string(a.cos_diff) + " (max " +
                        std::to_string(a.tolerance.cos_diff) + ")";
        }
      }
    } else {
      row.disposition = "not_verified";
      row.reason = "--perf-only: outputs not checked";
    }

    // Timing: only for outputs that are right (or not checked); a wrong kernel's speed means nothing.
    bool time_it = !opts.verify_only && row.disposition != "incorrect";
    if (opts.agree) {
      const std::string all = opts.agree("checked", row.disposition == "incorrect" ? "incorrect\t" + row.reason : "");
      time_it = time_it && all.empty();
    }
    if (time_it) {
      TimingStats t;
      TimingConfig cfg = opts.timing;
      cfg.interrupt = &g_stop;
      cfg.agree_stop = opts.agree_stop;
      if (opts.agree) cfg.graph_launches = 1;  // multi-rank exchanges wait on their peers from the host
      st = measure([&] { return kernel.run(params.data(), ws_ptr, *stream); }, device, *stream, cfg, &t);
      if (!st.ok()) return fail("error", std::string("timed run failed: ") + st.message);
      row.timing = std::move(t);
      // Composite ops: each stage alone, over what the whole runs left in the workspace.
      const std::vector<std::string> stages = problem.stages();
      TimingConfig scfg = cfg;
      scfg.budget_s = std::max(0.05, cfg.budget_s / 4);
      for (size_t i = 0; i < stages.size() && !g_stop.load(); ++i) {
        std::vector<uint8_t> sp = params;
        problem.select_stage(sp, static_cast<int>(i));
        TimingStats s;
        st = measure([&] { return kernel.run(sp.data(), ws_ptr, *stream); }, device, *stream, scfg, &s);
        if (st.code == DSB_STATUS_NOT_SUPPORTED) {
          row.timing->stages.clear();
          row.timing->stages_refused = st.message;
          break;
        }
        if (!st.ok()) return fail("error", "timed stage " + stages[i] + " failed: " + st.message);
        row.timing->stages.push_back({stages[i], s.median_ms, s.p10_ms, s.p90_ms, s.samples});
      }
    }
  } catch (const std::bad_alloc&) {
    return fail_early("error", "host out of memory");
  } catch (const std::exception& e) {
    return fail_early("error", e.what());
  }
  return ex;
}

void dump_if_asked(ResultRow& row, const CaseSpec& c, uint64_t seed, const Kernel& kernel, const Problem& problem,
                   const std::map<std::string, Tolerance>& tol, const TensorMap& inputs, const TensorMap& outputs,
                   const std::vector<OutputCheck>* checks, const RunOptions& opts) {
  const bool failed = row.disposition == "incorrect" || row.disposition == "error";
  if (opts.dump_dir.empty() || (opts.dump_failures_only && !failed) || row.disposition == "not_supported" ||
      row.disposition == "skipped")
    return;
  try {
    row.dump_path = dump_case(opts.dump_dir, c, seed, kernel, problem, tol, opts.verify, inputs,
                              outputs.empty() ? nullptr : &outputs, checks);
  } catch (const std::exception& e) {
    row.reason += (row.reason.empty() ? "" : "; ") + std::string("dump failed: ") + e.what();
  }
}

std::vector<ResultRow> run_case_kernels(const std::string& suite_path, const CaseSpec& spec, uint64_t seed, Device& device,
                                        const std::vector<const Kernel*>& kernels, const RunOptions& opts) {
  CaseSpec c = spec;  // with "native" dtypes resolved: the rows and dumps record what ran
  c.params = params_for_device(spec.params, device);
  std::vector<ResultRow> rows;
  auto each_kernel = [&](const std::string& disposition, const std::string& reason) {
    for (const Kernel* k : kernels) {
      ResultRow r = case_row(c, seed, device.backend(), device.index());
      r.kernel = k->id();
      r.disposition = disposition;
      r.reason = reason;
      rows.push_back(std::move(r));
    }
    return rows;
  };
  const dsb_op op = dsb_op_from_name(c.op.c_str());
  const OpDriver* driver = find_driver(op);
  if (driver == nullptr) return each_kernel("error", "op " + c.op + " has kernels but no harness driver");
  std::unique_ptr<Problem> problem;
  std::map<std::string, Tolerance> tol;
  TensorMap inputs;
  std::vector<OutputCheck> checks;
  ReferenceNote ref_note;
  try {
    problem = driver->make(c.params);
    tol = merge_tolerances(driver->default_tolerances(), c.tolerance);
    for (const TensorSpec& s : problem->inputs()) inputs.emplace(s.name, HostTensor(s));
    problem->generate(seed, inputs);
    if (!opts.perf_only) {
      const std::optional<ReferenceCache> cache =
          opts.reference_cache.empty() ? std::nullopt : std::optional<ReferenceCache>(opts.reference_cache);
      checks = reference_checks(*problem, c, inputs, seed, opts.verify, cache ? &*cache : nullptr, &ref_note);
    }
  } catch (const std::bad_alloc&) {
    return each_kernel("error", suite_path + ": case \"" + c.id + "\": host out of memory preparing inputs");
  } catch (const std::exception& e) {
    return each_kernel("error", suite_path + ": case \"" + c.id + "\": " + e.what());
  }
  if (opts.reference_only) {
    each_kernel("skipped", "--reference-only: no kernel run; reference " +
                               std::string(reference_source_name(ref_note.source)) + ": " + ref_note.detail);
    for (ResultRow& r : rows) r.reference = ref_note;
    return rows;
  }
  for (const Kernel* k : kernels) {
    if (stop_requested()) break;
    Execution ex = execute(*k, device, *problem, inputs, opts.perf_only ? nullptr : &checks, tol, opts);
    ResultRow& r = ex.row;
    r.reference = ref_note;
    const ResultRow base = case_row(c, seed, device.backend(), device.index());
    r.case_id = base.case_id;
    r.op = base.op;
    r.params = base.params;
    r.seed = seed;
    dump_if_asked(r, c, seed, *k, *problem, tol, inputs, ex.outputs, opts.perf_only ? nullptr : &checks, opts);
    rows.push_back(std::move(r));
  }
  return rows;
}

namespace {

std::vector<ResultRow> run_suite_once(const Suite& suite, Backend& backend, const RunOptions& opts,
                                      const RowCallback& on_row) {
  std::vector<ResultRow> rows;
  auto emit = [&](ResultRow r) {
    if (on_row) on_row(r);
    rows.push_back(std::move(r));
  };
  Device* device = backend.device_count() > opts.device_index ? backend.device(opts.device_index) : nullptr;
  const std::vector<const Kernel*> all_kernels = backend.kernels();
  World& world = World::get();
  MultiRankSession session;
  session.world = &world;
  session.on_fatal = opts.on_fatal;

  for (const CaseSpec& c : suite.cases) {
    if (stop_requested()) break;
    if (!glob_match(opts.case_glob, c.id)) continue;
    const uint64_t seed = case_seed(c, opts.seed);
    const dsb_op op = dsb_op_from_name(c.op.c_str());
    std::vector<const Kernel*> kernels;
    bool op_has_kernels = false;
    for (const Kernel* k : all_kernels) {
      if (k->op() != op) continue;
      op_has_kernels = true;
      if (glob_match(opts.kernel_glob, k->id())) kernels.push_back(k);
    }
    auto each_kernel = [&](const std::string& disposition, const std::string& reason) {
      if (kernels.empty() && opts.kernel_glob == "*") kernels.push_back(nullptr);
      for (const Kernel* k : kernels) {
        ResultRow r = case_row(c, seed, backend.name(), device ? device->index() : -1);
        r.kernel = k ? k->id() : "";
        r.disposition = disposition;
        r.reason = reason;
        emit(std::move(r));
      }
    };
    if (!c.error.empty()) {
      // A malformed case never disappears, whatever --kernel selects: at least one error row.
      if (kernels.empty()) kernels.push_back(nullptr);
      each_kernel("error", c.error);
      continue;
    }
    if (!op_has_kernels) {
      if (opts.kernel_glob == "*")
        each_kernel("not_supported", "backend " + backend.name() + " has no kernel for op " + c.op + " in this build");
      continue;
    }
    if (kernels.empty()) continue;  // filtered out by --kernel
    if (device == nullptr) {
      const std::string why = backend.unavailable_reason();
      each_kernel("not_supported", "no " + backend.name() + " device " + std::to_string(opts.device_index) +
                                       (why.empty() ? "" : ": " + why));
      continue;
    }
    const OpDriver* driver = find_driver(op);
    if (driver != nullptr && driver->multi_rank() && opts.reference_only) {
      each_kernel("skipped", "--reference-only: multi-rank ops check against state built per run (not cacheable)");
      continue;
    }
    if (driver != nullptr && driver->multi_rank()) {
      if (!session.comm_tried) {
        // Collective: every rank reaches its first multi-rank case at the same point of the suite.
        session.comm_tried = true;
        const Status st = backend.create_communicator(*device, world, &session.comm);
        if (!st.ok()) session.comm_error = "no communicator on backend " + backend.name() + ": " + st.message;
        else if (opts.on_communicator) opts.on_communicator(session.comm->name(), session.comm->info());
      }
      for (ResultRow& r : run_multi_rank_case(suite.path, c, seed, *device, kernels, opts, session)) emit(std::move(r));
      continue;
    }
    if (world.world_size() > 1) {
      // A multi-rank launch measures the exchange; single-device ops are measured without a launcher.
      if (world.rank() == 0)
        each_kernel("skipped", "single-device op in a multi-rank run (world of " + std::to_string(world.world_size()) +
                                   "): run it without mpirun/srun or --local-ranks");
      continue;
    }
    if (opts.isolate) {
      // Each kernel in a fresh worker process: a crash or hang in it costs only its own row.
      for (const Kernel* k : kernels) {
        if (stop_requested()) break;
        emit(run_isolated(suite.path, c, seed, backend.name(), *k, opts));
      }
      continue;
    }
    for (ResultRow& r : run_case_kernels(suite.path, c, seed, *device, kernels, opts)) emit(std::move(r));
  }
  return rows;
}

}  // namespace

std::vector<ResultRow> run_suite(const Suite& suite, Backend& backend, const RunOptions& opts,
                                 const RowCallback& on_row) {
  const int rounds = opts.timing.rounds;
  Device* device = backend.device_count() > opts.device_index ? backend.device(opts.device_index) : nullptr;
  if (rounds <= 1 || opts.isolate || opts.verify_only || device == nullptr || World::get().world_size() > 1)
    return run_suite_once(suite, backend, opts, on_row);

  // Rounds: every case is timed `rounds` times, spread over the run, each time with its share of the
  // budget and repetitions; a slowdown of the host lasting seconds then hits one round of a case,
  // not all its samples (docs/timing.md#rounds). Round 1 also checks; later rounds only time.
  RunOptions share = opts;
  share.timing.budget_s = opts.timing.budget_s / rounds;
  share.timing.max_reps = std::max(1, opts.timing.max_reps / rounds);
  share.timing.min_reps = std::max(1, (opts.timing.min_reps + rounds - 1) / rounds);
  std::vector<ResultRow> rows = run_suite_once(suite, backend, share, nullptr);
  RunOptions again = share;
  again.perf_only = true;
  for (int round = 2; round <= rounds && !stop_requested(); ++round) {
    std::string current;  // the case whose problem and inputs are built
    std::unique_ptr<Problem> problem;
    TensorMap inputs;
    std::map<std::string, Tolerance> tol;
    for (ResultRow& row : rows) {
      if (!row.timing || stop_requested()) continue;
      const CaseSpec* c = nullptr;
      for (const CaseSpec& x : suite.cases)
        if (x.id == row.case_id) c = &x;
      const Kernel* k = nullptr;
      for (const Kernel* x : backend.kernels())
        if (x->id() == row.kernel) k = x;
      if (c == nullptr || k == nullptr) continue;
      try {
        if (current != c->id) {
          const OpDriver* driver = find_driver(dsb_op_from_name(c->op.c_str()));
          problem = driver->make(params_for_device(c->params, *device));
          tol = merge_tolerances(driver->default_tolerances(), c->tolerance);
          inputs.clear();
          for (const TensorSpec& s : problem->inputs()) inputs.emplace(s.name, HostTensor(s));
          problem->generate(row.seed, inputs);
          current = c->id;
        }
        const Execution ex = execute(*k, *device, *problem, inputs, nullptr, tol, again);
        if (!ex.row.timing) {
          row.reason += (row.reason.empty() ? "" : "; ") + ("round " + std::to_string(round) + " not timed: " + ex.row.reason);
          continue;
        }
        row.timing->raw_ms.insert(row.timing->raw_ms.end(), ex.row.timing->raw_ms.begin(), ex.row.timing->raw_ms.end());
      } catch (const std::exception& e) {
        row.reason += (row.reason.empty() ? "" : "; ") + ("round " + std::to_string(round) + ": " + e.what());
        current.clear();
      }
    }
  }
  for (ResultRow& row : rows) {
    if (row.timing) {
      const std::string last = row.timing->stop_reason;
      summarize(&*row.timing);
      row.timing->stop_reason = std::to_string(rounds) + " rounds, each ended by " + last;
    }
    if (on_row) on_row(row);
  }
  return rows;
}

}  // namespace dsbench
