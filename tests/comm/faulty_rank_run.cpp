// Test-only program: `dsbench run` of a suite on the CPU backend (real harness: World, run_suite,
// the multi-rank runner, make_scorecard), with one rank's all-to-all made faulty on purpose:
//   corrupt  rank R flips one bit of one received element after a correct exchange (must be
//            counted as exactly one wrong element on rank R);
//   hang_early  rank R hangs before the case's first agreement (rank 0 must name R as missing);
//   hang     rank R never enters the exchange, after every rank agreed to start it (the watchdog
//            must end the job, and rank 0 must write the scorecard naming the case);
//   exit     rank R exits before the exchange (the job must end fast, not hang).
// usage: mpirun -np N faulty_rank_run --suite FILE --out FILE --fault corrupt|hang|exit --rank R
//                                     [--timeout S] [--case GLOB]
//        faulty_rank_run --local-ranks N ...   (the ranks as threads of one process, no mpirun)
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <thread>

#include <CLI/CLI.hpp>

#include "dsbench/comm.hpp"
#include "harness/local_world.hpp"
#include "harness/runner.hpp"
#include "harness/scorecard.hpp"
#include "harness/suite.hpp"
#include "harness/world.hpp"
#include "kernels/cpu/cpu_backend.hpp"
#include "wrapping_backend.hpp"

namespace {
using namespace dsbench;

class FaultyKernel final : public testing::KernelWrapper {
 public:
  FaultyKernel(const Kernel* inner, std::string fault, int rank) : KernelWrapper(inner), fault_(std::move(fault)), rank_(rank) {}
  Support supports(const void* p, const Device& d) const override {
    if (mine() && fault_ == "hang_early") std::this_thread::sleep_for(std::chrono::hours(1));
    return inner_->supports(p, d);
  }
  Status run(const void* p, void* ws, Stream& s) const override {
    if (mine() && fault_ == "hang") std::this_thread::sleep_for(std::chrono::hours(1));
    if (mine() && fault_ == "exit") _exit(7);
    const Status st = inner_->run(p, ws, s);
    if (mine() && fault_ == "corrupt") {
      const auto& a = *static_cast<const dsb_all_to_all_params*>(p);
      int64_t n = 0;
      for (int i = 0; i < a.world_size; ++i) n += a.recv_counts[i];
      if (n > 0) static_cast<uint8_t*>(a.recv)[(n / 2) * dsb_dtype_size(a.dtype)] ^= 0x01;
    }
    return st;
  }

 private:
  bool mine() const { return op() == DSB_OP_ALL_TO_ALL && World::get().rank() == rank_; }
  std::string fault_;
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"A multi-rank run with one faulty rank"};
  std::string suite_path, out, fault;
  int rank = 1;
  RunOptions opts;
  opts.case_timeout_s = 20;
  app.add_option("--suite", suite_path)->required();
  app.add_option("--out", out)->required();
  app.add_option("--fault", fault)->required()->check(CLI::IsMember({"corrupt", "hang_early", "hang", "exit", "none"}));
  app.add_option("--rank", rank);
  app.add_option("--timeout", opts.case_timeout_s);
  app.add_option("--case", opts.case_glob);
  int local_ranks = 1;
  app.add_option("--local-ranks", local_ranks);
  CLI11_PARSE(app, argc, argv);
  const RunOptions given = opts;
  auto body = [&](int) {
    RunOptions opts = given;
    World& world = World::get();
    opts.timing.min_reps = 3;
    opts.timing.budget_s = 0.05;
    opts.timing.flush_cache = false;
    opts.seed = 7;
    const Suite suite = load_suite(suite_path);
    testing::WrappingBackend backend(cpu::make_cpu_backend(),
                                     [&](const Kernel* k) { return std::make_unique<FaultyKernel>(k, fault, rank); });
    RunContext ctx = testing::run_context("faulty_rank_run --fault " + fault, suite, opts, backend);
    ctx.world = world_json(world);
    std::vector<ResultRow> so_far;
    opts.on_fatal = [&](const ResultRow& row) {
      std::vector<ResultRow> all = so_far;
      all.push_back(row);
      ctx.errors.push_back("the job was ended: " + row.reason);
      write_json_atomic(out, make_scorecard(ctx, all));
  };
  const std::vector<ResultRow> rows = run_suite(suite, backend, opts, [&](const ResultRow& r) { so_far.push_back(r); });
  int code = exit_code_for(rows, ctx.errors);
  if (world.rank() == 0) {
    write_json_atomic(out, make_scorecard(ctx, rows));
    std::cout << "faulty_rank_run: " << rows.size() << " results, exit " << code << "\n";
  }
  return code;
  };
  const int code = local_ranks > 1 ? LocalWorld::run(local_ranks, body) : body(0);
  World::finalize();
  return code;
}
