/* The example plugin's FP8 block-scaled GEMM kernels (all three variants), in C. */
#ifndef DSB_EXAMPLE_GEMM_HOST_H
#define DSB_EXAMPLE_GEMM_HOST_H

#include "dsbench/plugin.h"

int gemm_supports(const void* params, int device, char* reason, size_t reason_size);
dsb_status gemm_dense_run(const void* params, void* workspace, dsb_plugin_stream stream);
dsb_status gemm_contiguous_run(const void* params, void* workspace, dsb_plugin_stream stream);
dsb_status gemm_masked_run(const void* params, void* workspace, dsb_plugin_stream stream);

/* One output row: d[col] for col in [0, n), a_row [k] codes, sa_row [k/128] scales, b [n, k],
 * sb [ceil(n/128), k/128]. Exposed so test plugins can wrap it. */
void gemm_host_row(const uint8_t* a_row, const void* sa_row, const uint8_t* b, const void* sb, uint16_t* d_row,
                   int64_t n, int64_t k, dsb_dtype ab, dsb_dtype sd);

#endif
