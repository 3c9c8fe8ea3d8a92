// Shared preamble of the x86 SIMD sets of CPU MLA decode routines (mla_decode_cpu_avx2.cpp,
// mla_decode_cpu_avx512.cpp): intrinsics, the FP8 cache layout constants, and the unroll pragma.
// Include only from inside `#if defined(__x86_64__)`.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include <immintrin.h>

#include "dsbench/numerics/bf16.hpp"
#include "kernels/cpu/mla_decode_cpu_microkernel.hpp"
#include "reference/mla_kv_fp8.hpp"

// GCC 12's AVX-512 headers start some intrinsics from _mm512_undefined_*(), which -Wuninitialized
// reports at every inlined use (GCC bug 105593, fixed in 13).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

// Register blocks live in arrays of vectors; every loop over them must unroll, or the compiler keeps
// the arrays in memory (a store per accumulator per step).
#define DSB_UNROLL _Pragma("GCC unroll 16")

namespace dsbench::cpu::mla_detail {
using ref::kMlaFp8GroupDims;
using ref::kMlaFp8Groups;
using ref::kMlaFp8NopeDims;
using ref::kMlaFp8RopeDims;
using ref::kMlaFp8RopeOffset;
}  // namespace dsbench::cpu::mla_detail
