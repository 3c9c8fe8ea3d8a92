// cuBLASLt's block-scaled FP8 GEMM behind the kernel interface (gemm_fp8_cublaslt.hpp). The row-
// major D[m, n] = A[m, k] . B[n, k]^T is cuBLASLt's column-major D^T (n x m) = B (as "A", op T) .
// A^T (as "B", op N): the weights take BLK128x128_32F and the activations VEC128_32F, both after
// prepare_scales() has put them in cuBLASLt's layouts inside the workspace (a few microseconds,
// inside the timed call). Unverified on hardware: docs/ops/gemm_fp8_blockscaled.md#kernels.
#include "kernels/cuda/gemm_fp8_cublaslt.hpp"

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "kernels/cuda/cuda_host_util.hpp"
#include "kernels/gpu/gpu_portability.hpp"


namespace dsbench::cuda {
namespace {

constexpr size_t kLtWorkspaceBytes = size_t{32} << 20;
constexpr size_t kMinLtVersion = 120900;  // the first cuBLASLt with VEC128_32F / BLK128x128_32F

size_t align256(size_t x) { return (x + 255) / 256 * 256; }
int64_t round4(int64_t x) { return (x + 3) / 4 * 4; }

// One GEMM shape's descriptors and algorithm, made on first use and kept: creating them and asking
// the heuristic costs host time that would otherwise sit inside every timed call.
struct Plan {
  cublasLtMatmulDesc_t op = nullptr;
  cublasLtMatrixLayout_t la = nullptr, lb = nullptr, ld = nullptr;
  cublasLtMatmulAlgo_t algo{};
};

// Per device: the handle and the plans. Never destroyed: at process exit the CUDA runtime may be
// gone before static destructors run.
class LtContext {
 public:
  static Status get(int device, LtContext** out) {
    static std::mutex mu;
    static std::map<int, LtContext*> contexts;
    std::lock_guard<std::mutex> lock(mu);
    LtContext*& c = contexts[device];
    if (c == nullptr) {
      cublasLtHandle_t h = nullptr;
      DSB_LT_CHECK(cublasLtCreate(&h));
      c = new LtContext(h);
    }
    *out = c;
    return Status::success();
  }
  cublasLtHandle_t handle() const { return handle_; }
  std::mutex& mutex() { return mu_; }

