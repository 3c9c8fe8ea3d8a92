// Portable FP8 block-scaled GEMM, the GPU counterpart of the CPU reference: one thread per output
// element, 128 threads across columns, one block row per output row. Each 128-deep K block is summed
// in FP32 and promoted with sA*sB into an FP32 accumulator (DeepGEMM's scheme), then rounded once to
// BF16. Decoding goes through a 256-entry table built on the host with the shared codec, so every
// backend decodes bit-identically. Slow by design; the fast paths live in kernels/cuda/.
#include "kernels/gpu/gemm_fp8_naive.hpp"

#include "dsbench/numerics/bf16.hpp"
#include "dsbench/numerics/fp8.hpp"
#include "kernels/gpu/gpu_portability.hpp"

namespace dsbench::gpu {
namespace {

constexpr int kThreads = 128;

struct DecodeTable {
  float v[256];
};

DecodeTable make_table(dsb_dtype ab) {
  DecodeTable t;
  for (int c = 0; c < 256; ++c) t.v[c] = fp8_decode(static_cast<uint8_t>(c), ab);
  return t;
}

// Where output row `row` reads from; valid = false for padding or masked-off rows.
struct RowSource {
  bool valid;
  int64_t group;
};

enum class Variant { kDense, kContiguous, kMasked };

struct Args {
  Variant variant;
  int64_t rows, n, k, m_max;
  int32_t num_groups;
  bool ue8m0;
  const uint8_t* a;
  const uint8_t* sa;  // bytes; element size 1 (UE8M0) or 4 (F32)
  const uint8_t* b;
  const uint8_t* sb;
  const int32_t* m_indices;
  const int32_t* masked_m;
  uint16_t* d;
};

__device__ float scale_at(const uint8_t* s, int64_t i, bool ue8m0) {
  if (ue8m0) {
    const uint8_t e = s[i];
    return e == 0xff ? __int_as_float(0x7fc00000) : ldexpf(1.0f, static_cast<int>(e) - 127);
  }
  return reinterpret_cast<const float*>(s)[i];
}

__device__ RowSource row_source(const Args& p, int64_t row) {
  switch (p.variant) {
    case Variant::kContiguous: {
      const int32_t g = p.m_indices[row];
      return {g >= 0 && g < p.num_groups, g};
    }
    case Variant::kMasked: {
      const int64_t g = row / p.m_max;
      return {row % p.m_max < p.masked_m[g], g};
    }
    default:
      return {true, 0};
  }
}

__global__ void gemm_fp8_naive_kernel(Args p, DecodeTable lut) {
  const int64_t row = blockIdx.x;
  const int64_t col = static_cast<int64_t>(blockIdx.y) * kThreads + threadIdx.x;
  if (col >= p.n) return;
  const RowSource src = row_source(p, row);
  if (!src.valid) return;  // padding / masked-off rows are not ours to write
  const int64_t kb = p.k / DSB_FP8_BLOCK, nb = (p.n + DSB_FP8_BLOCK - 1) / DSB_FP8_BLOCK;
  const int64_t ss = p.ue8m0 ? 1 : 4;
  const uint8_t* a_row = p.a + row * p.k;
  const uint8_t* b_row = p.b + (src.group * p.n + col) * p.k;
  const uint8_t* sa_row = p.sa + row * kb * ss;
  const uint8_t* sb_grp = p.sb + src.group * nb * kb * ss;
  float acc = 0.0f;
  for (int64_t blk = 0; blk < kb; ++blk) {
    float partial = 0.0f;
    for (int64_t i = blk * DSB_FP8_BLOCK; i < (blk + 1) * DSB_FP8_BLOCK; ++i) partial += lut.v[a_row[i]] * lut.v[b_row[i]];
    acc += partial * scale_at(sa_row, blk, p.ue8m0) * scale_at(sb_grp, (col / DSB_FP8_BLOCK) * kb + blk, p.ue8m0);
  }
  p.d[row * p.n + col] = bf16_from_f32(acc);
}

Status launch(const Args& args, dsb_dtype ab, void* stream) {
  if (args.k % DSB_FP8_BLOCK != 0) return Status::error(DSB_STATUS_INVALID_ARGUMENT, "k is not a multiple of 128");
  if (args.rows == 0 || args.n == 0) return Status::success();
  const int64_t col_blocks = (args.n + kThreads - 1) / kThreads;
  if (col_blocks > 65535 || args.rows > 0x7fffffff)
    return Status::error(DSB_STATUS_NOT_SUPPORTED, "naive GEMM grid limit: n <= 8388480 and rows < 2^31");
  const dim3 grid(static_cast<unsigned>(args.rows), static_cast<unsigned>(col_blocks));
  gemm_fp8_naive_kernel<<<grid, kThreads, 0, static_cast<gpuStream_t>(stream)>>>(args, make_table(ab));
  DSB_GPU_CHECK_LAUNCH();
  return Status::success();
}

const uint8_t* bytes(const void* p) { return static_cast<const uint8_t*>(p); }

}  // namespace

Status gemm_fp8_naive(const dsb_gemm_fp8_blockscaled_params& p, void* stream) {
  const Args a{Variant::kDense, p.m, p.n, p.k, 0, 1, p.scale_dtype == DSB_DTYPE_UE8M0, bytes(p.a), bytes(p.scale_a),
               bytes(p.b), bytes(p.scale_b), nullptr, nullptr, static_cast<uint16_t*>(p.d)};
  return launch(a, p.ab_dtype, stream);
}

Status gemm_fp8_naive(const dsb_gemm_fp8_grouped_contiguous_params& p, void* stream) {
  const Args a{Variant::kContiguous, p.m, p.n, p.k, 0, p.num_groups, p.scale_dtype == DSB_DTYPE_UE8M0, bytes(p.a),
               bytes(p.scale_a), bytes(p.b), bytes(p.scale_b), p.m_indices, nullptr, static_cast<uint16_t*>(p.d)};
  return launch(a, p.ab_dtype, stream);
}

Status gemm_fp8_naive(const dsb_gemm_fp8_grouped_masked_params& p, void* stream) {
  const Args a{Variant::kMasked, p.num_groups * p.m_max, p.n, p.k, p.m_max, p.num_groups,
               p.scale_dtype == DSB_DTYPE_UE8M0, bytes(p.a), bytes(p.scale_a), bytes(p.b), bytes(p.scale_b),
               nullptr, p.masked_m, static_cast<uint16_t*>(p.d)};
  return launch(a, p.ab_dtype, stream);
}

}  // namespace dsbench::gpu
