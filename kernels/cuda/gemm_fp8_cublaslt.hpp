// FP8 block-scaled GEMM through cuBLASLt's Hopper block-scaled modes (VEC128_32F activations,
// BLK128x128_32F weights; cuBLASLt >= 12.9, compute capability 9.x): the vendor library a DeepGEMM-
// style kernel is measured against. Dense, and grouped masked as one cuBLASLt call per group over
// all m_max rows (masked-off rows computed and discarded: cuBLASLt 13.1 has no grouped GEMM). Grouped
// contiguous is refused: its group boundaries are device data (m_indices) that a per-group loop would
// have to copy to the host mid-stream.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dsbench/kernel.hpp"

namespace dsbench::cuda {

namespace cublaslt {
// The scales of one GEMM, to be converted to FP32 in cuBLASLt's layouts (gemm_fp8_cublaslt_scales.cuh).
struct ScaleArgs {
  const uint8_t* sa;  // [rows, kb] FP32 or UE8M0: the activations' 1x128 scales
  const uint8_t* sb;  // [nb, kb]: the weights' 128x128 scales
  bool ue8m0;
  int64_t rows, nb, kb, l4;  // l4 = kb rounded up to a multiple of 4
  float* sa_out;      // [kb, rows]
  float* sb_out;      // [nb, l4]
};
// Enqueues the scale conversion into the layouts cuBLASLt reads (gemm_fp8_cublaslt_scales.cuh).
Status prepare_scales(const ScaleArgs& a, void* stream);
}  // namespace cublaslt

const Kernel& gemm_fp8_cublaslt_dense();
const Kernel& gemm_fp8_cublaslt_masked();
const Kernel& gemm_fp8_cublaslt_contiguous();

}  // namespace dsbench::cuda
