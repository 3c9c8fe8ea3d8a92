// Crash isolation: one case x kernel in a fresh worker process (fork + exec of this binary, job in
// over stdin, result row out over a pipe), so a segfault, abort, illegal instruction or hang in
// vendor code becomes an `error` row naming the signal or the timeout, and the run goes on.
// exec, not a bare fork: a forked child of a process whose OpenMP pool has run deadlocks in libgomp.
#pragma once

#include <string>

#include "dsbench/kernel.hpp"
#include "harness/runner.hpp"

namespace dsbench {

// The hidden subcommand the worker runs as: `dsbench __worker --result-fd N`.
constexpr const char* kWorkerCommand = "__worker";

ResultRow run_isolated(const std::string& suite_path, const CaseSpec& c, uint64_t seed, const std::string& backend,
                       const Kernel& kernel, const RunOptions& opts);

// The worker's main: reads the job from stdin, writes a JSON array of rows to result_fd. Returns
// the process exit code.
int isolated_worker_main(int result_fd);

// "SIGSEGV (Segmentation fault)"
std::string signal_description(int sig);

}  // namespace dsbench
