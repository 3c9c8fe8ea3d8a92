// Crash isolation: one case x kernel in a fresh worker process (fork + exec of this binary, job in
// over stdin, result row out over a pipe), so a segfault, abort, illegal instruction or hang in
// vendor code becomes an `error` row naming the signal or the timeout, and the run goes on.
// exec, not a bare fork: a forked child of a process whose OpenMP pool has run deadlocks in libgomp.
#pragma once

#include <string>
#include <vector>

#include "dsbench/kernel.hpp"
#include "harness/runner.hpp"

namespace dsbench {

// The hidden subcommand the worker runs as: `dsbench __worker --result-fd N`.
constexpr const char* kWorkerCommand = "__worker";

ResultRow run_isolated(const std::string& suite_path, const CaseSpec& c, uint64_t seed, const std::string& backend,
                       const Kernel& kernel, const RunOptions& opts);

// Spawns `dsbench __worker ARGS...` with input on its stdin and collects what it writes to fd 3.
struct WorkerResult {
  std::string output;       // what the worker wrote to fd 3
  int exit_code = 0;
  int signal = 0;           // the signal that killed it (not our timeout kill)
  bool timed_out = false;
  bool interrupted = false; // stop_requested() while waiting
  std::string spawn_error;  // pipe/fork failed
};
WorkerResult run_worker(const std::vector<std::string>& args, const std::string& input, double timeout_s);

// Runs this binary again with `args` (stdout and stderr shared), waits at most timeout_s, and kills
// it past that: for commands whose vendor code must not take the caller down (replay).
struct ChildOutcome {
  int exit_code = 0;
  int signal = 0;
  bool timed_out = false;
  bool interrupted = false;
  std::string spawn_error;
};
ChildOutcome run_self(const std::vector<std::string>& args, double timeout_s);

// Loads a plugin in a worker first, so one that crashes or hangs in its init or device queries is
// refused with the signal named instead of taking this process (and its scorecard) down. Throws Error.
void probe_plugin(const std::string& path, double timeout_s = 60.0);
int plugin_probe_main(const std::string& path, int result_fd);

// The worker's main: reads the job from stdin, writes a JSON array of rows to result_fd. Returns
// the process exit code.
int isolated_worker_main(int result_fd);

// "SIGSEGV (Segmentation fault)"
std::string signal_description(int sig);

}  // namespace dsbench
