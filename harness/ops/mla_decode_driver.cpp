// Driver of MLA decode: parses and validates a case's params into an MlaDecodeShape. The problem
// itself (tensors, generation, checks, cost) is mla_decode_problem.cpp; the tolerances are derived in
// docs/ops/mla_decode.md.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "harness/error.hpp"
#include "harness/op_registry.hpp"
#include "harness/ops/mla_decode_problem.hpp"
#include "harness/param_reader.hpp"

namespace dsbench {
namespace {

constexpr int64_t kMaxSeqlen = int64_t{1} << 24;

// ParamReader reads integers and dtypes; the two non-integer fields are read here and removed from
// the copy it sees, so its unknown-key check still covers everything else.
double read_scale(nlohmann::json& params, int32_t d_qk) {
  if (!params.contains("softmax_scale")) return 1.0 / std::sqrt(static_cast<double>(d_qk));
  const nlohmann::json v = params.at("softmax_scale");
  params.erase("softmax_scale");
  if (!v.is_number()) DSB_THROW("params.softmax_scale: expected a number, got " + v.dump());
  const double s = v.get<double>();
  if (!(s > 0.0) || !std::isfinite(static_cast<float>(s)))
    DSB_THROW("params.softmax_scale: " + v.dump() + " is not a positive finite float");
  return s;
}

bool read_causal(nlohmann::json& params) {
  if (!params.contains("causal")) return false;
  const nlohmann::json v = params.at("causal");
  params.erase("causal");
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number_integer() && (v.get<int64_t>() == 0 || v.get<int64_t>() == 1)) return v.get<int64_t>() == 1;
  DSB_THROW("params.causal: expected true, false, 0 or 1, got " + v.dump());
}

// docs/ops/mla_decode.md derives these and tests/harness/mla_problem_test.cpp checks them against
// simulated kernels. out: rel = one BF16 neighbour (the FP64 reference is correctly rounded);
// abs_rms 2e-2 and cos_diff 5e-6 accept FlashMLA's design (softmax weights rounded to BF16 for the
// PV product: up to 0.92% of the RMS and cos_diff 2.9e-6 measured) and reject a BF16 accumulator or
// BF16 scores. lse: FP32 scores give < 5e-7 relative; BF16 scores give > 2e-5.
const std::map<std::string, Tolerance> kMlaTolerance = {
    {"out", Tolerance{0.0, 2e-2, 2.01 / 256, 5e-6}},
    {"lse", Tolerance{0.0, 1e-5, 1e-5, 1e-10}},
};

class MlaDecodeDriver final : public OpDriver {
 public:
  dsb_op op() const override { return DSB_OP_MLA_DECODE; }
  std::map<std::string, Tolerance> default_tolerances() const override { return kMlaTolerance; }

  std::unique_ptr<Problem> make(const nlohmann::json& params) const override {
    nlohmann::json rest = params;
    ParamReader r(rest);  // throws for a non-object
    MlaDecodeShape s;
    s.b = static_cast<int32_t>(r.integer("b", 1, 65536));
    s.s_q = static_cast<int32_t>(r.integer("s_q", 1, 1024));
    s.h_q = static_cast<int32_t>(r.integer("h_q", 1, 4096));
    s.h_kv = static_cast<int32_t>(r.integer_or("h_kv", 1, 1, 4096));
    if (s.h_q % s.h_kv != 0)
      DSB_THROW("params.h_q: " + std::to_string(s.h_q) + " is not a multiple of h_kv = " + std::to_string(s.h_kv));
    s.d_qk = static_cast<int32_t>(r.integer_or("d_qk", 576, 1, 4096));
    s.d_v = static_cast<int32_t>(r.integer_or("d_v", 512, 1, 4096));
    if (s.d_v > s.d_qk)
      DSB_THROW("params.d_v: " + std::to_string(s.d_v) + " exceeds d_qk = " + std::to_string(s.d_qk) +
                " (the value is the first d_v dims of each key)");
    s.page_block_size = static_cast<int32_t>(r.integer_or("page_block_size", 64, 1, 4096));
    s.kv_dtype = r.dtype_or("kv_dtype", DSB_DTYPE_BF16);
    if (s.kv_dtype != DSB_DTYPE_BF16 && s.kv_dtype != DSB_DTYPE_E4M3FN)
      DSB_THROW(std::string("params.kv_dtype: ") + dsb_dtype_name(s.kv_dtype) + " is not bf16 or e4m3fn");
    if (s.kv_dtype == DSB_DTYPE_E4M3FN && (s.d_qk != 576 || s.d_v != 512))
      DSB_THROW("params.kv_dtype: e4m3fn (the 656-byte token layout) needs d_qk = 576 and d_v = 512, got d_qk = " +
                std::to_string(s.d_qk) + ", d_v = " + std::to_string(s.d_v));
    if (rest.contains("seqlen") && rest.at("seqlen").is_array() && static_cast<int64_t>(rest.at("seqlen").size()) != s.b)
      DSB_THROW("params.seqlen: has " + std::to_string(rest.at("seqlen").size()) + " entries, expected b = " +
                std::to_string(s.b));
    for (int64_t len : r.per_group("seqlen", s.b, 0, kMaxSeqlen)) s.seqlens.push_back(static_cast<int32_t>(len));
    const auto longest = std::max_element(s.seqlens.begin(), s.seqlens.end());
    const int64_t pages = (*longest + s.page_block_size - 1) / s.page_block_size;
    s.max_blocks_per_seq = static_cast<int32_t>(r.integer_or("max_blocks_per_seq", pages + 1, 1, kMaxSeqlen));
    if (s.max_blocks_per_seq < pages)
      DSB_THROW("params.max_blocks_per_seq: " + std::to_string(s.max_blocks_per_seq) + " pages of " +
                std::to_string(s.page_block_size) + " tokens cannot hold seqlen[" +
                std::to_string(longest - s.seqlens.begin()) + "] = " + std::to_string(*longest) + " (needs " +
                std::to_string(pages) + ")");
    if (s.used_blocks() + s.b > std::numeric_limits<int32_t>::max())
      DSB_THROW("params.seqlen: the cache would need " + std::to_string(s.used_blocks() + s.b) +
                " pages, more than num_blocks (int32) can count");
    s.softmax_scale = static_cast<float>(read_scale(rest, s.d_qk));
    s.causal = read_causal(rest);
    r.finish();
    return make_mla_decode_problem(s);
  }

  std::string params_help() const override {
    return "b, s_q, h_q, seqlen (int or list of b; 0 allowed), h_kv (default 1; divides h_q), d_qk (576), "
           "d_v (512), page_block_size (64), max_blocks_per_seq (default: longest sequence's pages + 1), "
           "softmax_scale (default d_qk^-0.5), causal (false), kv_dtype (bf16|e4m3fn: the 656-byte FP8 token)";
  }
};

}  // namespace

std::unique_ptr<OpDriver> make_mla_decode_driver() { return std::make_unique<MlaDecodeDriver>(); }

}  // namespace dsbench
