/* The example vendor plugin: a pretend accelerator on host memory running dsbench's FP8 GEMM ops
 * through the C ABI only. Build: examples/plugin_host/CMakeLists.txt; run:
 *   dsbench run --plugin build/examples/plugin_host/libdsbench_plugin_host.so --backend host_example */
#include "gemm_host.h"
#include "host_device.h"

static const dsb_plugin_kernel kKernels[] = {
    {DSB_OP_GEMM_FP8_BLOCKSCALED, "blockpromote", gemm_supports, NULL, gemm_dense_run},
    {DSB_OP_GEMM_FP8_GROUPED_CONTIGUOUS, "blockpromote", gemm_supports, NULL, gemm_contiguous_run},
    {DSB_OP_GEMM_FP8_GROUPED_MASKED, "blockpromote", gemm_supports, NULL, gemm_masked_run},
};

static dsb_plugin_api g_api;

DSB_PLUGIN_EXPORT const dsb_plugin_api* dsbench_plugin_init(uint32_t host_abi_version) {
  if (host_abi_version != DSB_PLUGIN_ABI_VERSION) return NULL;
  g_api.abi_version = DSB_PLUGIN_ABI_VERSION;
  g_api.struct_size = sizeof(dsb_plugin_api);
  g_api.name = "host_example";
  g_api.version = "1.0.0";
  host_device_fill_api(&g_api);
  g_api.num_kernels = (int32_t)(sizeof kKernels / sizeof kKernels[0]);
  g_api.kernels = kKernels;
  return &g_api;
}
