#include "harness/isolation.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <iterator>

#include "harness/backend_registry.hpp"
#include "harness/error.hpp"
#include "harness/plugin_backend.hpp"
#include "harness/scorecard.hpp"

namespace dsbench {
namespace {

nlohmann::json options_json(const RunOptions& o) {
  return {{"device", o.device_index},
          {"timing", {{"warmup", o.timing.warmup}, {"min_reps", o.timing.min_reps}, {"max_reps", o.timing.max_reps},
                      {"budget_s", o.timing.budget_s}, {"noise", o.timing.noise}, {"flush_cache", o.timing.flush_cache}}},
          {"verify", {{"full_max_macs", o.verify.full_max_macs}, {"sample_rows", o.verify.sample_rows},
                      {"sample_cols", o.verify.sample_cols}, {"force_full", o.verify.force_full}}},
          {"verify_only", o.verify_only}, {"perf_only", o.perf_only}, {"dump_dir", o.dump_dir},
          {"dump_failures_only", o.dump_failures_only}, {"max_reference_gflop", o.max_reference_gflop},
          {"plugins", o.plugin_paths}, {"reference_cache", o.reference_cache}, {"reference_only", o.reference_only}};
}

RunOptions options_from(const nlohmann::json& j) {
  RunOptions o;
  o.device_index = j.at("device");
  const auto& t = j.at("timing");
  o.timing.warmup = t.at("warmup");
  o.timing.min_reps = t.at("min_reps");
  o.timing.max_reps = t.at("max_reps");
  o.timing.budget_s = t.at("budget_s");
  o.timing.noise = t.at("noise");
  o.timing.flush_cache = t.at("flush_cache");
  const auto& v = j.at("verify");
  o.verify = {v.at("full_max_macs"), v.at("sample_rows"), v.at("sample_cols"), v.at("force_full")};
  o.verify_only = j.at("verify_only");
  o.perf_only = j.at("perf_only");
  o.dump_dir = j.at("dump_dir");
  o.dump_failures_only = j.at("dump_failures_only");
  o.max_reference_gflop = j.at("max_reference_gflop");
  o.plugin_paths = j.at("plugins").get<std::vector<std::string>>();
  o.reference_cache = j.at("reference_cache");
  o.reference_only = j.at("reference_only");
  return o;
}

// In a forked child: becomes `dsbench ARGS...` (this binary), ignoring Ctrl-C (the parent's to
// handle; SIG_IGN survives exec); 127 if exec fails.
[[noreturn]] void exec_self(const std::vector<std::string>& args) {
  std::vector<std::string> argv_s{"dsbench"};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  signal(SIGINT, SIG_IGN);
  execv("/proc/self/exe", argv.data());
  _exit(127);
}

void write_all(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = write(fd, s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // the reader is gone; its side reports that
    off += static_cast<size_t>(n);
  }
}

}  // namespace

WorkerResult run_worker(const std::vector<std::string>& args, const std::string& input, double timeout_s) {
  WorkerResult w;
  int job_pipe[2], result_pipe[2];
  if (pipe(job_pipe) != 0) { w.spawn_error = std::string("pipe: ") + strerror(errno); return w; }
  if (pipe(result_pipe) != 0) {
    close(job_pipe[0]); close(job_pipe[1]);
    w.spawn_error = std::string("pipe: ") + strerror(errno);
    return w;
  }
  const pid_t pid = fork();
  if (pid < 0) { w.spawn_error = std::string("fork: ") + strerror(errno); return w; }
  if (pid == 0) {
    // Child: stdin <- job, fd 3 -> result, stdout -> stderr (vendor prints must not mix with the table).
    dup2(job_pipe[0], STDIN_FILENO);
    dup2(result_pipe[1], 3);
    dup2(STDERR_FILENO, STDOUT_FILENO);
    for (int fd : {job_pipe[0], job_pipe[1], result_pipe[0], result_pipe[1]})
      if (fd > 3) close(fd);
    std::vector<std::string> worker_args{kWorkerCommand};
    worker_args.insert(worker_args.end(), args.begin(), args.end());
    exec_self(worker_args);
  }
  close(job_pipe[0]);
  close(result_pipe[1]);
  signal(SIGPIPE, SIG_IGN);  // a worker that dies early must not kill us while we write its job
  write_all(job_pipe[1], input);
  close(job_pipe[1]);

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  char buf[65536];
  while (true) {
    pollfd p{result_pipe[0], POLLIN, 0};
    const int r = poll(&p, 1, 100);
    if (r > 0) {
      const ssize_t n = read(result_pipe[0], buf, sizeof buf);
      if (n > 0) { w.output.append(buf, static_cast<size_t>(n)); continue; }
      if (n == 0 || errno != EINTR) break;  // EOF: the worker finished or died
    }
    if (stop_requested()) { w.interrupted = true; break; }
    if (std::chrono::steady_clock::now() > deadline) { w.timed_out = true; break; }
  }
  close(result_pipe[0]);
  if (w.timed_out || w.interrupted) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  if (WIFSIGNALED(status) && !w.timed_out && !w.interrupted) w.signal = WTERMSIG(status);
  if (WIFEXITED(status)) w.exit_code = WEXITSTATUS(status);
  return w;
}

ChildOutcome run_self(const std::vector<std::string>& args, double timeout_s) {
  ChildOutcome c;
  std::cout.flush();
  const pid_t pid = fork();
  if (pid < 0) { c.spawn_error = std::string("fork: ") + strerror(errno); return c; }
  if (pid == 0) exec_self(args);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  int status = 0;
  while (true) {
    const pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) { c.spawn_error = std::string("waitpid: ") + strerror(errno); return c; }
    if (stop_requested()) { c.interrupted = true; break; }
    if (std::chrono::steady_clock::now() > deadline) { c.timed_out = true; break; }
    usleep(20000);
  }
  if (c.timed_out || c.interrupted) {
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    return c;
  }
  if (WIFSIGNALED(status)) c.signal = WTERMSIG(status);
  if (WIFEXITED(status)) c.exit_code = WEXITSTATUS(status);
  return c;
}

