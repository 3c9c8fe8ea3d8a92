/* Negative test plugins: the example host device with one dense-GEMM kernel that misbehaves in the
 * way FAULT_<KIND> says, or a table that is wrong in that way. Each kind is its own module
 * (tests/plugin/CMakeLists.txt). The harness must turn each into a precise, contained failure. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gemm_host.h"
#include "host_device.h"

static dsb_status faulty_run(const void* params, void* workspace, dsb_plugin_stream stream) {
#if defined(FAULT_CRASH)
  (void)params; (void)workspace; (void)stream;
  volatile int* p = NULL;
  *p = 42; /* SIGSEGV */
  return DSB_STATUS_OK;
#elif defined(FAULT_ABORT)
  (void)params; (void)workspace; (void)stream;
  abort(); /* SIGABRT */
#elif defined(FAULT_ILLEGAL)
  (void)params; (void)workspace; (void)stream;
  __builtin_trap(); /* SIGILL on x86-64 (ud2) */
#elif defined(FAULT_HANG)
  (void)params; (void)workspace; (void)stream;
  for (;;) {
    struct timespec t = {1, 0};
    nanosleep(&t, NULL);
  }
#elif defined(FAULT_WRONG)
  /* Right everywhere except one element, off by one BF16 exponent step: caught exactly there. */
  const dsb_status s = gemm_dense_run(params, workspace, stream);
  const dsb_gemm_fp8_blockscaled_params* p = (const dsb_gemm_fp8_blockscaled_params*)params;
  if (p->m > 0 && p->n > 0) ((uint16_t*)p->d)[p->n + 1 < p->m * p->n ? p->n + 1 : 0] += 0x80;
  return s;
#elif defined(FAULT_ERROR_STATUS)
  (void)params; (void)workspace; (void)stream;
  return host_device_fail(DSB_STATUS_DEVICE_ERROR, "simulated device fault: ECC error on HBM stack 3");
#else
  return gemm_dense_run(params, workspace, stream);
#endif
}

static const dsb_plugin_kernel kKernels[] = {
#if defined(FAULT_UNKNOWN_OP)
    {(dsb_op)99, "bad", gemm_supports, NULL, faulty_run},
#else
    {DSB_OP_GEMM_FP8_BLOCKSCALED, FAULT_NAME, gemm_supports, NULL, faulty_run},
#endif
};

static dsb_plugin_api g_api;

#if defined(FAULT_NO_SYMBOL)
#define INIT_NAME not_the_init_symbol
#else
#define INIT_NAME dsbench_plugin_init
#endif

DSB_PLUGIN_EXPORT const dsb_plugin_api* INIT_NAME(uint32_t host_abi_version) {
  (void)host_abi_version;
#if defined(FAULT_NULL_TABLE)
  return NULL;
#endif
#if defined(FAULT_INIT_CRASH)
  volatile int* p = NULL;
  *p = 1; /* crashes while dsbench loads it */
#endif
  g_api.abi_version = DSB_PLUGIN_ABI_VERSION;
#if defined(FAULT_ABI)
  g_api.abi_version = DSB_PLUGIN_ABI_VERSION + 1;
#endif
  g_api.struct_size = sizeof(dsb_plugin_api);
  g_api.name = "faulty_" FAULT_NAME;
  g_api.version = "0";
  host_device_fill_api(&g_api);
#if defined(FAULT_MALFORMED)
  g_api.device_count = NULL;
#endif
#if defined(FAULT_SHORT_TABLE)
  g_api.struct_size = 16;
#endif
  g_api.num_kernels = 1;
  g_api.kernels = kKernels;
  return &g_api;
}
