// Host side of the sm_90a FP8 block-scaled GEMM (gemm_fp8_sm90.hpp): what each variant refuses and
// why, the TMA tensor maps (cuTensorMapEncodeTiled, reached through the runtime's driver entry
// points: libcuda is never linked), the persistent grid and the launch.
#include <cuda.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <mutex>
#include <string>

#include "kernels/cuda/cuda_host_util.hpp"
#include "kernels/cuda/gemm_fp8_sm90.hpp"
#include "kernels/gpu/gpu_portability.hpp"

namespace dsbench::cuda {
namespace {

using sm90::Plan;
using sm90::TmaSpec2D;

// cuTensorMapEncodeTiled's signature (CUDA 12.0 driver API), called through the entry point.
using EncodeTiledFn = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                                   const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                                   CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
using GetErrorNameFn = CUresult (*)(CUresult, const char**);

struct DriverFns {
  EncodeTiledFn encode = nullptr;
  GetErrorNameFn error_name = nullptr;
  Status status;
};

const DriverFns& driver_fns() {
  static const DriverFns fns = [] {
    DriverFns f;
    cudaDriverEntryPointQueryResult q = cudaDriverEntryPointSymbolNotFound;
    void* fn = nullptr;
    const cudaError_t e = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000, cudaEnableDefault, &q);
    if (e != cudaSuccess) {
      f.status = gpu::status_from(e, "cudaGetDriverEntryPointByVersion(\"cuTensorMapEncodeTiled\")", __FILE__, __LINE__);
      return f;
    }
    if (q != cudaDriverEntryPointSuccess || fn == nullptr) {
      f.status = Status::error(DSB_STATUS_NOT_SUPPORTED, "the driver has no cuTensorMapEncodeTiled (CUDA 12.0 or later needed)");
      return f;
    }
    f.encode = reinterpret_cast<EncodeTiledFn>(fn);
    void* en = nullptr;
    if (cudaGetDriverEntryPointByVersion("cuGetErrorName", &en, 12000, cudaEnableDefault, &q) == cudaSuccess &&
        q == cudaDriverEntryPointSuccess)
      f.error_name = reinterpret_cast<GetErrorNameFn>(en);
    f.status = Status::success();
    return f;
  }();
  return fns;
}

// A [outer, inner] FP8 matrix as bytes, 128 x 128 boxes, 128-byte swizzle, zero fill out of bounds.
Status encode(const TmaSpec2D& s, CUtensorMap* out, const char* what) {
  const DriverFns& f = driver_fns();
  if (!f.status.ok()) return f.status;
  if (reinterpret_cast<uintptr_t>(s.base) % 16 != 0)
    return Status::error(DSB_STATUS_NOT_SUPPORTED, std::string(what) + " is not 16-byte aligned: TMA needs it");
  const cuuint64_t dims[2] = {s.inner, s.outer};
  const cuuint64_t strides[1] = {s.row_stride};
  const cuuint32_t box[2] = {s.box_inner, s.box_outer};
  const cuuint32_t elem[2] = {1, 1};
  const CUresult r = f.encode(out, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, const_cast<void*>(s.base), dims, strides, box, elem,
                              CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                              CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS) {
    const char* name = nullptr;
    if (f.error_name == nullptr || f.error_name(r, &name) != CUDA_SUCCESS || name == nullptr) name = "CUresult";
    return Status::error(DSB_STATUS_DEVICE_ERROR, std::string("cuTensorMapEncodeTiled(") + what + ") failed at " +
                                                      __FILE__ + ":" + std::to_string(__LINE__) + ": " + name + " (" +
                                                      std::to_string(static_cast<int>(r)) + ")");
  }
  return Status::success();
}

int sm_count_of(const Device& device) { return static_cast<int>(std::max<int64_t>(1, int_property(device.properties(), "sm_count"))); }

// The plan of run(): the same SM count as workspace_bytes() saw (the current device's).
template <class P>
Status run_params(const P& p, void* workspace, Stream& stream) {
  int dev = 0, sms = 0;
  DSB_GPU_CHECK(cudaGetDevice(&dev));
  DSB_GPU_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  sms = std::max(sms, 1);
  Plan plan = sm90::make_plan(p, sms);
  if (plan.args.num_tiles == 0 || plan.args.rows_a == 0) return Status::success();
  if (Status st = encode(plan.a, &plan.args.tma_a, "a"); !st.ok()) return st;
  if (Status st = encode(plan.b, &plan.args.tma_b, "b"); !st.ok()) return st;
  const cudaStream_t s = static_cast<cudaStream_t>(stream.native_handle());
  if (plan.workspace_bytes > 0 && workspace == nullptr) plan = sm90::make_plan(p, 1);  // no workspace: no split
  if (plan.workspace_bytes > 0) {
    DSB_GPU_CHECK(cudaMemsetAsync(workspace, 0, plan.workspace_bytes, s));  // sums and tile counters
    sm90::set_workspace(plan, workspace);
  }
  const int grid = static_cast<int>(std::min<int64_t>(plan.units(), sms));
  return sm90::launch(plan.args, grid, s);
}

// The device: compute capability 9.0 exactly (sm_90a code runs nowhere else) and the shared memory.
Support device_support(const Device& device) {
  if (device.backend() != "cuda") return Support::no("needs a CUDA device");
  const Properties props = device.properties();
  const std::string cc = compute_capability(props);
  if (cc != "?" && cc != "9.0")
    return Support::no("compute capability " + cc + ": the kernel is sm_90a code (wgmma, TMA), which runs on 9.0 only");
  const int64_t optin = int_property(props, "shared_memory_per_block_optin_bytes");
  if (optin >= 0 && optin < sm90::smem_bytes())
    return Support::no("needs " + std::to_string(sm90::smem_bytes()) + " bytes of shared memory per block, the device gives " +
                       std::to_string(optin));
  return Support::yes();
}

Support shape_support(const std::string& why) { return why.empty() ? Support::yes() : Support::no(why); }

class Dense final : public KernelFor<dsb_gemm_fp8_blockscaled_params> {
 public:
  Dense() : KernelFor("cuda", "sm90") {}

