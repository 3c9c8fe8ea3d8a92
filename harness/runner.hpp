// The runner: case x kernel on one device, every outcome a disposition (passed, incorrect, error,
// not_supported, skipped, not_verified). Nothing a case does stops the others.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsbench/backend.hpp"
#include "dsbench/kernel.hpp"
#include "harness/metrics.hpp"
#include "harness/problem.hpp"
#include "harness/reference_cache.hpp"
#include "harness/rng.hpp"
#include "harness/suite.hpp"
#include "harness/timing.hpp"

namespace dsbench {

struct ResultRow;

struct RunOptions {
  std::string kernel_glob = "*";
  std::string case_glob = "*";
  int device_index = 0;
  TimingConfig timing;
  VerifyPolicy verify;
  bool verify_only = false;       // check, do not time
  bool perf_only = false;         // time, do not check (rows are not_verified)
  std::string dump_dir;           // write each case x kernel (see dump.hpp)
  bool dump_failures_only = false;
  uint64_t seed = 0;              // the run's base seed; case seeds derive from it and the case id
  double max_reference_gflop = 50.0;  // the FP64 reference kernel is skipped above this much work
  bool isolate = false;           // each case x kernel in a worker process (crashes and hangs contained)
  double case_timeout_s = 600.0;  // isolated only: a worker that takes longer is killed
  std::vector<std::string> plugin_paths;  // isolated only: what the worker loads to find the kernel
  std::string reference_cache;    // --reference-cache: folder of stored reference checks ("" none)
  bool reference_only = false;    // --reference-only: fill the cache, run no kernel
  // Multi-rank ops only (set per case by the multi-rank runner, harness/multi_rank.cpp): execute()
  // calls it at two points every rank reaches, "ready" (before the first exchange) and "checked"
  // (before timing), with this rank's state ("" fine, else "<disposition>\t<reason>"). It returns the
  // case's state over all ranks: "" to go on, else "<disposition>\t<reason>" for every rank.
  std::function<std::string(const std::string& point, const std::string& local)> agree;
  // Multi-rank runs, rank 0: called just before the job is ended because a rank did not arrive or an
  // exchange did not complete, with an error row naming the case (the caller writes the scorecard).
  std::function<void(const ResultRow& row)> on_fatal;
  // Multi-rank runs: told which communicator the backend made (for the scorecard's context.world).
  std::function<void(const std::string& name, const Properties& info)> on_communicator;
  // Multi-rank ops: see TimingConfig::agree_stop.
  std::function<bool(int wish)> agree_stop;
};

struct ResultRow {
  std::string case_id, op;
  nlohmann::json params = nlohmann::json::object();
  uint64_t seed = 0;
  std::string kernel;             // empty when no kernel applies (e.g. a malformed case)
  std::string backend;
  int device = -1;
  std::string disposition;        // passed | incorrect | error | not_supported | skipped | not_verified
  std::string reason;
  std::string verification = "none";  // full | sampled | none
  std::vector<OutputAccuracy> accuracy;
  std::optional<TimingStats> timing;
  double flops = 0.0, bytes = 0.0;
  double tokens = 0.0;            // work items for metrics.tokens_per_s (Problem::tokens); 0: none
  std::string dump_path;
  ReferenceNote reference;        // where the checks came from (with --reference-cache)
  nlohmann::json collective;      // multi-rank ops: metrics over all ranks (null otherwise)
  nlohmann::json ranks;           // multi-rank ops: each rank's outcome (null otherwise)
};

struct Execution {
  ResultRow row;
  TensorMap outputs;              // host copies of the kernel's outputs (when it ran)
};

// A row of case c with its seed, backend and device filled in (disposition and kernel still empty).
ResultRow case_row(const CaseSpec& c, uint64_t seed, const std::string& backend, int device);

// Runs one kernel on one problem: allocate, upload, poison outputs, run, check against `checks`
// (null: not verified), time unless opts.verify_only. Never throws.
Execution execute(const Kernel& kernel, Device& device, const Problem& problem, const TensorMap& inputs,
                  const std::vector<OutputCheck>* checks, const std::map<std::string, Tolerance>& tolerances,
                  const RunOptions& opts);

// Per-output tolerances: the driver's defaults with a case's overrides ({"d": {"rel": 0.01}}).
std::map<std::string, Tolerance> merge_tolerances(std::map<std::string, Tolerance> defaults,
                                                  const nlohmann::json& overrides);

// A case's params for this device: every "*_dtype" whose value is "native" becomes the device's own
// E4M3 variant (fp8_e4m3(): e4m3fnuz on MI300, e4m3fn elsewhere), so the reference computes in what
// the device declares and the row's params record which (docs/numerics.md).
nlohmann::json params_for_device(const nlohmann::json& params, const Device& device);

// The seed of a case: its own, or one derived from the run's seed and the case id.
uint64_t case_seed(const CaseSpec& c, uint64_t run_seed);
// The seed that picks sampled check positions for a case seed (shared by run and replay).
inline uint64_t sample_seed(uint64_t case_seed) { return mix64(case_seed + 1); }

// Asks run_suite to stop before the next case (signal-safe); the rows so far are kept.
void request_stop();
bool stop_requested();

// Writes the case's dump for `row` when --dump / --dump-failures ask for it (not for not_supported
// or skipped rows); a dump that fails is appended to the row's reason, and the run goes on.
void dump_if_asked(ResultRow& row, const CaseSpec& c, uint64_t seed, const Kernel& kernel, const Problem& problem,
                   const std::map<std::string, Tolerance>& tol, const TensorMap& inputs, const TensorMap& outputs,
                   const std::vector<OutputCheck>* checks, const RunOptions& opts);

// One case on one device for the given kernels (all of the case's op), in this process: build the
// problem, generate inputs, compute the reference once, execute each kernel, dump as asked.
std::vector<ResultRow> run_case_kernels(const std::string& suite_path, const CaseSpec& c, uint64_t seed, Device& device,
                                        const std::vector<const Kernel*>& kernels, const RunOptions& opts);

using RowCallback = std::function<void(const ResultRow&)>;

std::vector<ResultRow> run_suite(const Suite& suite, Backend& backend, const RunOptions& opts,
                                 const RowCallback& on_row);

}  // namespace dsbench
