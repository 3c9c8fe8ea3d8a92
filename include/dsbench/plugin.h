/* dsbench vendor plugin ABI. A vendor builds one shared library against this header (C only: no C++
 * types cross it) and runs the conformance suite with `dsbench run --plugin PATH.so`.
 *
 * The library exports `dsbench_plugin_init`, which returns a table of functions. Tables are versioned
 * twice: `abi_version` (a major version: dsbench refuses any other) and `struct_size` (the table's
 * sizeof as the plugin compiled it: new fields are only ever appended, so an older plugin's smaller
 * table stays valid and dsbench reads a field only when it lies inside struct_size).
 *
 * Conventions: a device is an index in [0, device_count()). Pointers passed to kernels are the
 * plugin's own device pointers from `alloc`. Functions return DSB_STATUS_OK or an error status and
 * then make `last_error()` describe it. Kernels take the same parameter structs as dsbench's built-in
 * kernels (dsbench/ops.h). Guide: docs/plugin.md. */
#ifndef DSBENCH_PLUGIN_H
#define DSBENCH_PLUGIN_H

#include "dsbench/dtype.h"
#include "dsbench/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DSB_PLUGIN_ABI_VERSION 1u
#define DSB_PLUGIN_INIT_SYMBOL "dsbench_plugin_init"

#if defined(_WIN32)
#define DSB_PLUGIN_EXPORT __declspec(dllexport)
#else
#define DSB_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

typedef void* dsb_plugin_stream;
typedef void* dsb_plugin_event;

/* What a device is. Peak figures are the vendor's datasheet numbers; 0 means "not stated" (dsbench
 * always measures its own ceilings and says which denominator it used). */
typedef struct dsb_plugin_device_props {
  uint32_t struct_size;        /* set by dsbench before the call: the plugin writes only that much */
  char name[128];              /* e.g. "Ascend 910B3" */
  char vendor[64];
  uint64_t memory_bytes;
  double peak_bf16_tflops;
  double peak_fp8_tflops;
  double peak_memory_gbps;
  dsb_dtype fp8_e4m3;          /* the E4M3 variant the device computes in: E4M3FN or E4M3FNUZ */
  int32_t host_accessible;     /* 1 when device pointers are host memory (enables host-side checks) */
} dsb_plugin_device_props;

/* One kernel. Its id in dsbench is "<plugin name>.<op name>.<variant>". */
typedef struct dsb_plugin_kernel {
  dsb_op op;
  const char* variant;         /* [A-Za-z0-9_]+ */
  /* 1 when the kernel can run params on device; else 0 and a reason in reason[0 .. reason_size). */
  int (*supports)(const void* params, int device, char* reason, size_t reason_size);
  /* Scratch bytes the kernel needs for params (dsbench allocates it with `alloc`); NULL means 0. */
  size_t (*workspace_bytes)(const void* params, int device);
  /* Enqueues the op on stream: no allocation, no synchronisation, no printing. */
  dsb_status (*run)(const void* params, void* workspace, dsb_plugin_stream stream);
} dsb_plugin_kernel;

/* Optional communicator for multi-rank ops (all-to-all, MoE dispatch/combine). */
typedef struct dsb_plugin_comm {
  uint32_t struct_size;
  int32_t (*rank)(void);
  int32_t (*world_size)(void);
  dsb_status (*alltoallv)(const dsb_all_to_all_params* params, dsb_plugin_stream stream);
  dsb_status (*barrier)(void);
} dsb_plugin_comm;

typedef struct dsb_plugin_api {
  uint32_t abi_version;        /* DSB_PLUGIN_ABI_VERSION the plugin was built against */
  uint32_t struct_size;        /* sizeof(dsb_plugin_api) as the plugin compiled it */
  const char* name;            /* [a-z0-9_]+: backend name and kernel id prefix */
  const char* version;         /* the plugin's own version string */

  int (*device_count)(void);
  dsb_status (*device_props)(int device, dsb_plugin_device_props* out);

  dsb_status (*alloc)(int device, size_t bytes, void** out);
  dsb_status (*free)(int device, void* ptr);
  dsb_status (*copy_to_device)(int device, void* dst, const void* src_host, size_t bytes);
  dsb_status (*copy_to_host)(int device, void* dst_host, const void* src, size_t bytes);
  dsb_status (*fill_bytes)(int device, void* dst, uint8_t value, size_t bytes);

  dsb_status (*stream_create)(int device, dsb_plugin_stream* out);
  dsb_status (*stream_destroy)(dsb_plugin_stream stream);
  dsb_status (*stream_synchronize)(dsb_plugin_stream stream);
  dsb_status (*event_create)(int device, dsb_plugin_event* out);
  dsb_status (*event_destroy)(dsb_plugin_event event);
  dsb_status (*event_record)(dsb_plugin_event event, dsb_plugin_stream stream);
  dsb_status (*event_synchronize)(dsb_plugin_event event);
  dsb_status (*event_elapsed_ms)(dsb_plugin_event start, dsb_plugin_event stop, float* ms);
  dsb_status (*device_synchronize)(int device);
  /* Optional (NULL): evict the device's caches between timed repetitions. Without it dsbench writes a
   * buffer of 256 MiB with fill_bytes. */
  dsb_status (*flush_cache)(int device, dsb_plugin_stream stream);

  const char* (*last_error)(void); /* text of the last failure on the calling thread; never NULL */

  const dsb_plugin_comm* comm;     /* optional: NULL for a single-rank plugin */
  int32_t num_kernels;
  const dsb_plugin_kernel* kernels;
} dsb_plugin_api;

/* The one symbol a plugin exports. host_abi_version is the ABI dsbench speaks; a plugin may refuse
 * (return NULL) or return its table for dsbench to check. */
typedef const dsb_plugin_api* (*dsb_plugin_init_fn)(uint32_t host_abi_version);

#ifdef __cplusplus
}
#endif
#endif /* DSBENCH_PLUGIN_H */
