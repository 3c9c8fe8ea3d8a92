/* dsbench contract: element types and status codes shared by the harness, the reference, built-in
 * kernels and (later) vendor plugins. Plain C so that it can cross a shared-library boundary. */
#ifndef DSBENCH_DTYPE_H
#define DSBENCH_DTYPE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Storage types. FP8 and BF16 are carried as raw bits (uint8_t / uint16_t); the codecs live in
 * include/dsbench/numerics/. Values are part of the ABI: append only. */
typedef enum dsb_dtype {
  DSB_DTYPE_INVALID = 0,
  DSB_DTYPE_F32 = 1,
  DSB_DTYPE_BF16 = 2,
  DSB_DTYPE_F16 = 3,
  DSB_DTYPE_E4M3FN = 4,   /* OCP FP8: bias 7, max 448, NaN 0x7f/0xff, no inf */
  DSB_DTYPE_E5M2 = 5,     /* OCP FP8: bias 15, max 57344, IEEE inf/NaN */
  DSB_DTYPE_E4M3FNUZ = 6, /* AMD gfx94x FP8: bias 8, max 240, single NaN 0x80, no -0 */
  DSB_DTYPE_E5M2FNUZ = 7, /* AMD gfx94x FP8: bias 16, max 57344, single NaN 0x80, no -0 */
  DSB_DTYPE_UE8M0 = 8,    /* exponent-only scale 2^(e-127), 0xff = NaN */
  DSB_DTYPE_I32 = 9,
  DSB_DTYPE_I64 = 10
} dsb_dtype;

/* Bytes per element; 0 for DSB_DTYPE_INVALID or an unknown value. */
static inline size_t dsb_dtype_size(dsb_dtype t) {
  switch (t) {
    case DSB_DTYPE_F32: case DSB_DTYPE_I32: return 4;
    case DSB_DTYPE_BF16: case DSB_DTYPE_F16: return 2;
    case DSB_DTYPE_E4M3FN: case DSB_DTYPE_E5M2: case DSB_DTYPE_E4M3FNUZ: case DSB_DTYPE_E5M2FNUZ:
    case DSB_DTYPE_UE8M0: return 1;
    case DSB_DTYPE_I64: return 8;
    default: return 0;
  }
}

static inline int dsb_dtype_is_fp8(dsb_dtype t) {
  return t == DSB_DTYPE_E4M3FN || t == DSB_DTYPE_E5M2 || t == DSB_DTYPE_E4M3FNUZ ||
         t == DSB_DTYPE_E5M2FNUZ;
}

/* Canonical lower-case names used by suites, scorecards and .npy sidecars ("e4m3fn", "bf16", ...). */
const char* dsb_dtype_name(dsb_dtype t);
/* Inverse of dsb_dtype_name; DSB_DTYPE_INVALID for an unknown name. */
dsb_dtype dsb_dtype_from_name(const char* name);

/* Outcome of a backend or kernel call. Never a failure by itself: DSB_STATUS_NOT_SUPPORTED becomes the
 * `not_supported` disposition. Values are part of the ABI: append only. */
typedef enum dsb_status {
  DSB_STATUS_OK = 0,
  DSB_STATUS_INVALID_ARGUMENT = 1, /* params violate the op's contract */
  DSB_STATUS_NOT_SUPPORTED = 2,    /* valid params this kernel/device cannot run */
  DSB_STATUS_OUT_OF_MEMORY = 3,
  DSB_STATUS_DEVICE_ERROR = 4,     /* a runtime/driver call failed */
  DSB_STATUS_TIMEOUT = 5,
  DSB_STATUS_INTERNAL = 6
} dsb_status;

const char* dsb_status_name(dsb_status s);

#ifdef __cplusplus
}
#endif
#endif /* DSBENCH_DTYPE_H */
