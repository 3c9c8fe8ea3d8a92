// Does dsbench add overhead to an all-to-all? One program under mpirun, four ways to time the same
// BF16 MPI_Alltoall on the same sizes, interleaved within every round (their order rotates) so
// that a machine whose speed drifts treats all alike:
//   mpi      a plain loop: MPI_Barrier, then MPI_Alltoall alone on a steady clock (MPI_COMM_WORLD);
//   comm     the same loop through dsbench's CPU communicator (Communicator::barrier, ::alltoallv);
//   dsbench  the whole harness: run_multi_rank_case with cpu.all_to_all.library (the agreement
//            before every repetition, the barrier, events, the kernel, the merge on rank 0);
//   agree    the plain loop with dsbench's per-repetition agreement (a gather to rank 0 and its
//            answer) before each barrier: what the agreement alone costs the exchange after it.
// Each way: every rank's median over its repetitions, the slowest rank's median as the time, busbw =
// bytes * (n-1)/n / time (nccl-tests' alltoall). Rank 0 prints, per size, the busbw of mpi, comm
// and dsbench (median over rounds) and the per-round ratios of comm, dsbench and agree to `mpi`:
// their mean with a 95% confidence interval (Student's t over rounds). docs/ops/all_to_all.md records the figures.
//
// With --batch B every way times B exchanges back to back per sample (a barrier, and for dsbench its
// agreement, once per sample), as nccl-tests and `dsbench run --batch` do.
//
// usage: mpirun -np N all_to_all_overhead_bench [--rounds K] [--reps R] [--batch B] BYTES_PER_RANK...
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "harness/multi_rank.hpp"
#include "harness/world.hpp"
#include "kernels/cpu/cpu_backend.hpp"

namespace {
using namespace dsbench;
using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0.0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// The slowest rank's median (ms) of a `before` (ending in a barrier), then exchange loop, on rank 0 (0 elsewhere).
// With batch > 1 each sample times that many exchanges back to back and is their mean (--batch).
template <class Exchange, class Before>
double loop_ms(int warmup, int reps, int batch, Exchange&& exchange, Before&& before) {
  std::vector<double> ms;
  for (int i = 0; i < warmup + reps; ++i) {
    before();  // ends with a barrier
    const auto t0 = Clock::now();
    for (int b = 0; b < batch; ++b) exchange();
    const auto t1 = Clock::now();
    if (i >= warmup) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count() / batch);
  }
  double mine = median(ms), slowest = 0;
  MPI_Reduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
  return slowest;
}

// Student's t quantile (two-sided 95%) for k-1 degrees of freedom, k rounds.
double t95(int k) {
  static const double t[] = {0, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                             2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086};
  const int df = k - 1;
  return df <= 0 ? 0.0 : df <= 20 ? t[df] : 1.96;
}