  // The plan of D (rows x n) = A (rows x k) . B (n x k)^T; call with mutex() held.
  Status plan(int64_t rows, int64_t n, int64_t k, Plan** out) {
    Plan& p = plans_[std::make_tuple(rows, n, k)];
    if (p.op != nullptr) {
      *out = &p;
      return Status::success();
    }
    Plan fresh;
    DSB_LT_CHECK(cublasLtMatmulDescCreate(&fresh.op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
    const int32_t mode_w = CUBLASLT_MATMUL_MATRIX_SCALE_BLK128x128_32F, mode_x = CUBLASLT_MATMUL_MATRIX_SCALE_VEC128_32F;
    DSB_LT_CHECK(cublasLtMatmulDescSetAttribute(fresh.op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
    DSB_LT_CHECK(cublasLtMatmulDescSetAttribute(fresh.op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
    DSB_LT_CHECK(cublasLtMatmulDescSetAttribute(fresh.op, CUBLASLT_MATMUL_DESC_A_SCALE_MODE, &mode_w, sizeof mode_w));
    DSB_LT_CHECK(cublasLtMatmulDescSetAttribute(fresh.op, CUBLASLT_MATMUL_DESC_B_SCALE_MODE, &mode_x, sizeof mode_x));
    DSB_LT_CHECK(cublasLtMatrixLayoutCreate(&fresh.la, CUDA_R_8F_E4M3, k, n, k));       // weights, op T
    DSB_LT_CHECK(cublasLtMatrixLayoutCreate(&fresh.lb, CUDA_R_8F_E4M3, k, rows, k));    // activations, op N
    DSB_LT_CHECK(cublasLtMatrixLayoutCreate(&fresh.ld, CUDA_R_16BF, n, rows, n));       // D^T column-major = D row-major
    cublasLtMatmulPreference_t pref = nullptr;
    DSB_LT_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    const size_t ws = kLtWorkspaceBytes;
    cublasLtMatmulHeuristicResult_t heur{};
    int found = 0;
    const cublasStatus_t a = cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
    const cublasStatus_t b = a == CUBLAS_STATUS_SUCCESS
                                 ? cublasLtMatmulAlgoGetHeuristic(handle_, fresh.op, fresh.la, fresh.lb, fresh.ld, fresh.ld,
                                                                  pref, 1, &heur, &found)
                                 : a;
    cublasLtMatmulPreferenceDestroy(pref);
    DSB_LT_CHECK(b);
    if (found == 0)
      return Status::error(DSB_STATUS_NOT_SUPPORTED, "cuBLASLt has no block-scaled FP8 algorithm for m " + std::to_string(rows) +
                                                         " x n " + std::to_string(n) + " x k " + std::to_string(k) + " here");
    fresh.algo = heur.algo;
    p = fresh;
    *out = &p;
    return Status::success();
  }

 private:
  explicit LtContext(cublasLtHandle_t h) : handle_(h) {}
  cublasLtHandle_t handle_;
  std::mutex mu_;
  std::map<std::tuple<int64_t, int64_t, int64_t>, Plan> plans_;
};

// Where the pieces sit in the workspace: cuBLASLt's own, then the converted scales.
struct WorkspaceLayout {
  size_t lt, sa, sb, total;
  WorkspaceLayout(int64_t rows, int64_t n, int64_t k) {
    const int64_t kb = k / DSB_FP8_BLOCK, nb = (n + DSB_FP8_BLOCK - 1) / DSB_FP8_BLOCK;
    lt = 0;
    sa = kLtWorkspaceBytes;
    sb = sa + align256(static_cast<size_t>(rows * kb) * sizeof(float));
    total = sb + align256(static_cast<size_t>(nb * round4(kb)) * sizeof(float));
  }
};

// One GEMM of `rows` rows: scales converted, then cuBLASLt. Pointers are device pointers.
Status gemm_once(LtContext& ctx, int64_t rows, int64_t n, int64_t k, bool ue8m0, const uint8_t* a, const uint8_t* sa,
                 const uint8_t* b, const uint8_t* sb, void* d, uint8_t* ws, cudaStream_t stream) {
  const WorkspaceLayout w(rows, n, k);
  const int64_t kb = k / DSB_FP8_BLOCK, nb = (n + DSB_FP8_BLOCK - 1) / DSB_FP8_BLOCK;
  cublaslt::ScaleArgs s{sa, sb, ue8m0, rows, nb, kb, round4(kb), reinterpret_cast<float*>(ws + w.sa),
                        reinterpret_cast<float*>(ws + w.sb)};
  if (Status st = cublaslt::prepare_scales(s, stream); !st.ok()) return st;
  std::lock_guard<std::mutex> lock(ctx.mutex());
  Plan* plan = nullptr;
  if (Status st = ctx.plan(rows, n, k, &plan); !st.ok()) return st;
  const void* w_scale = s.sb_out;
  const void* x_scale = s.sa_out;
  DSB_LT_CHECK(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &w_scale, sizeof w_scale));
  DSB_LT_CHECK(cublasLtMatmulDescSetAttribute(plan->op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &x_scale, sizeof x_scale));
  const float alpha = 1.0f, beta = 0.0f;
  DSB_LT_CHECK(cublasLtMatmul(ctx.handle(), plan->op, &alpha, b, plan->la, a, plan->lb, &beta, d, plan->ld, d, plan->ld,
                              &plan->algo, ws + w.lt, kLtWorkspaceBytes, stream));
  return Status::success();
}

// What every variant requires of the device, the library and the operands.
Support common_support(dsb_dtype ab, int64_t n, const Device& device) {
  if (device.backend() != "cuda") return Support::no("needs a CUDA device");
  const Properties props = device.properties();
  const int major = compute_capability_major(props);
  if (major >= 0 && major != 9)
    return Support::no("compute capability " + compute_capability(props) +
                       ": cuBLASLt offers VEC128_32F / BLK128x128_32F scaling on 9.x (Hopper) only");
  if (cublasLtGetVersion() < kMinLtVersion)
    return Support::no("cuBLASLt " + std::to_string(cublasLtGetVersion()) + " predates block-scaled FP8 (12.9)");
  if (ab != DSB_DTYPE_E4M3FN) return Support::no(std::string(dsb_dtype_name(ab)) + " operands: wired for E4M3 x E4M3");
  if (n % 8 != 0)
    return Support::no("n = " + std::to_string(n) + ": cuBLASLt needs 16-byte aligned rows of the BF16 output (n % 8 == 0)");
  return Support::yes();
}

class Dense final : public KernelFor<dsb_gemm_fp8_blockscaled_params> {
 public:
  Dense() : KernelFor("cuda", "cublaslt") {}

 protected:
  Support supports(const dsb_gemm_fp8_blockscaled_params& p, const Device& d) const override {
    return common_support(p.ab_dtype, p.n, d);
  }
  size_t workspace_bytes(const dsb_gemm_fp8_blockscaled_params& p, const Device&) const override {
    return WorkspaceLayout(p.m, p.n, p.k).total;
  }
  Status run(const dsb_gemm_fp8_blockscaled_params& p, void* ws, Stream& stream) const override {
    if (p.m == 0) return Status::success();
    int dev = 0;
    DSB_GPU_CHECK(cudaGetDevice(&dev));
    LtContext* ctx = nullptr;
    if (Status st = LtContext::get(dev, &ctx); !st.ok()) return st;
    return gemm_once(*ctx, p.m, p.n, p.k, p.scale_dtype == DSB_DTYPE_UE8M0, static_cast<const uint8_t*>(p.a),
                     static_cast<const uint8_t*>(p.scale_a), static_cast<const uint8_t*>(p.b),
                     static_cast<const uint8_t*>(p.scale_b), p.d, static_cast<uint8_t*>(ws),
                     static_cast<cudaStream_t>(stream.native_handle()));
  }
};

// One call per group over all m_max rows: masked-off rows are computed and never read.
class Masked final : public KernelFor<dsb_gemm_fp8_grouped_masked_params> {
 public:
  Masked() : KernelFor("cuda", "cublaslt") {}

 protected:
  Support supports(const dsb_gemm_fp8_grouped_masked_params& p, const Device& d) const override {
    return common_support(p.ab_dtype, p.n, d);
  }
  size_t workspace_bytes(const dsb_gemm_fp8_grouped_masked_params& p, const Device&) const override {
    return WorkspaceLayout(p.m_max, p.n, p.k).total;  // groups run one after another on the stream
  }
  Status run(const dsb_gemm_fp8_grouped_masked_params& p, void* ws, Stream& stream) const override {
    if (p.m_max == 0 || p.num_groups == 0) return Status::success();
    int dev = 0;
    DSB_GPU_CHECK(cudaGetDevice(&dev));
    LtContext* ctx = nullptr;
    if (Status st = LtContext::get(dev, &ctx); !st.ok()) return st;
    const int64_t kb = p.k / DSB_FP8_BLOCK, nb = (p.n + DSB_FP8_BLOCK - 1) / DSB_FP8_BLOCK;
    const int64_t ss = p.scale_dtype == DSB_DTYPE_UE8M0 ? 1 : 4;
    const auto* a = static_cast<const uint8_t*>(p.a);
    const auto* sa = static_cast<const uint8_t*>(p.scale_a);
    const auto* b = static_cast<const uint8_t*>(p.b);
    const auto* sb = static_cast<const uint8_t*>(p.scale_b);
    auto* d = static_cast<uint16_t*>(p.d);
    for (int64_t g = 0; g < p.num_groups; ++g) {
      const Status st = gemm_once(*ctx, p.m_max, p.n, p.k, ss == 1, a + g * p.m_max * p.k, sa + g * p.m_max * kb * ss,
                                  b + g * p.n * p.k, sb + g * nb * kb * ss, d + g * p.m_max * p.n,
                                  static_cast<uint8_t*>(ws), static_cast<cudaStream_t>(stream.native_handle()));
      if (!st.ok()) return st;
    }
    return Status::success();
  }
};

class Contiguous final : public KernelFor<dsb_gemm_fp8_grouped_contiguous_params> {
 public:
  Contiguous() : KernelFor("cuda", "cublaslt") {}

 protected:
  Support supports(const dsb_gemm_fp8_grouped_contiguous_params&, const Device& d) const override {
    if (d.backend() != "cuda") return Support::no("needs a CUDA device");
    return Support::no("cuBLASLt 13.1 has no grouped GEMM, and the group boundaries (m_indices) are device data that a "
                       "per-group loop would have to copy to the host in the middle of the stream");
  }
  Status run(const dsb_gemm_fp8_grouped_contiguous_params&, void*, Stream&) const override {
    return Status::error(DSB_STATUS_NOT_SUPPORTED, "cuda.gemm_fp8_grouped_contiguous.cublaslt: not supported");
  }
};

}  // namespace

const Kernel& gemm_fp8_cublaslt_dense() {
  static const Dense k;
  return k;
}
const Kernel& gemm_fp8_cublaslt_masked() {
  static const Masked k;
  return k;
}
const Kernel& gemm_fp8_cublaslt_contiguous() {
  static const Contiguous k;
  return k;
}

}  // namespace dsbench::cuda
