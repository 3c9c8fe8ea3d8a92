// How the harness knows an operator: an OpDriver turns a case's JSON params into a Problem, which
// names its tensors, generates inputs, builds the contract's parameter struct over device pointers,
// computes reference values (full or sampled) and states its cost. One driver per op family
// (harness/ops/), listed in harness/op_registry.cpp.
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "dsbench/ops.h"
#include "harness/tensor.hpp"

namespace dsbench {

// Element test: |a-r| <= abs_eff or |a-r|/(|r|+1e-6) <= rel; and cos_diff over the output <= cos_diff.
// abs_eff = max(abs, abs_rms * RMS of the checked reference values): accumulation error scales with
// the magnitude of the partial sums, not with the element, so near-cancelled elements of a long dot
// product need an absolute allowance in units of the output's scale (docs/accuracy.md).
// All zero means exact equality (integer outputs).
struct Tolerance {
  double abs = 0.0;
  double abs_rms = 0.0;
  double rel = 0.0;
  double cos_diff = 0.0;
};

// How much reference work a check may cost before it samples (docs/accuracy.md).
struct VerifyPolicy {
  double full_max_macs = 4.0e9;  // reference multiply-adds allowed for a full check
  int64_t sample_rows = 16;      // random rows checked whole (plus the first and the last)
  int64_t sample_cols = 16;      // random columns checked whole (plus the first and the last)
  bool force_full = false;       // --verify-full
};

// Reference values of one output at the positions that will be checked.
struct OutputAccuracy;
struct HostTensor;

struct OutputCheck {
  std::string output;            // tensor name, e.g. "d"
  bool sampled = false;
  std::string rule;              // how positions were chosen, for the scorecard
  int64_t total = 0;             // elements the contract defines (padding/masked rows excluded)
  std::vector<int64_t> index;    // flat indices checked
  std::vector<double> expected;  // reference value (rounded to the output dtype) at each index
  // Set by ops whose expected values are a formula cheaper to evaluate than to store (all-to-all:
  // every element, bit for bit); replaces the index/expected comparison.
  std::function<OutputAccuracy(const HostTensor& actual, const Tolerance& tol)> custom;
};

class Communicator;

// Where a problem of a multi-rank op lives: this rank of the world, and the communicator its params
// carry. Single-rank ops ignore it.
struct RankContext {
  int rank = 0, world_size = 1;
  Communicator* comm = nullptr;  // null when only validating params (dsbench validate / list)
  uint64_t memory_budget = 0;    // bytes this rank may use for the case's tensors (0: unknown)
};

// For Problem::params: the pointer `ptrs` holds for a tensor, or null (params({}) builds the struct
// with none, for supports() and validation), and the contract struct as the bytes params returns.
inline void* tensor_ptr(const std::map<std::string, void*>& ptrs, const char* name) {
  const auto it = ptrs.find(name);
  return it == ptrs.end() ? nullptr : it->second;
}
template <class P>
std::vector<uint8_t> params_bytes(const P& p) {
  std::vector<uint8_t> out(sizeof p);
  std::memcpy(out.data(), &p, sizeof p);
  return out;
}

class Problem {
 public:
  virtual ~Problem() = default;
  virtual const std::vector<TensorSpec>& inputs() const = 0;
  virtual const std::vector<TensorSpec>& outputs() const = 0;
  // Fills every input from the counter-based generator: random, never all zeros.
  virtual void generate(uint64_t seed, TensorMap& inputs) const = 0;
  // Checks inputs that come from files (replay) against the contract; throws Error naming the
  // tensor, element and value (an m_index out of range, masked_m > m_max, ...).
  virtual void validate(const TensorMap& inputs) const = 0;
  // The op's C parameter struct over these tensor pointers (device pointers when run on a device).
  virtual std::vector<uint8_t> params(const std::map<std::string, void*>& ptrs) const = 0;
  virtual std::vector<OutputCheck> reference(const TensorMap& inputs, const VerifyPolicy& policy,
                                             uint64_t sample_seed) const = 0;
  // Reference multiply-adds of a full check, to choose full versus sampled verification.
  virtual double reference_macs() const = 0;
  virtual double flops() const = 0;  // documented per op in docs/ops/
  virtual double bytes() const = 0;  // minimum bytes moved: inputs read once, outputs written once
  // Composite ops (moe_layer): the stages a kernel can be asked to run alone, in order, and how to ask
  // (select_stage(params, i) rewrites the params to run stage i only). The runner times each stage
  // after the whole op (timing.stages); a kernel that refuses stage runs is timed whole only.
  virtual std::vector<std::string> stages() const { return {}; }
  virtual void select_stage(std::vector<uint8_t>& /*params*/, int /*stage*/) const {}
  // Work items for a per-item rate (moe_layer: tokens -> metrics.tokens_per_s); 0 when none.
  virtual double tokens() const { return 0.0; }
  // Why this case cannot run here at all (a size capped by this rank's memory); empty to run it.
  virtual std::string skip_reason() const { return {}; }
  // Multi-rank ops: bytes this rank sends (itself included), receives, and sends to itself.
  struct Traffic {
    double send = 0, recv = 0, local = 0;
  };
  virtual Traffic traffic() const { return {}; }
  // The reference cache (harness/reference_cache.hpp) stores index/expected lists only. An op whose
  // check is a closure over more than those lists (MoE, all-to-all) keeps the default: its reference
  // is computed on every run. One whose closure only wraps the lists (the GEMM accumulation probe)
  // says true and re-attaches the closure to checks loaded from the cache.
  virtual bool custom_checks_restorable() const { return false; }
  virtual void restore_checks(std::vector<OutputCheck>& /*checks*/) const {}
};

class OpDriver {
 public:
  virtual ~OpDriver() = default;
  virtual dsb_op op() const = 0;
  virtual std::map<std::string, Tolerance> default_tolerances() const = 0;  // per output
  // Parses and validates params; throws Error naming the field ("params.k: 100 is not a multiple of 128").
  virtual std::unique_ptr<Problem> make(const nlohmann::json& params) const = 0;
  virtual std::string params_help() const = 0;  // for `dsbench list --ops`
  // Ops whose kernels exchange data between ranks (all-to-all, expert-parallel MoE): every rank runs
  // each case together, and the problem depends on the rank.
  virtual bool multi_rank() const { return false; }
  virtual std::unique_ptr<Problem> make_on(const nlohmann::json& params, const RankContext& ctx) const {
    return make(params);
  }
};

}  // namespace dsbench
