#include "kernels/cuda/cuda_ceilings.hpp"

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "dsbench/numerics/bf16.hpp"
#include "kernels/cuda/cuda_host_util.hpp"
#include "kernels/gpu/gpu_portability.hpp"


namespace dsbench::cuda {
namespace {

constexpr int kReps = 10;

// Device memory freed on every path out.
struct DeviceMem {
  void* p = nullptr;
  ~DeviceMem() { if (p) cudaFree(p); }
};

struct Timer {
  cudaEvent_t start = nullptr, stop = nullptr;
  ~Timer() {
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
  }
};

// Random bytes from a host generator: BF16 values in [-1, 1), or FP8 codes without NaN.
Status fill_random(void* dst, size_t bytes, bool bf16) {
  std::vector<uint8_t> host(bytes);
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i + 1 < bytes; i += 2) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    uint16_t v = bf16 ? bf16_from_f32(static_cast<float>(static_cast<int32_t>(x >> 40) - (1 << 23)) / (1 << 23))
                      : static_cast<uint16_t>(x & 0x7777u);  // E4M3 codes below the NaN pattern
    host[i] = static_cast<uint8_t>(v & 0xff);
    host[i + 1] = static_cast<uint8_t>(v >> 8);
  }
  DSB_GPU_CHECK(cudaMemcpy(dst, host.data(), bytes, cudaMemcpyHostToDevice));
  return Status::success();
}

Status copy_gbps(cudaStream_t s, double* gbps) {
  size_t free_b = 0, total_b = 0;
  DSB_GPU_CHECK(cudaMemGetInfo(&free_b, &total_b));
  const size_t bytes = std::min<size_t>(size_t{1} << 30, free_b / 4) & ~size_t{4095};
  DeviceMem src, dst;
  Timer t;
  DSB_GPU_CHECK(cudaMalloc(&src.p, bytes));
  DSB_GPU_CHECK(cudaMalloc(&dst.p, bytes));
  DSB_GPU_CHECK(cudaMemsetAsync(src.p, 0x5a, bytes, s));
  DSB_GPU_CHECK(cudaEventCreate(&t.start));
  DSB_GPU_CHECK(cudaEventCreate(&t.stop));
  DSB_GPU_CHECK(cudaMemcpyAsync(dst.p, src.p, bytes, cudaMemcpyDeviceToDevice, s));  // warm-up
  float best = 1e30f;
  for (int r = 0; r < kReps; ++r) {
    DSB_GPU_CHECK(cudaEventRecord(t.start, s));
    DSB_GPU_CHECK(cudaMemcpyAsync(dst.p, src.p, bytes, cudaMemcpyDeviceToDevice, s));
    DSB_GPU_CHECK(cudaEventRecord(t.stop, s));
    DSB_GPU_CHECK(cudaEventSynchronize(t.stop));
    float ms = 0;
    DSB_GPU_CHECK(cudaEventElapsedTime(&ms, t.start, t.stop));
    best = std::min(best, ms);
  }
  *gbps = 2.0 * static_cast<double>(bytes) / (best * 1e-3) / 1e9;
  return Status::success();
}