struct Ratio {
  double mean = 0, half = 0;
};
Ratio mean_ci(const std::vector<double>& x) {
  Ratio r;
  const int k = static_cast<int>(x.size());
  if (k == 0) return r;
  for (double v : x) r.mean += v / k;
  double var = 0;
  for (double v : x) var += (v - r.mean) * (v - r.mean);
  r.half = k > 1 ? t95(k) * std::sqrt(var / (k - 1) / k) : 0.0;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  World& world = World::get();  // MPI_Init_thread under mpirun, as dsbench run does
  const int rank = world.rank(), n = world.world_size();
  int rounds = 10, reps = 200, warmup = 5, batch = 1;
  std::vector<long long> sizes;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--rounds") && i + 1 < argc) rounds = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--batch") && i + 1 < argc) batch = std::max(1, std::atoi(argv[++i]));
    else sizes.push_back(std::atoll(argv[i]));
  }
  if (sizes.empty() || n < 2) {
    if (rank == 0) std::fprintf(stderr, "usage: mpirun -np N (N >= 2) all_to_all_overhead_bench [--rounds K] [--reps R] [--batch B] BYTES...\n");
    World::finalize();
    return 2;
  }
  auto backend = cpu::make_cpu_backend();
  Device& device = *backend->device(0);
  std::vector<const Kernel*> kernels;
  for (const Kernel* k : backend->kernels())
    if (k->id() == "cpu.all_to_all.library") kernels.push_back(k);
  MultiRankSession session;
  session.world = &world;
  session.comm_tried = true;
  if (const Status st = backend->create_communicator(device, world, &session.comm); !st.ok()) {
    std::fprintf(stderr, "rank %d: no communicator: %s\n", rank, st.message.c_str());
    world.abort(2);
  }
  RunOptions opts;
  opts.timing.warmup = warmup;
  opts.timing.min_reps = opts.timing.max_reps = reps;
  opts.timing.budget_s = 1e9;
  opts.timing.noise = 0;
  opts.timing.flush_cache = false;  // as nccl-tests and the loops here: warm cache
  opts.timing.batch = batch;        // dsbench run --batch: the same batching as the loops here
  opts.case_timeout_s = 120;

  if (rank == 0)
    std::printf("all_to_all_overhead_bench: %d ranks (%s), %d rounds x %d repetitions of %d exchanges, BF16, warm cache\n\n"
                "| bytes per rank | mpi busbw GB/s | comm busbw GB/s | dsbench busbw GB/s | comm / mpi (mean, 95%% CI) | "
                "dsbench / mpi (mean, 95%% CI) | mpi after agreement / mpi |\n|---:|---:|---:|---:|---:|---:|---:|\n",
                n, world.launcher().c_str(), rounds, reps, batch);
  const double factor = static_cast<double>(n - 1) / n;
  for (long long bytes : sizes) {
    const long long per_pair = bytes / (2LL * n);  // BF16, rounded down like nccl-tests and the suite
    const double size = 2.0 * static_cast<double>(per_pair) * n;
    std::vector<uint16_t> send(static_cast<size_t>(per_pair * n), 0x3f80), recv(send.size());
    std::vector<int64_t> counts(static_cast<size_t>(n), per_pair), displs(static_cast<size_t>(n));
    for (int p = 0; p < n; ++p) displs[static_cast<size_t>(p)] = p * per_pair;
    CaseSpec c;
    c.id = "all_to_all/overhead_" + std::to_string(bytes);
    c.op = "all_to_all";
    c.params = {{"bytes_per_rank", bytes}};
    std::vector<double> bw[4], comm_ratio, dsb_ratio, agree_ratio;
    for (int r = 0; r < rounds; ++r) {
      double ms[4] = {0, 0, 0, 0};
      for (int j = 0; j < 4; ++j) {
        const int way = (r + j) % 4;  // rotate the order every round
        if (way == 0) {
          ms[0] = loop_ms(warmup, reps, batch, [&] {
            MPI_Alltoall(send.data(), static_cast<int>(per_pair), MPI_UINT16_T, recv.data(), static_cast<int>(per_pair),
                         MPI_UINT16_T, MPI_COMM_WORLD);
          }, [] { MPI_Barrier(MPI_COMM_WORLD); });
        } else if (way == 3) {
          ms[3] = loop_ms(warmup, reps, batch, [&] {
            MPI_Alltoall(send.data(), static_cast<int>(per_pair), MPI_UINT16_T, recv.data(), static_cast<int>(per_pair),
                         MPI_UINT16_T, MPI_COMM_WORLD);
          }, [&] {
            std::string d = "0";
            world.gather_to_root("0", 60, nullptr);
            world.bcast_from_root(&d, 60);
            MPI_Barrier(MPI_COMM_WORLD);
          });
        } else if (way == 1) {
          ms[1] = loop_ms(warmup, reps, batch, [&] {
            session.comm->alltoallv(send.data(), counts.data(), displs.data(), recv.data(), counts.data(),
                                    displs.data(), DSB_DTYPE_BF16, nullptr);
          }, [&] { session.comm->barrier(); });
        } else {
          const std::vector<ResultRow> rows = run_multi_rank_case("overhead", c, 1, device, kernels, opts, session);
          if (rank == 0) {
            if (rows.empty() || rows[0].disposition != "passed" || !rows[0].timing) {
              std::fprintf(stderr, "dsbench case failed: %s\n", rows.empty() ? "no row" : rows[0].reason.c_str());
              world.abort(1);
            }
            ms[2] = rows[0].collective.at("time_ms").get<double>();
          }
        }
      }
      if (rank != 0) continue;
      double gb[4];
      for (int w = 0; w < 4; ++w) {
        gb[w] = ms[w] > 0 ? size * factor / (ms[w] * 1e-3) / 1e9 : 0.0;
        bw[w].push_back(gb[w]);
      }
      comm_ratio.push_back(gb[1] / gb[0]);
      dsb_ratio.push_back(gb[2] / gb[0]);
      agree_ratio.push_back(gb[3] / gb[0]);
    }
    if (rank == 0) {
      const Ratio cr = mean_ci(comm_ratio), dr = mean_ci(dsb_ratio), ar = mean_ci(agree_ratio);
      std::printf("| %lld | %.3f | %.3f | %.3f | %.3f ± %.3f | %.3f ± %.3f | %.3f ± %.3f |\n", static_cast<long long>(size),
                  median(bw[0]), median(bw[1]), median(bw[2]), cr.mean, cr.half, dr.mean, dr.half, ar.mean, ar.half);
      std::fflush(stdout);
    }
  }
  session.comm.reset();
  World::finalize();
  return 0;
}
