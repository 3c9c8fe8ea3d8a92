// Internal to the CPU FP8 GEMM: the packed layouts shared by the driver (gemm_fp8_cpu.cpp) and the
// packing / micro-kernel routines (gemm_fp8_cpu_microkernel.cpp), plus the table that picks the
// AVX2/FMA or the portable routines once, at run time.
#pragma once

#include <cstdint>

#include "dsbench/dtype.h"

namespace dsbench::cpu::gemm_detail {

constexpr int kMr = 6;              // rows of the register block: 6 x 2 accumulators + 3 = 15 ymm
constexpr int kNr = 16;             // columns of the register block: two 8-float vectors
constexpr int kKc = 256;            // K per packing step (two scale blocks); 16 KiB of packed B
constexpr int kAStride = kKc + 16;  // floats between packed A rows: +64 B avoids L1 set aliasing

// Micro-kernel flags: the first K step starts from zero instead of loading the FP32 accumulator
// tile; the last one rounds to BF16 and stores straight into d (so short K never touches it).
constexpr int kFirst = 1;
constexpr int kLast = 2;

// Packs rows x kc FP8 codes of A (a at (row0, k0), lda bytes per row) into ap[r * kAStride + k] as
// FP32 with each row's 128-block scale folded in. sa points at the scale of (row0, k0 / 128) and
// holds ldsa scales per row.
using PackAFn = void (*)(const uint8_t* a, int64_t lda, const void* sa, int64_t ldsa, dsb_dtype ab_dtype,
                         dsb_dtype scale_dtype, int rows, int kc, float* ap);

// Packs rows (<= kNr) x kc codes of B (b at (col0, k0), ldb bytes per row) transposed into
// bp[k * kNr + j], zero beyond rows. sb points at the strip's scale for k0 / 128 (consecutive K
// blocks are consecutive scales: one 128-column block of B covers the whole strip).
using PackBFn = void (*)(const uint8_t* b, int64_t ldb, const void* sb, dsb_dtype ab_dtype,
                         dsb_dtype scale_dtype, int rows, int kc, float* bp);

// c[mr x kNr] (+)= ap-panel x bp-strip over kc; see kFirst / kLast. The FP32 tile c has row stride
// ldc; on kLast the first nv columns of mr rows go to d (row stride ldd) as BF16 (RNE).
using MicroFn = void (*)(int kc, const float* ap, const float* bp, float* c, int64_t ldc, int flags,
                         uint16_t* d, int64_t ldd, int nv);

// Few-row path (decode, M <= kDotRows): d[r, j] = BF16(sum over all k of A[r, k] * B[j, k]) for
// r < rows, j < cols (<= kDotCols), straight from the FP8 codes of B without packing them. ap holds
// A packed for every K step: row r of step s at ap + (s * rows + r) * kAStride. b: cols rows of k
// codes, ldb bytes apart, all in one 128-row block of B whose k/128 scales start at sb.
// prefetch_next: the kDotCols rows after these exist and will be read next.
constexpr int kDotRows = 2;
constexpr int kDotCols = 4;
using DotFn = void (*)(int rows, int64_t k, const float* ap, const uint8_t* b, int64_t ldb, const void* sb,
                       dsb_dtype ab_dtype, dsb_dtype scale_dtype, int cols, uint16_t* d, int64_t ldd,
                       bool prefetch_next);

struct GemmKernels {
  const char* name;         // "avx2" or "portable", for benchmarks and tests
  PackAFn pack_a;
  PackBFn pack_b;
  MicroFn micro[kMr + 1];   // indexed by the rows in the panel, 1..kMr
  DotFn dot;
};

// The best routines for this CPU, chosen once; portable() is the fallback, kept callable so tests
// can check both paths agree.
const GemmKernels& gemm_kernels();
const GemmKernels& gemm_kernels_portable();

// Tests only: makes gemm_kernels() return k (nullptr restores the automatic choice).
void force_gemm_kernels(const GemmKernels* k);

}  // namespace dsbench::cpu::gemm_detail
