/* FP8 block-scaled GEMM on host memory, as a vendor kernel would do it on a device: FP32 partial
 * sums per 128-wide K block, promoted with both block scales into an FP32 accumulator (DeepGEMM's
 * scheme), rounded once to BF16. Its own FP8 decoder: a plugin cannot call into dsbench. */
#include "gemm_host.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "host_device.h"

/* Decodes an FP8 code of any of the four variants. */
static float fp8_to_float(uint8_t c, dsb_dtype t) {
  const int e4 = (t == DSB_DTYPE_E4M3FN || t == DSB_DTYPE_E4M3FNUZ);
  const int fnuz = (t == DSB_DTYPE_E4M3FNUZ || t == DSB_DTYPE_E5M2FNUZ);
  const int man_bits = e4 ? 3 : 2, exp_bits = e4 ? 4 : 5;
  const int bias = (e4 ? 7 : 15) + fnuz;
  const int sign = c >> 7, e = (c >> man_bits) & ((1 << exp_bits) - 1), m = c & ((1 << man_bits) - 1);
  if (fnuz && c == 0x80) return NAN;
  if (!fnuz && e4 && (c & 0x7f) == 0x7f) return NAN;
  if (!fnuz && !e4 && e == 31) return m ? NAN : (sign ? -INFINITY : INFINITY);
  const float v = e ? ldexpf((float)(m + (1 << man_bits)), e - bias - man_bits) : ldexpf((float)m, 1 - bias - man_bits);
  return sign ? -v : v;
}

static float scale_at(const void* s, int64_t i, dsb_dtype t) {
  if (t == DSB_DTYPE_UE8M0) {
    const uint8_t e = ((const uint8_t*)s)[i];
    return e == 0xff ? NAN : ldexpf(1.0f, (int)e - 127);
  }
  return ((const float*)s)[i];
}

static uint16_t float_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

void gemm_host_row(const uint8_t* a_row, const void* sa_row, const uint8_t* b, const void* sb, uint16_t* d_row,
                   int64_t n, int64_t k, dsb_dtype ab, dsb_dtype sd) {
  float lut[256];
  for (int c = 0; c < 256; ++c) lut[c] = fp8_to_float((uint8_t)c, ab);
  const int64_t kb = k / 128;
  for (int64_t col = 0; col < n; ++col) {
    const uint8_t* b_row = b + col * k;
    float acc = 0.0f;
    for (int64_t blk = 0; blk < kb; ++blk) {
      float partial = 0.0f;
      for (int64_t i = blk * 128; i < (blk + 1) * 128; ++i) partial += lut[a_row[i]] * lut[b_row[i]];
      acc += partial * scale_at(sa_row, blk, sd) * scale_at(sb, (col / 128) * kb + blk, sd);
    }
    d_row[col] = float_to_bf16(acc);
  }
}

static size_t scale_size(dsb_dtype t) { return t == DSB_DTYPE_UE8M0 ? 1 : 4; }

int gemm_supports(const void* params, int device, char* reason, size_t reason_size) {
  /* The three structs begin differently; each op's dtypes sit at known fields, so check through the
   * dense view only when the op says so. This example supports every shape and dtype. */
  (void)params;
  if (device != 0) {
    snprintf(reason, reason_size, "device %d does not exist", device);
    return 0;
  }
  return 1;
}

dsb_status gemm_dense_run(const void* params, void* workspace, dsb_plugin_stream stream) {
  (void)workspace; (void)stream;
  const dsb_gemm_fp8_blockscaled_params* p = (const dsb_gemm_fp8_blockscaled_params*)params;
  if (p->k % 128) return host_device_fail(DSB_STATUS_INVALID_ARGUMENT, "k is not a multiple of 128");
  const size_t ss = scale_size(p->scale_dtype);
  for (int64_t r = 0; r < p->m; ++r)
    gemm_host_row((const uint8_t*)p->a + r * p->k, (const uint8_t*)p->scale_a + r * (p->k / 128) * ss,
                  (const uint8_t*)p->b, p->scale_b, (uint16_t*)p->d + r * p->n, p->n, p->k, p->ab_dtype, p->scale_dtype);
  return DSB_STATUS_OK;
}

dsb_status gemm_contiguous_run(const void* params, void* workspace, dsb_plugin_stream stream) {
  (void)workspace; (void)stream;
  const dsb_gemm_fp8_grouped_contiguous_params* p = (const dsb_gemm_fp8_grouped_contiguous_params*)params;
  const size_t ss = scale_size(p->scale_dtype);
  const int64_t kb = p->k / 128, nb = (p->n + 127) / 128;
  for (int64_t r = 0; r < p->m; ++r) {
    const int32_t g = p->m_indices[r];
    if (g < 0) continue; /* padding row: not ours to write */
    if (g >= p->num_groups) return host_device_fail(DSB_STATUS_INVALID_ARGUMENT, "m_indices out of range");
    gemm_host_row((const uint8_t*)p->a + r * p->k, (const uint8_t*)p->scale_a + r * kb * ss,
                  (const uint8_t*)p->b + g * p->n * p->k, (const uint8_t*)p->scale_b + g * nb * kb * ss,
                  (uint16_t*)p->d + r * p->n, p->n, p->k, p->ab_dtype, p->scale_dtype);
  }
  return DSB_STATUS_OK;
}

dsb_status gemm_masked_run(const void* params, void* workspace, dsb_plugin_stream stream) {
  (void)workspace; (void)stream;
  const dsb_gemm_fp8_grouped_masked_params* p = (const dsb_gemm_fp8_grouped_masked_params*)params;
  const size_t ss = scale_size(p->scale_dtype);
  const int64_t kb = p->k / 128, nb = (p->n + 127) / 128;
  for (int32_t g = 0; g < p->num_groups; ++g) {
    for (int64_t i = 0; i < p->masked_m[g]; ++i) {
      const int64_t r = g * p->m_max + i;
      gemm_host_row((const uint8_t*)p->a + r * p->k, (const uint8_t*)p->scale_a + r * kb * ss,
                    (const uint8_t*)p->b + g * p->n * p->k, (const uint8_t*)p->scale_b + g * nb * kb * ss,
                    (uint16_t*)p->d + r * p->n, p->n, p->k, p->ab_dtype, p->scale_dtype);
    }
  }
  return DSB_STATUS_OK;
}
