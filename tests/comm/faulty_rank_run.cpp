// Test-only program: `dsbench run` of a suite on the CPU backend (real harness: World, run_suite,
// the multi-rank runner, make_scorecard), with one rank's kernels of one op (--op, all_to_all by
// default; moe_dispatch, moe_combine, moe_layer too) made faulty on purpose:
//   corrupt  rank R flips one bit of one output element after a correct run (all-to-all: one
//            received element, to be counted as exactly one wrong element on rank R; MoE ops: the
//            exponent's top bit of one element, far outside any tolerance);
//   hang_early  rank R hangs before the case's first agreement (rank 0 must name R as missing);
//   hang     rank R never enters the exchange, after every rank agreed to start it (the watchdog
//            must end the job, and rank 0 must write the scorecard naming the case);
//   exit     rank R exits before the exchange (the job must end fast, not hang).
// usage: mpirun -np N faulty_rank_run --suite FILE --out FILE --fault corrupt|hang|exit --rank R
//                                     [--op OP] [--timeout S] [--case GLOB]
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
  FaultyKernel(const Kernel* inner, std::string fault, int rank, dsb_op target)
      : KernelWrapper(inner), fault_(std::move(fault)), rank_(rank), target_(target) {}
  Support supports(const void* p, const Device& d) const override {
    if (mine() && fault_ == "hang_early") std::this_thread::sleep_for(std::chrono::hours(1));
    return inner_->supports(p, d);
  }
  Status run(const void* p, void* ws, Stream& s) const override {
    if (mine() && fault_ == "hang") std::this_thread::sleep_for(std::chrono::hours(1));
    if (mine() && fault_ == "exit") _exit(7);
    const Status st = inner_->run(p, ws, s);
    if (mine() && fault_ == "corrupt" && st.ok()) corrupt(p);
    return st;
  }

 private:
  bool mine() const { return op() == target_ && World::get().rank() == rank_; }
  void corrupt(const void* p) const {
    switch (target_) {
      case DSB_OP_ALL_TO_ALL: {
        const auto& a = *static_cast<const dsb_all_to_all_params*>(p);
        int64_t n = 0;
        for (int i = 0; i < a.world_size; ++i) n += a.recv_counts[i];
        if (n > 0) static_cast<uint8_t*>(a.recv)[(n / 2) * dsb_dtype_size(a.dtype)] ^= 0x01;
        break;
      }
      case DSB_OP_MOE_DISPATCH: {  // the first delivered row's first payload byte
        const auto& d = *static_cast<const dsb_moe_dispatch_params*>(p);
        const int64_t rows = d.layout == DSB_MOE_LAYOUT_CONTIGUOUS ? d.recv_capacity
                                                                   : d.recv_capacity * d.num_experts / d.world_size;
        for (int64_t r = 0; r < rows; ++r) {
          if (d.layout == DSB_MOE_LAYOUT_MASKED && r % d.recv_capacity >= d.recv_count[r / d.recv_capacity]) continue;
          if (d.recv_src[3 * r] < 0) continue;
          static_cast<uint8_t*>(d.recv_x)[r * d.hidden * static_cast<int64_t>(dsb_dtype_size(d.recv_dtype))] ^= 0x40;
          break;
        }
        break;
      }
      case DSB_OP_MOE_COMBINE: {
        const auto& c = *static_cast<const dsb_moe_combine_params*>(p);
        if (c.num_tokens > 0) static_cast<uint16_t*>(c.out)[c.hidden / 2] ^= 0x4000;  // BF16 exponent's top bit
        break;
      }
      case DSB_OP_MOE_LAYER: {
        const auto& l = *static_cast<const dsb_moe_layer_params*>(p);
        if (l.num_tokens > 0 && l.stage == DSB_MOE_LAYER_ALL) static_cast<uint16_t*>(l.out)[l.hidden / 2] ^= 0x4000;
        break;
      }
      default:
        break;
    }
  }
  std::string fault_;
  int rank_;
  dsb_op target_;
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
  std::string op = "all_to_all";
  app.add_option("--op", op, "the op whose kernels fail on --rank");
  app.add_option("--timeout", opts.case_timeout_s);
  app.add_option("--case", opts.case_glob);
  int local_ranks = 1;
  app.add_option("--local-ranks", local_ranks);
  CLI11_PARSE(app, argc, argv);
  if (dsb_op_from_name(op.c_str()) == DSB_OP_INVALID) {
    std::cerr << "faulty_rank_run: unknown op " << op << "\n";
    return 2;
  }
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
                                     [&](const Kernel* k) {
                                       return std::make_unique<FaultyKernel>(k, fault, rank, dsb_op_from_name(op.c_str()));
                                     });
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
