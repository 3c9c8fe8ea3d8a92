// Portable MLA decode, the GPU counterpart of the FP64 reference: one block of kThreads per query row
// (sequence, query, head). Keys are taken kThreads at a time; each thread forms one key's score in
// FP32 (its own serial dot product over d_qk), the block agrees on the running maximum through shared
// memory, and each thread accumulates its own output dims with an online softmax. Slow by design (a
// thread walks a whole key; nothing is shared between heads): its job is to be right on every shape
// and dtype, page size and head count, so that the fast kernels have a GPU-side witness. No warp-level
// operations, so the wave size (32 or 64) does not matter.
#include "kernels/gpu/mla_decode_naive.hpp"

#include "kernels/gpu/gpu_portability.hpp"
#include "kernels/gpu/mla_decode_naive_kernel.cuh"

namespace dsbench::gpu {
using namespace mla_naive;

Status mla_decode_naive(const dsb_mla_decode_params& p, void* stream) {
  if (p.d_v > kMlaNaiveMaxDv || p.d_qk > kMlaNaiveMaxDqk)
    return Status::error(DSB_STATUS_NOT_SUPPORTED, "naive MLA decode: d_v <= 1024 and d_qk <= 4096");
  const int64_t rows = static_cast<int64_t>(p.b) * p.s_q * p.h_q;
  if (rows == 0) return Status::success();
  if (rows > 0x7fffffff) return Status::error(DSB_STATUS_NOT_SUPPORTED, "naive MLA decode: b*s_q*h_q >= 2^31 rows");
  mla_decode_naive_kernel<<<static_cast<unsigned>(rows), kThreads, smem_bytes(p), static_cast<gpuStream_t>(stream)>>>(
      make_args(p), make_table());
  DSB_GPU_CHECK_LAUNCH();
  return Status::success();
}

}  // namespace dsbench::gpu
