// Test-only program: runs a suite through the real harness (run_suite, make_scorecard,
// write_json_atomic) on the CPU backend, with every kernel made slower by a fixed fraction of its own
// duration — the "injected slowdown" that `dsbench compare` must catch. Kernel ids, device and
// backend name are unchanged, so its scorecard lines up with an ordinary `dsbench run`.
// It also wires --junit and --format markdown exactly as `dsbench run` does (run_outputs.hpp).
//
// usage: slowed_run --suite smoke --out slowed.json --slowdown 0.2 [--seed N] [--reps N] [--budget S]
//                   [--kernel GLOB] [--case GLOB] [--junit FILE] [--format markdown]
#include <chrono>
#include <iostream>

#include <CLI/CLI.hpp>

#include "harness/error.hpp"
#include "harness/report/run_outputs.hpp"
#include "harness/runner.hpp"
#include "harness/scorecard.hpp"
#include "harness/suite.hpp"
#include "kernels/cpu/cpu_backend.hpp"
#include "wrapping_backend.hpp"

namespace {
using namespace dsbench;
using Clock = std::chrono::steady_clock;

// Runs the wrapped kernel, then waits `slowdown` times as long as it took. A spin, not a sleep:
// sleeping rounds tens of microseconds up to the scheduler's granularity, which would turn a 20%
// slowdown of a 40 us kernel into a 200% one.
class SlowKernel final : public testing::KernelWrapper {
 public:
  SlowKernel(const Kernel* inner, double slowdown) : KernelWrapper(inner), slowdown_(slowdown) {}
  Status run(const void* p, void* ws, Stream& s) const override {
    const auto start = Clock::now();
    const Status st = inner_->run(p, ws, s);
    const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>((Clock::now() - start) * slowdown_);
    while (Clock::now() < until) {
    }
    return st;
  }

 private:
  double slowdown_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Runs a suite on the CPU backend with every kernel slowed by a fixed fraction"};
  std::string suite_name = "smoke", out;
  double slowdown = 0.2;
  int reps = -1;
  double budget = -1;
  RunOptions opts;
  report::RunOutputs outputs;
  app.add_option("--suite", suite_name);
  app.add_option("--out", out)->required();
  app.add_option("--slowdown", slowdown, "0.2: every kernel takes 20% longer")->check(CLI::Range(0.0, 10.0));
  app.add_option("--seed", opts.seed);
  app.add_option("--reps", reps, "minimum repetitions (default: the suite's)");
  app.add_option("--budget", budget, "seconds of measured time per case x kernel (default: the suite's)");
  app.add_option("--kernel", opts.kernel_glob);
  app.add_option("--case", opts.case_glob);
  app.add_option("--rounds", opts.timing.rounds, "as dsbench run --rounds");
  report::add_run_output_options(&app, &outputs);
  CLI11_PARSE(app, argc, argv);
  try {
    check_writable(out);
    report::check_run_outputs(outputs);
    const Suite suite = load_suite(suite_name);
    const nlohmann::json& t = suite.timing_defaults;
    if (t.contains("min_reps")) opts.timing.min_reps = t.at("min_reps").get<int>();
    if (t.contains("budget_s")) opts.timing.budget_s = t.at("budget_s").get<double>();
    if (reps >= 0) opts.timing.min_reps = reps;
    if (budget >= 0) opts.timing.budget_s = budget;
    testing::WrappingBackend backend(cpu::make_cpu_backend(),
                                     [&](const Kernel* k) { return std::make_unique<SlowKernel>(k, slowdown); });
    const RunContext ctx = testing::run_context("slowed_run --slowdown " + std::to_string(slowdown), suite, opts, backend);
    const std::vector<ResultRow> rows = run_suite(suite, backend, opts, nullptr);
    const nlohmann::json doc = make_scorecard(ctx, rows);
    write_json_atomic(out, doc);
    std::cout << "slowed_run: " << rows.size() << " results, slowdown " << slowdown << ", scorecard " << out << "\n";
    report::write_run_outputs(outputs, doc, std::cout);
    return exit_code_for(rows, ctx.errors);
  } catch (const std::exception& e) {
    std::cerr << "slowed_run: error: " << e.what() << "\n";
    return 2;
  }
}
