// Small host-side helpers shared by the CUDA backend's files: cuBLASLt status checks in the
// style of DSB_GPU_CHECK, and the device properties kernels' supports() reads.
#pragma once

#include <cublasLt.h>

#include <string>
#include <variant>

#include "dsbench/backend.hpp"

// Returns a Status from the enclosing function when a cuBLASLt call fails; CUBLAS_STATUS_NOT_SUPPORTED
// becomes DSB_STATUS_NOT_SUPPORTED (the case's disposition), anything else a device error.
#define DSB_LT_CHECK(call)                                                                              \
  do {                                                                                                  \
    const cublasStatus_t dsb_st_ = (call);                                                              \
    if (dsb_st_ != CUBLAS_STATUS_SUCCESS)                                                               \
      return ::dsbench::Status::error(dsb_st_ == CUBLAS_STATUS_NOT_SUPPORTED ? DSB_STATUS_NOT_SUPPORTED \
                                                                             : DSB_STATUS_DEVICE_ERROR, \
                                      std::string(#call) + " failed at " __FILE__ ":" +                 \
                                          std::to_string(__LINE__) + ": " + cublasLtGetStatusName(dsb_st_)); \
  } while (0)

namespace dsbench::cuda {

// An integer property of a device (-1 when absent).
inline int64_t int_property(const Properties& p, const char* key) {
  const auto it = p.find(key);
  return it != p.end() && std::holds_alternative<int64_t>(it->second) ? std::get<int64_t>(it->second) : -1;
}

// "9.0" -> 9; -1 when the device does not say (a device that is not a CUDA one).
inline int compute_capability_major(const Properties& p) {
  const auto it = p.find("compute_capability");
  if (it == p.end() || !std::holds_alternative<std::string>(it->second)) return -1;
  const std::string& cc = std::get<std::string>(it->second);
  return cc.empty() ? -1 : std::stoi(cc);
}

inline std::string compute_capability(const Properties& p) {
  const auto it = p.find("compute_capability");
  return it != p.end() && std::holds_alternative<std::string>(it->second) ? std::get<std::string>(it->second) : "?";
}

}  // namespace dsbench::cuda
