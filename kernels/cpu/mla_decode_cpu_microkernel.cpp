// CPU MLA decode vector routines: the portable set, and the choice of the fastest set this CPU runs
// (AVX-512 with BF16 dot products, AVX-512, AVX2/FMA: mla_decode_cpu_avx512.cpp,
// mla_decode_cpu_avx2.cpp, compiled with target attributes). Each routine works on one chunk of
// keys; the driver (mla_decode_cpu.cpp) never hands them a slot past a sequence's length.
#include "kernels/cpu/mla_decode_cpu_microkernel.hpp"

#include <atomic>
#include <cmath>
#include <cstring>

#include "dsbench/numerics/bf16.hpp"
#include "reference/mla_kv_fp8.hpp"

namespace dsbench::cpu::mla_detail {
namespace {

using ref::kMlaFp8GroupDims;
using ref::kMlaFp8Groups;
using ref::kMlaFp8NopeDims;
using ref::kMlaFp8RopeDims;
using ref::kMlaFp8RopeOffset;

inline float to_f32(float x) { return x; }
inline float to_f32(uint16_t h) { return bf16_to_f32(h); }

void bf16_to_f32_portable(const uint16_t* src, int64_t ld_src, int n, int len, float* dst, int64_t ld_dst) {
  for (int j = 0; j < n; ++j)
    for (int d = 0; d < len; ++d) dst[j * ld_dst + d] = bf16_to_f32(src[j * ld_src + d]);
}

void fp8_to_f32_portable(const uint8_t* src, int64_t ld_src, int n, float* dst, int64_t ld_dst) {
  const float* e4m3 = ref::mla_fp8_code_table();
  for (int j = 0; j < n; ++j) {
    const uint8_t* tok = src + j * ld_src;
    float* out = dst + j * ld_dst;
    for (int g = 0; g < kMlaFp8Groups; ++g) {
      const float s = fp8_token_scale(tok, g);
      for (int d = g * kMlaFp8GroupDims; d < (g + 1) * kMlaFp8GroupDims; ++d) out[d] = e4m3[tok[d]] * s;
    }
    for (int d = 0; d < kMlaFp8RopeDims; ++d) {
      uint16_t h;
      std::memcpy(&h, tok + kMlaFp8RopeOffset + 2 * d, 2);
      out[kMlaFp8NopeDims + d] = bf16_to_f32(h);
    }
  }
}

template <class T>
void qk_portable(const float* q, int64_t ldq, int rows, const T* k, int64_t ldk, int n, int d, float* s, int64_t lds) {
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < n; ++j) {
      float acc = 0.0f;
      for (int c = 0; c < d; ++c) acc += q[r * ldq + c] * to_f32(k[j * ldk + c]);
      s[r * lds + j] = acc;
    }
}

template <class T>
void pv_portable(const float* p, int64_t ldp, int rows, int n, const T* v, int64_t ldv, int dv, float* o, int64_t ldo) {
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < n; ++j) {
      const float w = p[r * ldp + j];
      for (int c = 0; c < dv; ++c) o[r * ldo + c] += w * to_f32(v[j * ldv + c]);
    }
}

float exp2_sum_portable(float* x, int n, float m) {
  float sum = 0.0f;
  for (int j = 0; j < n; ++j) sum += (x[j] = std::exp2(x[j] - m));
  return sum;
}

}  // namespace

const MlaKernels kMlaPortable{"portable", bf16_to_f32_portable, fp8_to_f32_portable, qk_portable<float>,
                              qk_portable<uint16_t>, nullptr, pv_portable<float>, pv_portable<uint16_t>,
                              exp2_sum_portable};

namespace {

#if defined(__x86_64__)
bool has_avx512() {
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
}
#endif

std::atomic<const MlaKernels*> g_forced{nullptr};

}  // namespace

std::vector<const MlaKernels*> mla_kernel_sets() {
  std::vector<const MlaKernels*> v;
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (has_avx512() && __builtin_cpu_supports("avx512bf16")) v.push_back(&kMlaAvx512Bf16);
  if (has_avx512()) v.push_back(&kMlaAvx512);
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) v.push_back(&kMlaAvx2);
#endif
  v.push_back(&kMlaPortable);
  return v;
}

const MlaKernels& mla_kernels() {
  if (const MlaKernels* k = g_forced.load(std::memory_order_acquire)) return *k;
  static const MlaKernels* best = mla_kernel_sets().front();
  return *best;
}

void force_mla_kernels(const MlaKernels* k) { g_forced.store(k, std::memory_order_release); }

}  // namespace dsbench::cpu::mla_detail
