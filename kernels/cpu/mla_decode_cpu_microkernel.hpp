// Internal to the CPU MLA decode kernel: the vector routines the driver (mla_decode_cpu.cpp) calls on
// one chunk of up to kChunk keys, in four sets picked once at run time: AVX-512 with BF16 dot
// products and AVX-512 (mla_decode_cpu_avx512.cpp), AVX2/FMA (mla_decode_cpu_avx2.cpp), and portable
// C++ (mla_decode_cpu_microkernel.cpp; kept callable so tests can compare every set).
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

namespace dsbench::cpu::mla_detail {

constexpr int kChunk = 64;  // keys per step: a page of 64, or a piece of a larger or smaller page

// Keys and values come either straight from a BF16 page (converted in registers, never copied) or,
// for the FP8 cache, from the chunk dequantised into an FP32 buffer.
struct MlaKernels {
  const char* name;  // "avx512bf16", "avx512", "avx2" or "portable"
  // dst[j * ld_dst + d] = FP32 of the BF16 src[j * ld_src + d], j < n, d < len.
  void (*bf16_to_f32)(const uint16_t* src, int64_t ld_src, int n, int len, float* dst, int64_t ld_dst);
  // n 656-byte FP8 tokens, ld_src bytes apart, dequantised: dst[j * ld_dst + d], d < 576.
  void (*fp8_to_f32)(const uint8_t* src, int64_t ld_src, int n, float* dst, int64_t ld_dst);
  // s[r * lds + j] = sum_{c < d} q[r * ldq + c] * k[j * ldk + c] in FP32, r < rows, j < n; q FP32,
  // k FP32 or BF16.
  void (*qk_f32)(const float* q, int64_t ldq, int rows, const float* k, int64_t ldk, int n, int d, float* s,
                 int64_t lds);
  void (*qk_f32_bf16)(const float* q, int64_t ldq, int rows, const uint16_t* k, int64_t ldk, int n, int d,
                      float* s, int64_t lds);
  // The same with BF16 q (exact products, FP32 sums). nullptr without AVX-512 BF16.
  void (*qk_bf16)(const uint16_t* q, int64_t ldq, int rows, const uint16_t* k, int64_t ldk, int n, int d, float* s,
                  int64_t lds);
  // o[r * ldo + c] += sum_{j < n} p[r * ldp + j] * v[j * ldv + c], r < rows, c < dv; v FP32 or BF16.
  void (*pv_f32)(const float* p, int64_t ldp, int rows, int n, const float* v, int64_t ldv, int dv, float* o,
                 int64_t ldo);
  void (*pv_bf16)(const float* p, int64_t ldp, int rows, int n, const uint16_t* v, int64_t ldv, int dv, float* o,
                  int64_t ldo);
  // x[j] = 2^(x[j] - m) for j < n (relative error < 2e-7); returns their sum. x[j] <= m.
  float (*exp2_sum)(float* x, int n, float m);
};

// The vector sets (mla_decode_cpu_avx2.cpp, mla_decode_cpu_avx512.cpp) and the portable one.
extern const MlaKernels kMlaPortable;
#if defined(__x86_64__)
extern const MlaKernels kMlaAvx2, kMlaAvx512, kMlaAvx512Bf16;
#endif

// Shared by the sets: scale g of a 656-byte FP8 token (bytes 512 + 4g), and Cephes' exp2f
// polynomial, 2^f = 1 + f * P(f) on [-0.5, 0.5] with relative error < 1.7e-7.
inline float fp8_token_scale(const uint8_t* token, int g) {
  float s;
  std::memcpy(&s, token + 512 + 4 * g, 4);
  return s;
}
constexpr float kExp2P[6] = {1.535336188319500e-4f, 1.339887440266574e-3f, 9.618437357674640e-3f,
                             5.550332471162809e-2f, 2.402264791363012e-1f, 6.931472028550421e-1f};

// The fastest set this CPU runs, chosen once (or what force_mla_kernels set).
const MlaKernels& mla_kernels();
// Every set this CPU can run, fastest first; portable is always last.
std::vector<const MlaKernels*> mla_kernel_sets();
// Tests and benchmarks only: makes mla_kernels() return k (nullptr restores the automatic choice).
void force_mla_kernels(const MlaKernels* k);

}  // namespace dsbench::cpu::mla_detail
