// The CUDA backend's kernels, one line each. Portable kernels come from kernels/gpu/ (shared with
// HIP, kernel objects in kernels/gpu/gpu_kernels.hpp); CUDA-only fast paths live in kernels/cuda/
// (split-KV MLA, cuBLASLt block-scaled GEMM, the hand-written sm_90a GEMM).
#include <string>

#include "kernels/common/all_to_all_comm_kernel.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/cuda_host_util.hpp"
#include "kernels/cuda/gemm_fp8_cublaslt.hpp"
#include "kernels/cuda/gemm_fp8_sm90.hpp"
#include "kernels/cuda/mla_decode_splitkv.hpp"
#include "kernels/gpu/gpu_kernels.hpp"

namespace dsbench::cuda {
namespace {


// MLA decode, split-KV with tensor cores and a combine kernel (kernels/cuda/mla_decode_splitkv.cu).
// Times include the combine kernel.
class MlaDecodeSplitKv final : public KernelFor<dsb_mla_decode_params> {
 public:
  MlaDecodeSplitKv() : KernelFor<dsb_mla_decode_params>("cuda", "splitkv") {}

 protected:
  Support supports(const dsb_mla_decode_params& p, const Device& device) const override {
    if (device.backend() != "cuda") return Support::no("needs a CUDA device");
    const Properties props = device.properties();  // one query: each property is a driver call
    const int major = compute_capability_major(props);
    if (major >= 0 && major < 8)
      return Support::no("compute capability " + compute_capability(props) + ": mma.sync on BF16 needs 8.0");
    const int64_t optin = int_property(props, "shared_memory_per_block_optin_bytes");
    if (optin >= 0 && static_cast<size_t>(optin) < cuda::mla_splitkv_smem_bytes())
      return Support::no("needs " + std::to_string(cuda::mla_splitkv_smem_bytes()) + " bytes of shared memory per block, the device gives " +
                         std::to_string(optin));
    if (const std::string why = cuda::mla_splitkv_refusal(p); !why.empty()) return Support::no(why);
    return Support::yes();
  }
  size_t workspace_bytes(const dsb_mla_decode_params& p, const Device& device) const override {
    return cuda::mla_splitkv_plan(p, static_cast<int>(int_property(device.properties(), "sm_count"))).workspace_bytes;
  }
  Status run(const dsb_mla_decode_params& p, void* workspace, Stream& stream) const override {
    return cuda::mla_decode_splitkv(p, workspace, stream.native_handle());
  }
};

const gpu::NaiveGemmKernel<dsb_gemm_fp8_blockscaled_params> kGemmNaive("cuda");
const gpu::NaiveGemmKernel<dsb_gemm_fp8_grouped_contiguous_params> kGemmContNaive("cuda");
const gpu::NaiveGemmKernel<dsb_gemm_fp8_grouped_masked_params> kGemmMaskNaive("cuda");
const AllToAllCommKernel kAllToAll("cuda");  // NCCL: kernels/cuda/nccl_communicator.cpp
const gpu::MoeRouteWarpKernel kMoeRouteWarp("cuda");
const gpu::MlaDecodeNaiveKernel kMlaNaive("cuda");
const gpu::MoeDispatchGpuKernel kMoeDispatch("cuda");
const gpu::MoeCombineGpuKernel kMoeCombine("cuda");
const gpu::MoeLayerGpuKernel kMoeLayer("cuda");
// The same chain over the Hopper GEMMs: the layer as a DeepSeek-V3 inference path runs it.
const gpu::MoeLayerGpuKernel kMoeLayerSm90("cuda", "sm90",
                                           {&gemm_fp8_sm90_dense(), &gemm_fp8_sm90_contiguous(), &gemm_fp8_sm90_masked()});
const MlaDecodeSplitKv kMlaSplitKv;

}  // namespace

std::vector<const Kernel*> cuda_kernels() {
  return {&kGemmNaive,
          &kGemmContNaive,
          &kGemmMaskNaive,
          &gemm_fp8_cublaslt_dense(),
          &gemm_fp8_cublaslt_contiguous(),
          &gemm_fp8_cublaslt_masked(),
          &gemm_fp8_sm90_dense(),
          &gemm_fp8_sm90_contiguous(),
          &gemm_fp8_sm90_masked(),
          &kAllToAll,
          &kMoeRouteWarp,
          &kMlaNaive,
          &kMlaSplitKv,
          &kMoeDispatch,
          &kMoeCombine,
          &kMoeLayer,
          &kMoeLayerSm90};
}

}  // namespace dsbench::cuda
