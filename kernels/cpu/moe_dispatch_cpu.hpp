// The CPU backend's MoE dispatch and combine kernels (docs/ops/moe_dispatch_combine.md): the plain
// serial reference (reference/moe_dispatch_reference.cpp) and the OpenMP kernels
// (moe_dispatch_cpu.cpp). With more than one rank both move rows through the communicator's
// alltoallv; with one rank the optimised kernels write the layout straight from x.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>

#include "dsbench/kernel.hpp"
#include "dsbench/numerics/fp8.hpp"

namespace dsbench::cpu {

// fp8_encode without branches, so that a row's loop vectorises; bit-identical to it for every
// finite x (NaN and infinities take fp8_encode itself; tests/harness/moe_dispatch_test.cpp sweeps it).
inline uint8_t fp8_encode_finite(float x, const Fp8Format& f) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  const uint32_t sign = (u >> 24) & 0x80u, a = u & 0x7fffffffu;
  float ax;
  std::memcpy(&ax, &a, 4);
  const int shift = 23 - f.man_bits;
  // Normal: round the mantissa bits half to even (a carry bumps the exponent), then rebias.
  const uint32_t r = a + ((1u << (shift - 1)) - 1u) + ((a >> shift) & 1u);
  const uint32_t normal = (r >> shift) - (static_cast<uint32_t>(127 - f.bias) << f.man_bits);
  // Subnormal: units of the smallest subnormal (an exact power-of-two scaling), rounded half to even
  // by adding 2^23; the units are at most 2^man_bits, far below 2^22.
  float sub_scale;
  const uint32_t sub_bits = static_cast<uint32_t>(127 + f.man_bits + f.bias - 1) << 23;
  std::memcpy(&sub_scale, &sub_bits, 4);
  const float units = ax * sub_scale + 8388608.0f;
  uint32_t ub;
  std::memcpy(&ub, &units, 4);
  const uint32_t sub = ub - 0x4b000000u;
  // Selects as masks (no branches: the loop vectorises). For |x| >= 0, comparing bits compares values.
  float maxv = f.max_value;
  uint32_t max_bits;
  std::memcpy(&max_bits, &maxv, 4);
  const uint32_t is_normal = 0u - static_cast<uint32_t>(a >= (static_cast<uint32_t>(128 - f.bias) << 23));
  const uint32_t saturate = 0u - static_cast<uint32_t>(a >= max_bits);
  uint32_t mag = (normal & is_normal) | (sub & ~is_normal);
  mag = (f.max_code & saturate) | (mag & ~saturate);
  const uint32_t keep_sign = f.fnuz ? 0u - static_cast<uint32_t>(mag != 0) : ~0u;  // FNUZ: no -0
  return static_cast<uint8_t>(mag | (sign & keep_sign));
}

// One BF16 row quantised 1x128 to `fp8` (hidden % 128 == 0), bit-identical to ref::quantize_1x128:
// codes into q, scales (F32 or UE8M0 bytes) into scales. The dispatch's quantiser (AVX-512, AVX2 or
// the baseline ISA, chosen at run time), also the MoE layer's for the shared expert.
void quantize_bf16_1x128(const uint16_t* x, int32_t hidden, dsb_dtype fp8, dsb_dtype scale_dtype, uint8_t* q,
                         uint8_t* scales);

// The dispatch's AVX-512 encoder over n finite floats (n % 16 == 0), for tests; false (nothing
// written) on a CPU without AVX-512.
bool fp8_encode_finite_avx512(const float* x, int64_t n, dsb_dtype fp8, uint8_t* out);

dsb_status moe_dispatch_optimized(const dsb_moe_dispatch_params& p, void* workspace);
dsb_status moe_combine_optimized(const dsb_moe_combine_params& p, void* workspace);
size_t moe_dispatch_optimized_workspace(const dsb_moe_dispatch_params& p);
size_t moe_combine_optimized_workspace(const dsb_moe_combine_params& p);

// Why a dispatch/combine kernel of this backend cannot run these params ("" if it can).
std::string moe_dispatch_unsupported(const dsb_moe_dispatch_params& p);
std::string moe_combine_unsupported(const dsb_moe_combine_params& p);

// A CPU kernel over host-accessible memory for one of the functions above (or a reference one).
template <class P>
class MoeEpKernel final : public KernelFor<P> {
 public:
  using RunFn = dsb_status (*)(const P&, void* workspace);
  using WorkspaceFn = size_t (*)(const P&);
  MoeEpKernel(const char* variant, RunFn run, WorkspaceFn workspace = nullptr)
      : KernelFor<P>("cpu", variant), run_(run), workspace_(workspace) {}

 protected:
  Support supports(const P& p, const Device& device) const override {
    if (!device.host_accessible()) return Support::no("CPU kernels need host-accessible memory");
    std::string why;
    if constexpr (OpOf<P>::value == DSB_OP_MOE_DISPATCH) why = moe_dispatch_unsupported(p);
    else why = moe_combine_unsupported(p);
    return why.empty() ? Support::yes() : Support::no(why);
  }
  size_t workspace_bytes(const P& p, const Device&) const override { return workspace_ ? workspace_(p) : 0; }
  Status run(const P& p, void* workspace, Stream&) const override {
    const dsb_status s = run_(p, workspace);
    if (s == DSB_STATUS_OK) return Status::success();
    std::string why = this->id() + ": " + dsb_status_name(s);
    if (s == DSB_STATUS_INVALID_ARGUMENT)
      why += " (an expert id outside [-1, num_experts), a layout over recv_capacity, or a recv_src naming no pair)";
    else if (p.comm != nullptr && p.comm->last_error != nullptr)
      why += std::string(": ") + p.comm->last_error(p.comm);
    return Status::error(s, why);
  }

 private:
  RunFn run_;
  WorkspaceFn workspace_;
};

}  // namespace dsbench::cpu