// D[dim, dim] = A . B^T through cuBLASLt ("TN", as FP8 requires), FP32 accumulation, BF16 out.
Status gemm_tflops(cublasLtHandle_t lt, cudaStream_t s, cudaDataType_t ab, int dim, double* tflops) {
  const bool fp8 = ab == CUDA_R_8F_E4M3;
  const size_t elem = fp8 ? 1 : 2, n = static_cast<size_t>(dim) * dim;
  DeviceMem a, b, d, ws;
  const size_t ws_bytes = size_t{32} << 20;
  DSB_GPU_CHECK(cudaMalloc(&a.p, n * elem));
  DSB_GPU_CHECK(cudaMalloc(&b.p, n * elem));
  DSB_GPU_CHECK(cudaMalloc(&d.p, n * 2));
  DSB_GPU_CHECK(cudaMalloc(&ws.p, ws_bytes));
  if (Status st = fill_random(a.p, n * elem, !fp8); !st.ok()) return st;
  if (Status st = fill_random(b.p, n * elem, !fp8); !st.ok()) return st;

  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, ld = nullptr;
  cublasLtMatmulPreference_t pref = nullptr;
  struct Release {  // descriptors go on every path out
    cublasLtMatmulDesc_t& op;
    cublasLtMatrixLayout_t &la, &lb, &ld;
    cublasLtMatmulPreference_t& pref;
    ~Release() {
      if (pref) cublasLtMatmulPreferenceDestroy(pref);
      if (ld) cublasLtMatrixLayoutDestroy(ld);
      if (lb) cublasLtMatrixLayoutDestroy(lb);
      if (la) cublasLtMatrixLayoutDestroy(la);
      if (op) cublasLtMatmulDescDestroy(op);
    }
  } release{op, la, lb, ld, pref};
  DSB_LT_CHECK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  DSB_LT_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
  DSB_LT_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
  DSB_LT_CHECK(cublasLtMatrixLayoutCreate(&la, ab, dim, dim, dim));
  DSB_LT_CHECK(cublasLtMatrixLayoutCreate(&lb, ab, dim, dim, dim));
  DSB_LT_CHECK(cublasLtMatrixLayoutCreate(&ld, CUDA_R_16BF, dim, dim, dim));
  DSB_LT_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  DSB_LT_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes, sizeof ws_bytes));
  cublasLtMatmulHeuristicResult_t heur{};
  int found = 0;
  DSB_LT_CHECK(cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, ld, ld, pref, 1, &heur, &found));
  if (found == 0) return Status::error(DSB_STATUS_NOT_SUPPORTED, "cuBLASLt has no algorithm for this GEMM here");
  const float alpha = 1.0f, beta = 0.0f;
  Timer t;
  DSB_GPU_CHECK(cudaEventCreate(&t.start));
  DSB_GPU_CHECK(cudaEventCreate(&t.stop));
  float best = 1e30f;
  for (int r = -2; r < kReps; ++r) {  // two warm-up calls
    DSB_GPU_CHECK(cudaEventRecord(t.start, s));
    DSB_LT_CHECK(cublasLtMatmul(lt, op, &alpha, a.p, la, b.p, lb, &beta, d.p, ld, d.p, ld, &heur.algo, ws.p, ws_bytes, s));
    DSB_GPU_CHECK(cudaEventRecord(t.stop, s));
    DSB_GPU_CHECK(cudaEventSynchronize(t.stop));
    float ms = 0;
    DSB_GPU_CHECK(cudaEventElapsedTime(&ms, t.start, t.stop));
    if (r >= 0) best = std::min(best, ms);
  }
  *tflops = 2.0 * dim * static_cast<double>(dim) * dim / (best * 1e-3) / 1e12;
  return Status::success();
}

}  // namespace

Status measure_cuda_ceilings(int device, Ceilings* out) {
  DSB_GPU_CHECK(cudaSetDevice(device));
  cudaStream_t s = nullptr;
  DSB_GPU_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  struct StreamGuard {
    cudaStream_t s;
    ~StreamGuard() { cudaStreamDestroy(s); }
  } guard{s};
  double v = 0;
  if (Status st = copy_gbps(s, &v); !st.ok()) return st;
  (*out)["copy_gbps"] = {v, "cudaMemcpyAsync device to device, up to 1 GiB, best of 10 (CUDA events), read + write bytes"};
  cublasLtHandle_t lt = nullptr;
  DSB_LT_CHECK(cublasLtCreate(&lt));
  struct LtGuard {
    cublasLtHandle_t h;
    ~LtGuard() { cublasLtDestroy(h); }
  } lt_guard{lt};
  // A GEMM cuBLASLt cannot do here (no FP8 before sm_89) is left out; the copy still counts.
  if (gemm_tflops(lt, s, CUDA_R_16BF, 8192, &v).ok())
    (*out)["gemm_bf16_tflops"] = {v, "cublasLtMatmul BF16 8192^3 TN, FP32 accumulate, BF16 out, best of 10"};
  if (gemm_tflops(lt, s, CUDA_R_8F_E4M3, 8192, &v).ok())
    (*out)["gemm_fp8_tflops"] = {v, "cublasLtMatmul FP8 E4M3 8192^3 TN (per-tensor scale 1), FP32 accumulate, BF16 out, best of 10"};
  cudaGetLastError();  // a refused GEMM leaves nothing sticky for the run that follows
  return Status::success();
}

}  // namespace dsbench::cuda
