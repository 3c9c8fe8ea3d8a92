// The one portability header for kernels shared by CUDA and HIP (kernels/gpu/*.cu): neutral gpu*
// names for the runtime calls the portable kernels use, the wave size as a value rather than an
// assumption, and a status check that returns instead of exiting. Vendor-only fast paths live in
// kernels/cuda/ or kernels/hip/.
#pragma once

#include <string>

#include "dsbench/status.hpp"

#if defined(__HIPCC__) || defined(DSB_GPU_HIP)
#include <hip/hip_runtime.h>
using gpuError_t = hipError_t;
using gpuStream_t = hipStream_t;
#define gpuSuccess hipSuccess
#define gpuGetLastError hipGetLastError
#define gpuGetErrorString hipGetErrorString
#define gpuGetErrorName hipGetErrorName
#define gpuMemsetAsync hipMemsetAsync
#define gpuMemcpyAsync hipMemcpyAsync
#define gpuMemcpyDeviceToHost hipMemcpyDeviceToHost
#define gpuStreamSynchronize hipStreamSynchronize
#define DSB_GPU_RUNTIME "hip"
#else
#include <cuda_runtime.h>
using gpuError_t = cudaError_t;
using gpuStream_t = cudaStream_t;
#define gpuSuccess cudaSuccess
#define gpuGetLastError cudaGetLastError
#define gpuGetErrorString cudaGetErrorString
#define gpuGetErrorName cudaGetErrorName
#define gpuMemsetAsync cudaMemsetAsync
#define gpuMemcpyAsync cudaMemcpyAsync
#define gpuMemcpyDeviceToHost cudaMemcpyDeviceToHost
#define gpuStreamSynchronize cudaStreamSynchronize
#define DSB_GPU_RUNTIME "cuda"
#endif

namespace dsbench::gpu {

// Threads per wave: 32 on NVIDIA, 64 on CDNA (32 on RDNA in wave32 mode). Device code asks
// warpSize; host code sizes launches with this and never assumes 32.
#if defined(__HIPCC__) || defined(DSB_GPU_HIP)
inline int host_wave_size(int device) {
  int w = 0;
  if (hipDeviceGetAttribute(&w, hipDeviceAttributeWarpSize, device) != hipSuccess || w <= 0) {
    (void)hipGetLastError();
    return 64;  // CDNA's wave size; RDNA reports 32 when it runs wave32
  }
  return w;
}
#else
inline int host_wave_size(int) { return 32; }
#endif

// A failed runtime call as a Status naming the call site and the runtime's own words.
inline Status status_from(gpuError_t e, const char* what, const char* file, int line) {
  if (e == gpuSuccess) return Status::success();
  const dsb_status code = (e == static_cast<gpuError_t>(2) /* MemoryAllocation on both runtimes */)
                              ? DSB_STATUS_OUT_OF_MEMORY : DSB_STATUS_DEVICE_ERROR;
  return Status::error(code, std::string(what) + " failed at " + file + ":" + std::to_string(line) + ": " +
                                 gpuGetErrorName(e) + ": " + gpuGetErrorString(e));
}

}  // namespace dsbench::gpu

// Returns a Status from the enclosing function when a runtime call fails.
#define DSB_GPU_CHECK(call)                                                             \
  do {                                                                                  \
    const gpuError_t dsb_err_ = (call);                                                 \
    if (dsb_err_ != gpuSuccess) return ::dsbench::gpu::status_from(dsb_err_, #call, __FILE__, __LINE__); \
  } while (0)

// After a launch: the launch error (bad configuration, no kernel image for this device).
#define DSB_GPU_CHECK_LAUNCH() DSB_GPU_CHECK(gpuGetLastError())
