// Marks functions usable from host code and from CUDA/HIP device code, so that the reference and
// every kernel share one codec and quantisation is bit-identical across backends.
#pragma once

#if defined(__CUDACC__) || defined(__HIPCC__)
#define DSB_HD __host__ __device__ __forceinline__
#else
#define DSB_HD inline
#endif
