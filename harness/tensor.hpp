// Host-side tensors of a case: a name from the op's argument list, a dtype, a shape and raw bytes.
// FP8 and BF16 are raw bits, exactly as kernels and .npy dumps see them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "dsbench/dtype.h"

namespace dsbench {

struct TensorSpec {
  std::string name;
  dsb_dtype dtype = DSB_DTYPE_INVALID;
  std::vector<int64_t> shape;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
  }
  size_t bytes() const { return static_cast<size_t>(numel()) * dsb_dtype_size(dtype); }
};

struct HostTensor {
  TensorSpec spec;
  std::vector<uint8_t> data;

  HostTensor() = default;
  explicit HostTensor(TensorSpec s) : spec(std::move(s)), data(spec.bytes()) {}
  template <class T> T* as() { return reinterpret_cast<T*>(data.data()); }
  template <class T> const T* as() const { return reinterpret_cast<const T*>(data.data()); }
};

using TensorMap = std::map<std::string, HostTensor>;

// Reads element i of a tensor of any dtype as a double (FP8/BF16 decoded; ints converted).
double element_as_double(const void* data, dsb_dtype dtype, int64_t i);
// Writes a double into element i, rounding to the dtype (RNE for floats, saturating for FP8).
void store_from_double(void* data, dsb_dtype dtype, int64_t i, double v);

// "[3, 4, 128]"
std::string shape_string(const std::vector<int64_t>& shape);

}  // namespace dsbench
