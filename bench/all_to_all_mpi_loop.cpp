// The baseline dsbench's CPU all-to-all is held to: a plain MPI_Alltoall loop, timed the way
// dsbench times (a barrier before each repetition, the call alone on a steady clock, the median per
// rank, the slowest rank's median as the time), on the same sizes. tools/all_to_all_overhead.py runs
// both and prints the ratio; docs/ops/all_to_all.md records the figures.
//
// usage: mpirun -np N all_to_all_mpi_loop [--reps R] [--warmup W] BYTES_PER_RANK...
// prints one JSON object per size on rank 0: {"bytes_per_rank", "time_ms", "algbw_gbps", "busbw_gbps"}
#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, n = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  int reps = 200, warmup = 5;
  std::vector<long long> sizes;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--warmup") && i + 1 < argc) warmup = std::atoi(argv[++i]);
    else sizes.push_back(std::atoll(argv[i]));
  }
  for (long long bytes : sizes) {
    // BF16 elements, as dsbench's default dtype; per-pair count rounded down like nccl-tests.
    const long long per_pair = bytes / (2LL * n);
    std::vector<uint16_t> send(static_cast<size_t>(per_pair * n), 0x3f80), recv(send.size());
    std::vector<double> ms;
    for (int i = 0; i < warmup + reps; ++i) {
      MPI_Barrier(MPI_COMM_WORLD);
      const auto t0 = std::chrono::steady_clock::now();
      MPI_Alltoall(send.data(), static_cast<int>(per_pair), MPI_UINT16_T, recv.data(), static_cast<int>(per_pair),
                   MPI_UINT16_T, MPI_COMM_WORLD);
      const auto t1 = std::chrono::steady_clock::now();
      if (i >= warmup) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    double median = ms.empty() ? 0 : (ms.size() % 2 ? ms[ms.size() / 2] : 0.5 * (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]));
    double slowest = 0;
    MPI_Reduce(&median, &slowest, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    if (rank == 0) {
      const double size = 2.0 * static_cast<double>(per_pair) * n, s = slowest * 1e-3;
      std::printf("{\"bytes_per_rank\": %lld, \"time_ms\": %.6f, \"algbw_gbps\": %.6f, \"busbw_gbps\": %.6f}\n", bytes,
                  slowest, s > 0 ? size / s / 1e9 : 0.0, s > 0 ? size / s / 1e9 * (n - 1) / n : 0.0);
      std::fflush(stdout);
    }
  }
  MPI_Finalize();
  return 0;
}
