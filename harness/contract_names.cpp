// Canonical names of the contract's enums (dtype.h, ops.h): the strings suites, scorecards and
// dump folders use.
#include <cstring>

#include "dsbench/dtype.h"
#include "dsbench/ops.h"

namespace {
struct DtypeName { dsb_dtype t; const char* name; };
constexpr DtypeName kDtypes[] = {
    {DSB_DTYPE_F32, "f32"},       {DSB_DTYPE_BF16, "bf16"},         {DSB_DTYPE_F16, "f16"},
    {DSB_DTYPE_E4M3FN, "e4m3fn"}, {DSB_DTYPE_E5M2, "e5m2"},         {DSB_DTYPE_E4M3FNUZ, "e4m3fnuz"},
    {DSB_DTYPE_E5M2FNUZ, "e5m2fnuz"}, {DSB_DTYPE_UE8M0, "ue8m0"},   {DSB_DTYPE_I32, "i32"},
    {DSB_DTYPE_I64, "i64"},
};
constexpr const char* kOps[DSB_OP_COUNT] = {
    "invalid",   "gemm_fp8_blockscaled", "gemm_fp8_grouped_contiguous", "gemm_fp8_grouped_masked",
    "mla_decode", "moe_route",           "moe_dispatch",                "moe_combine",
    "all_to_all", "moe_layer",
};
constexpr const char* kStatuses[] = {"ok", "invalid_argument", "not_supported", "out_of_memory",
                                     "device_error", "timeout", "internal"};
}  // namespace

extern "C" {

const char* dsb_dtype_name(dsb_dtype t) {
  for (const auto& d : kDtypes) if (d.t == t) return d.name;
  return "invalid";
}

dsb_dtype dsb_dtype_from_name(const char* name) {
  if (name == nullptr) return DSB_DTYPE_INVALID;
  for (const auto& d : kDtypes) if (std::strcmp(d.name, name) == 0) return d.t;
  return DSB_DTYPE_INVALID;
}

const char* dsb_op_name(dsb_op op) {
  const int i = static_cast<int>(op);
  return (i > 0 && i < DSB_OP_COUNT) ? kOps[i] : "invalid";
}

dsb_op dsb_op_from_name(const char* name) {
  if (name == nullptr) return DSB_OP_INVALID;
  for (int i = 1; i < DSB_OP_COUNT; ++i) if (std::strcmp(kOps[i], name) == 0) return static_cast<dsb_op>(i);
  return DSB_OP_INVALID;
}

const char* dsb_status_name(dsb_status s) {
  const int i = static_cast<int>(s);
  return (i >= 0 && i < static_cast<int>(sizeof(kStatuses) / sizeof(kStatuses[0]))) ? kStatuses[i] : "unknown";
}

}  // extern "C"
