#define _POSIX_C_SOURCE 200809L
#include "host_device.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static _Thread_local char g_error[256] = "no error";

dsb_status host_device_fail(dsb_status status, const char* message) {
  snprintf(g_error, sizeof g_error, "%s", message);
  return status;
}

static const char* last_error(void) { return g_error; }

static int device_count(void) { return 1; }

static dsb_status device_props(int device, dsb_plugin_device_props* out) {
  if (device != 0) return host_device_fail(DSB_STATUS_INVALID_ARGUMENT, "no such device");
  dsb_plugin_device_props p;
  memset(&p, 0, sizeof p);
  p.struct_size = out->struct_size;
  snprintf(p.name, sizeof p.name, "Example host accelerator");
  snprintf(p.vendor, sizeof p.vendor, "dsbench example");
  p.memory_bytes = 0; /* not stated */
  p.fp8_e4m3 = DSB_DTYPE_E4M3FN;
  p.host_accessible = 1;
  /* Write only as much as dsbench's struct holds (it may be an older, smaller one). */
  memcpy(out, &p, out->struct_size < sizeof p ? out->struct_size : sizeof p);
  return DSB_STATUS_OK;
}

static dsb_status dev_alloc(int device, size_t bytes, void** out) {
  (void)device;
  *out = aligned_alloc(64, (bytes + 63) / 64 * 64);
  return *out ? DSB_STATUS_OK : host_device_fail(DSB_STATUS_OUT_OF_MEMORY, "aligned_alloc failed");
}
static dsb_status dev_free(int device, void* p) { (void)device; free(p); return DSB_STATUS_OK; }
static dsb_status copy_h2d(int device, void* d, const void* s, size_t n) { (void)device; memcpy(d, s, n); return DSB_STATUS_OK; }
static dsb_status copy_d2h(int device, void* d, const void* s, size_t n) { (void)device; memcpy(d, s, n); return DSB_STATUS_OK; }
static dsb_status fill(int device, void* d, uint8_t v, size_t n) { (void)device; memset(d, v, n); return DSB_STATUS_OK; }

/* Work runs when enqueued, so streams are tokens and events are timestamps. */
static int g_stream_token;
static dsb_status stream_create(int device, dsb_plugin_stream* out) { (void)device; *out = &g_stream_token; return DSB_STATUS_OK; }
static dsb_status stream_destroy(dsb_plugin_stream s) { (void)s; return DSB_STATUS_OK; }
static dsb_status stream_sync(dsb_plugin_stream s) { (void)s; return DSB_STATUS_OK; }

static dsb_status event_create(int device, dsb_plugin_event* out) {
  (void)device;
  *out = calloc(1, sizeof(struct timespec));
  return *out ? DSB_STATUS_OK : host_device_fail(DSB_STATUS_OUT_OF_MEMORY, "calloc failed");
}
static dsb_status event_destroy(dsb_plugin_event e) { free(e); return DSB_STATUS_OK; }
static dsb_status event_record(dsb_plugin_event e, dsb_plugin_stream s) {
  (void)s;
  clock_gettime(CLOCK_MONOTONIC, (struct timespec*)e);
  return DSB_STATUS_OK;
}
static dsb_status event_sync(dsb_plugin_event e) { (void)e; return DSB_STATUS_OK; }
static dsb_status event_elapsed(dsb_plugin_event start, dsb_plugin_event stop, float* ms) {
  const struct timespec* a = (const struct timespec*)start;
  const struct timespec* b = (const struct timespec*)stop;
  *ms = (float)((double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) * 1e-6);
  return DSB_STATUS_OK;
}
static dsb_status device_sync(int device) { (void)device; return DSB_STATUS_OK; }

void host_device_fill_api(dsb_plugin_api* api) {
  api->device_count = device_count;
  api->device_props = device_props;
  api->alloc = dev_alloc;
  api->free = dev_free;
  api->copy_to_device = copy_h2d;
  api->copy_to_host = copy_d2h;
  api->fill_bytes = fill;
  api->stream_create = stream_create;
  api->stream_destroy = stream_destroy;
  api->stream_synchronize = stream_sync;
  api->event_create = event_create;
  api->event_destroy = event_destroy;
  api->event_record = event_record;
  api->event_synchronize = event_sync;
  api->event_elapsed_ms = event_elapsed;
  api->device_synchronize = device_sync;
  api->flush_cache = NULL; /* dsbench then writes a large buffer itself */
  api->last_error = last_error;
  api->comm = NULL;
}
