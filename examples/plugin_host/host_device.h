/* A pretend accelerator whose "device memory" is host memory: the device, memory, stream and event
 * half of a dsbench plugin (include/dsbench/plugin.h), written against the C ABI only. A real vendor
 * replaces each function with its runtime's (aclrtMalloc, cnrtMemcpy, ...). */
#ifndef DSB_EXAMPLE_HOST_DEVICE_H
#define DSB_EXAMPLE_HOST_DEVICE_H

#include "dsbench/plugin.h"

/* Fills the device/memory/stream/event entries of api (everything except name, version, kernels). */
void host_device_fill_api(dsb_plugin_api* api);

/* Records an error for last_error() and returns status. */
dsb_status host_device_fail(dsb_status status, const char* message);

#endif
