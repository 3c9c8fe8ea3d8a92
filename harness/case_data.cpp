// Element access for host tensors of any dtype (tensor.hpp).
#include <cmath>
#include <cstring>
#include <limits>

#include "dsbench/numerics/bf16.hpp"
#include "dsbench/numerics/fp8.hpp"
#include "harness/error.hpp"
#include "harness/tensor.hpp"

namespace dsbench {

double element_as_double(const void* data, dsb_dtype dtype, int64_t i) {
  switch (dtype) {
    case DSB_DTYPE_F32: return static_cast<const float*>(data)[i];
    case DSB_DTYPE_BF16: return bf16_to_f32(static_cast<const uint16_t*>(data)[i]);
    case DSB_DTYPE_E4M3FN: case DSB_DTYPE_E5M2: case DSB_DTYPE_E4M3FNUZ: case DSB_DTYPE_E5M2FNUZ:
      return fp8_decode(static_cast<const uint8_t*>(data)[i], dtype);
    case DSB_DTYPE_UE8M0: return ue8m0_to_f32(static_cast<const uint8_t*>(data)[i]);
    case DSB_DTYPE_I32: return static_cast<const int32_t*>(data)[i];
    case DSB_DTYPE_I64: return static_cast<double>(static_cast<const int64_t*>(data)[i]);
    default: DSB_THROW(std::string("element_as_double: unsupported dtype ") + dsb_dtype_name(dtype));
  }
}

void store_from_double(void* data, dsb_dtype dtype, int64_t i, double v) {
  switch (dtype) {
    case DSB_DTYPE_F32: static_cast<float*>(data)[i] = static_cast<float>(v); return;
    case DSB_DTYPE_BF16: static_cast<uint16_t*>(data)[i] = bf16_from_f64(v); return;
    case DSB_DTYPE_E4M3FN: case DSB_DTYPE_E5M2: case DSB_DTYPE_E4M3FNUZ: case DSB_DTYPE_E5M2FNUZ:
      static_cast<uint8_t*>(data)[i] = fp8_encode(static_cast<float>(v), dtype);
      return;
    case DSB_DTYPE_I32:
      static_cast<int32_t*>(data)[i] = std::isnan(v) ? std::numeric_limits<int32_t>::min() : static_cast<int32_t>(v);
      return;
    case DSB_DTYPE_I64:
      static_cast<int64_t*>(data)[i] = std::isnan(v) ? std::numeric_limits<int64_t>::min() : static_cast<int64_t>(v);
      return;
    default: DSB_THROW(std::string("store_from_double: unsupported dtype ") + dsb_dtype_name(dtype));
  }
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace dsbench
