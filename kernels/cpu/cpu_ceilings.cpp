#include "kernels/cpu/cpu_ceilings.hpp"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>

#if DSB_HAVE_OPENBLAS
#include <cblas.h>
#endif

namespace dsbench::cpu {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};

// Non-temporal copy of n floats (n % 16 == 0, 64-byte aligned): stores that skip the read of each
// destination line, as large memcpys and the MoE dispatch's row writes do.
__attribute__((target("avx2"))) void stream_copy_avx2(const float* a, float* b, int64_t n) {
  for (int64_t i = 0; i < n; i += 8) _mm256_stream_ps(b + i, _mm256_load_ps(a + i));
  _mm_sfence();
}

}  // namespace

// b[i] = a[i] over two arrays each well beyond the last-level cache, every thread its static
// share (first touched by the same thread, so pages sit near it); counted as read + write bytes.
// The best of plain stores and (with AVX2) non-temporal stores: the ceiling is the fastest copy
// this machine does, so a kernel that writes with non-temporal stores is not over 100% of it.
double measure_copy_gbps(int64_t llc_bytes, int reps, bool* non_temporal) {
  const int64_t n = std::max<int64_t>(int64_t{64} << 20, 4 * llc_bytes) / 4;  // floats per array
  std::unique_ptr<float, FreeDeleter> a(static_cast<float*>(std::aligned_alloc(64, n * 4)));
  std::unique_ptr<float, FreeDeleter> b(static_cast<float*>(std::aligned_alloc(64, n * 4)));
  if (!a || !b) return 0.0;
  float* pa = a.get();
  float* pb = b.get();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    pa[i] = static_cast<float>(i & 1023);
    pb[i] = 0.0f;
  }
  double best = 1e30, best_nt = 1e30;
  const bool avx2 = __builtin_cpu_supports("avx2");
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; ++i) pb[i] = pa[i];
    best = std::min(best, seconds_since(t0));
    if (!avx2) continue;
    t0 = std::chrono::steady_clock::now();
#pragma omp parallel
    {
      // Each thread its static share, in whole 64-byte lines (n is a multiple of 16).
      const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads(), lines = n / 16;
      const int64_t l0 = lines * t / nt, l1 = lines * (t + 1) / nt;
      stream_copy_avx2(pa + l0 * 16, pb + l0 * 16, (l1 - l0) * 16);
    }
    best_nt = std::min(best_nt, seconds_since(t0));
  }
  if (pb[n - 1] != pa[n - 1]) return 0.0;  // keeps the copy from being elided
  *non_temporal = best_nt < best;
  return 2.0 * 4.0 * static_cast<double>(n) / std::min(best, best_nt) / 1e9;
}

namespace {

#if DSB_HAVE_OPENBLAS
double sgemm_tflops(int dim, int reps) {
  const size_t n = static_cast<size_t>(dim) * dim;
  std::unique_ptr<float[]> a(new float[n]), b(new float[n]), c(new float[n]);
  for (size_t i = 0; i < n; ++i) {
    a[i] = static_cast<float>((i * 7) % 13) * 0.1f - 0.6f;
    b[i] = static_cast<float>((i * 5) % 11) * 0.1f - 0.5f;
  }
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, dim, dim, dim, 1.0f, a.get(), dim, b.get(), dim, 0.0f, c.get(), dim);
    best = std::min(best, seconds_since(t0));
  }
  return 2.0 * dim * static_cast<double>(dim) * dim / best / 1e12;
}
#endif

}  // namespace

Status measure_cpu_ceilings(int64_t llc_bytes, Ceilings* out) {
  const int threads = omp_get_max_threads();
  bool non_temporal = false;
  const double copy = measure_copy_gbps(llc_bytes, 5, &non_temporal);
  if (copy <= 0.0) return Status::error(DSB_STATUS_OUT_OF_MEMORY, "could not allocate the copy arrays");
  (*out)["copy_gbps"] = {copy, "STREAM-style copy b[i] = a[i], two FP32 arrays of " +
                                   std::to_string(std::max<int64_t>(int64_t{64} << 20, 4 * llc_bytes) >> 20) +
                                   " MiB, " + std::to_string(threads) + " OpenMP threads, best of 5 with plain and of 5 "
                                   "with non-temporal stores (" + (non_temporal ? "non-temporal" : "plain") +
                                   " won), read + write bytes"};
#if DSB_HAVE_OPENBLAS
  (*out)["gemm_f32_tflops"] = {sgemm_tflops(2048, 3), "OpenBLAS cblas_sgemm 2048^3 (NT), best of 3"};
#endif
  return Status::success();
}

}  // namespace dsbench::cpu