 protected:
  Support supports(const dsb_gemm_fp8_blockscaled_params& p, const Device& d) const override {
    if (Support s = device_support(d); !s.ok) return s;
    return shape_support(sm90::refusal(p.ab_dtype, p.scale_dtype, p.m, p.n, p.n, p.k, 1));
  }
  size_t workspace_bytes(const dsb_gemm_fp8_blockscaled_params& p, const Device& d) const override {
    return sm90::make_plan(p, sm_count_of(d)).workspace_bytes;
  }
  Status run(const dsb_gemm_fp8_blockscaled_params& p, void* ws, Stream& stream) const override {
    if (const std::string why = sm90::refusal(p.ab_dtype, p.scale_dtype, p.m, p.n, p.n, p.k, 1); !why.empty())
      return Status::error(DSB_STATUS_NOT_SUPPORTED, why);
    return run_params(p, ws, stream);
  }
};

class Contiguous final : public KernelFor<dsb_gemm_fp8_grouped_contiguous_params> {
 public:
  Contiguous() : KernelFor("cuda", "sm90") {}

 protected:
  static std::string why(const dsb_gemm_fp8_grouped_contiguous_params& p) {
    return sm90::refusal(p.ab_dtype, p.scale_dtype, p.m, int64_t{p.num_groups} * p.n, p.n, p.k, p.num_groups);
  }
  Support supports(const dsb_gemm_fp8_grouped_contiguous_params& p, const Device& d) const override {
    if (Support s = device_support(d); !s.ok) return s;
    return shape_support(why(p));
  }
  Status run(const dsb_gemm_fp8_grouped_contiguous_params& p, void* ws, Stream& stream) const override {
    if (const std::string w = why(p); !w.empty()) return Status::error(DSB_STATUS_NOT_SUPPORTED, w);
    if (p.num_groups == 0) return Status::success();
    return run_params(p, ws, stream);  // never split: no workspace
  }
};

class Masked final : public KernelFor<dsb_gemm_fp8_grouped_masked_params> {
 public:
  Masked() : KernelFor("cuda", "sm90") {}

 protected:
  static std::string why(const dsb_gemm_fp8_grouped_masked_params& p) {
    return sm90::refusal(p.ab_dtype, p.scale_dtype, int64_t{p.num_groups} * p.m_max, int64_t{p.num_groups} * p.n, p.n, p.k,
                         p.num_groups);
  }
  Support supports(const dsb_gemm_fp8_grouped_masked_params& p, const Device& d) const override {
    if (Support s = device_support(d); !s.ok) return s;
    return shape_support(why(p));
  }
  size_t workspace_bytes(const dsb_gemm_fp8_grouped_masked_params& p, const Device& d) const override {
    return sm90::make_plan(p, sm_count_of(d)).workspace_bytes;
  }
  Status run(const dsb_gemm_fp8_grouped_masked_params& p, void* ws, Stream& stream) const override {
    if (const std::string w = why(p); !w.empty()) return Status::error(DSB_STATUS_NOT_SUPPORTED, w);
    return run_params(p, ws, stream);
  }
};

}  // namespace

const Kernel& gemm_fp8_sm90_dense() {
  static const Dense k;
  return k;
}
const Kernel& gemm_fp8_sm90_contiguous() {
  static const Contiguous k;
  return k;
}
const Kernel& gemm_fp8_sm90_masked() {
  static const Masked k;
  return k;
}

}  // namespace dsbench::cuda
