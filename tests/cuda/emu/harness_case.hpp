// A case as the harness prepares it, for kernels run on host memory by the SIMT emulator: the op's
// problem from its driver, inputs generated, outputs poisoned, the contract struct over host
// pointers; and the op's own check of what the kernel wrote.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "harness/metrics.hpp"
#include "harness/op_registry.hpp"

namespace dsbench::emu_test {

template <class P>
struct HarnessCase {
  dsb_op op = DSB_OP_INVALID;
  std::unique_ptr<Problem> problem;
  TensorMap tensors;  // inputs and (poisoned) outputs; params point into them
  P params{};
};

// poison: the byte every output starts as (the runner uses 0xff; int32 outputs where -1 is a valid
// value want another). ctx: the rank, for a rank of an expert-parallel world (emu_test::run_ranks).
template <class P>
HarnessCase<P> prepare_case(dsb_op op, const nlohmann::json& json, uint64_t seed, uint8_t poison,
                            const RankContext& ctx = RankContext{0, 1, nullptr, 0}) {
  HarnessCase<P> c;
  c.op = op;
  c.problem = find_driver(op)->make_on(json, ctx);
  for (const TensorSpec& s : c.problem->inputs()) c.tensors.emplace(s.name, HostTensor(s));
  c.problem->generate(seed, c.tensors);
  for (const TensorSpec& s : c.problem->outputs()) {
    HostTensor t(s);
    std::memset(t.data.data(), poison, t.data.size());
    c.tensors.emplace(s.name, std::move(t));
  }
  std::map<std::string, void*> ptrs;
  for (auto& [name, t] : c.tensors) ptrs[name] = t.data.data();
  const std::vector<uint8_t> bytes = c.problem->params(ptrs);
  std::memcpy(&c.params, bytes.data(), sizeof c.params);
  return c;
}

// The harness's own verdict on every output, checked in full.
template <class P>
void expect_case_passes(const HarnessCase<P>& c, const std::string& what) {
  VerifyPolicy full;
  full.force_full = true;
  TensorMap inputs;
  for (const TensorSpec& s : c.problem->inputs()) inputs.emplace(s.name, c.tensors.at(s.name));
  const auto tol = find_driver(c.op)->default_tolerances();
  for (const OutputCheck& check : c.problem->reference(inputs, full, 7)) {
    const OutputAccuracy a = compare_output(check, tol.at(check.output), c.tensors.at(check.output));
    EXPECT_TRUE(a.passed) << what << " " << check.output << ": " << a.mismatches << " mismatches, "
                          << a.nonfinite_mismatches << " non-finite, cos_diff " << a.cos_diff << ", worst "
                          << a.worst_expected << " vs " << a.worst_actual << " (" << a.rule << ")";
  }
}

}  // namespace dsbench::emu_test