void probe_plugin(const std::string& path, double timeout_s) {
  const WorkerResult w = run_worker({"--result-fd", "3", "--probe-plugin", path}, "", timeout_s);
  const std::string where = "plugin " + path;
  if (!w.spawn_error.empty()) DSB_THROW(where + ": cannot probe: " + w.spawn_error);
  if (w.timed_out) DSB_THROW(where + ": hung while loading (no answer within " + std::to_string(int(timeout_s)) + " s)");
  if (w.signal) DSB_THROW(where + ": crashed while loading: " + signal_description(w.signal));
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(w.output);
  } catch (const std::exception&) {
    DSB_THROW(where + ": the loading probe exited with status " + std::to_string(w.exit_code) + " and no answer");
  }
  if (j.contains("error")) DSB_THROW(j.at("error").get<std::string>());
}

std::string signal_description(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  const char* text = strsignal(sig);
  return (abbrev ? "SIG" + std::string(abbrev) : "signal " + std::to_string(sig)) + " (" + (text ? text : "?") + ")";
}

ResultRow run_isolated(const std::string& suite_path, const CaseSpec& c, uint64_t seed, const std::string& backend,
                       const Kernel& kernel, const RunOptions& opts) {
  ResultRow row = case_row(c, seed, backend, opts.device_index);
  row.kernel = kernel.id();
  auto fail = [&](const std::string& why) {
    row.disposition = "error";
    row.reason = "isolated worker: " + why;
    return row;
  };
  nlohmann::json job = {{"suite_path", suite_path}, {"seed", seed}, {"backend", backend}, {"kernel", kernel.id()},
                        {"case", {{"id", c.id}, {"op", c.op}, {"params", c.params}, {"tolerance", c.tolerance}}},
                        {"options", options_json(opts)}};
  const WorkerResult w = run_worker({"--result-fd", "3"}, job.dump(), opts.case_timeout_s);
  if (!w.spawn_error.empty()) return fail(w.spawn_error);
  if (w.interrupted) {
    row.disposition = "skipped";
    row.reason = "interrupted before this kernel finished";
    return row;
  }
  if (w.timed_out) {
    char t[64];
    std::snprintf(t, sizeof t, "%g", opts.case_timeout_s);
    return fail(std::string("timed out after ") + t + " s (--case-timeout); the worker was killed");
  }
  if (w.signal) return fail("killed by " + signal_description(w.signal) + " while running " + kernel.id());
  if (w.exit_code != 0)
    return fail("exited with status " + std::to_string(w.exit_code) + (w.exit_code == 127 ? " (exec failed)" : ""));
  const std::string& out = w.output;
  try {
    const nlohmann::json rows = nlohmann::json::parse(out);
    if (!rows.is_array() || rows.size() != 1) return fail("returned " + std::to_string(rows.size()) + " rows, expected 1");
    return row_from_json(rows[0]);
  } catch (const std::exception& e) {
    return fail(std::string("returned an unreadable result: ") + e.what());
  }
}

int plugin_probe_main(const std::string& path, int result_fd) {
  nlohmann::json answer = {{"ok", true}};
  try {
    auto b = load_plugin(path, {});
    for (int i = 0; i < b->device_count(); ++i) (void)b->device(i)->properties();
  } catch (const std::exception& e) {
    answer = {{"error", e.what()}};
  }
  write_all(result_fd, answer.dump());
  close(result_fd);
  return 0;
}

int isolated_worker_main(int result_fd) {
  nlohmann::json rows = nlohmann::json::array();
  ResultRow err;
  try {
    const std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    const nlohmann::json job = nlohmann::json::parse(text);
    const RunOptions opts = options_from(job.at("options"));
    CaseSpec c;
    c.id = job.at("case").at("id");
    c.op = job.at("case").at("op");
    c.params = job.at("case").at("params");
    c.tolerance = job.at("case").at("tolerance");
    err.case_id = c.id;
    err.op = c.op;
    err.params = c.params;
    err.seed = job.at("seed");
    err.kernel = job.at("kernel");
    err.backend = job.at("backend");
    err.device = opts.device_index;
    const auto backends = make_backends_with_plugins(opts.plugin_paths);
    Backend* backend = pick_backend(backends, job.at("backend").get<std::string>());
    Device* device = backend->device(opts.device_index);
    if (device == nullptr) DSB_THROW("no device " + std::to_string(opts.device_index));
    const Kernel* kernel = nullptr;
    for (const Kernel* k : backend->kernels())
      if (k->id() == err.kernel) kernel = k;
    if (kernel == nullptr) DSB_THROW("kernel " + err.kernel + " not found");
    for (const ResultRow& r : run_case_kernels(job.at("suite_path"), c, err.seed, *device, {kernel}, opts))
      rows.push_back(row_json(r));
  } catch (const std::exception& e) {
    err.disposition = "error";
    err.reason = std::string("isolated worker: ") + e.what();
    rows = nlohmann::json::array({row_json(err)});
  }
  write_all(result_fd, rows.dump());
  close(result_fd);
  return 0;
}

}  // namespace dsbench
