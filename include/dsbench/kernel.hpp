// The kernel interface (CUTLASS-style can_implement / workspace / run) and the typed helper kernel
// authors derive from, so that no kernel casts void* itself.
#pragma once

#include <cstddef>
#include <string>

#include "dsbench/backend.hpp"
#include "dsbench/ops.h"
#include "dsbench/status.hpp"

namespace dsbench {

// Maps a parameter struct to its op.
template <class P> struct OpOf;
template <> struct OpOf<dsb_gemm_fp8_blockscaled_params> { static constexpr dsb_op value = DSB_OP_GEMM_FP8_BLOCKSCALED; };
template <> struct OpOf<dsb_gemm_fp8_grouped_contiguous_params> { static constexpr dsb_op value = DSB_OP_GEMM_FP8_GROUPED_CONTIGUOUS; };
template <> struct OpOf<dsb_gemm_fp8_grouped_masked_params> { static constexpr dsb_op value = DSB_OP_GEMM_FP8_GROUPED_MASKED; };
template <> struct OpOf<dsb_mla_decode_params> { static constexpr dsb_op value = DSB_OP_MLA_DECODE; };
template <> struct OpOf<dsb_moe_route_params> { static constexpr dsb_op value = DSB_OP_MOE_ROUTE; };
template <> struct OpOf<dsb_moe_dispatch_params> { static constexpr dsb_op value = DSB_OP_MOE_DISPATCH; };
template <> struct OpOf<dsb_moe_combine_params> { static constexpr dsb_op value = DSB_OP_MOE_COMBINE; };
template <> struct OpOf<dsb_all_to_all_params> { static constexpr dsb_op value = DSB_OP_ALL_TO_ALL; };
template <> struct OpOf<dsb_moe_layer_params> { static constexpr dsb_op value = DSB_OP_MOE_LAYER; };

class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual const std::string& id() const = 0;  // "<backend>.<op>.<variant>"
  virtual dsb_op op() const = 0;
  // params points at the op's parameter struct (OpOf). supports() may not touch tensor memory.
  virtual Support supports(const void* params, const Device& device) const = 0;
  virtual size_t workspace_bytes(const void* params, const Device& device) const = 0;
  // Enqueues the work on stream: no allocation, no synchronisation, no printing.
  virtual Status run(const void* params, void* workspace, Stream& stream) const = 0;
};

template <class P>
class KernelFor : public Kernel {
 public:
  KernelFor(const std::string& backend, const std::string& variant)
      : id_(backend + "." + dsb_op_name(OpOf<P>::value) + "." + variant) {}
  const std::string& id() const final { return id_; }
  dsb_op op() const final { return OpOf<P>::value; }
  Support supports(const void* p, const Device& d) const final { return supports(*static_cast<const P*>(p), d); }
  size_t workspace_bytes(const void* p, const Device& d) const final {
    return workspace_bytes(*static_cast<const P*>(p), d);
  }
  Status run(const void* p, void* ws, Stream& s) const final { return run(*static_cast<const P*>(p), ws, s); }

 protected:
  virtual Support supports(const P& params, const Device& device) const = 0;
  virtual size_t workspace_bytes(const P&, const Device&) const { return 0; }
  virtual Status run(const P& params, void* workspace, Stream& stream) const = 0;

 private:
  std::string id_;
};

}  // namespace dsbench
