// Conformance: every registered kernel of every backend with a device, on every smoke case of its op,
// against the FP64 reference with the op's tolerances. Adding a kernel adds its tests; a backend
// without a device (no GPU here) skips cleanly.
#include <gtest/gtest.h>

#include "harness/backend_registry.hpp"
#include "harness/op_registry.hpp"
#include "harness/runner.hpp"
#include "harness/suite.hpp"

namespace dsbench {
namespace {

struct Combo {
  std::string backend, kernel, case_id;
};

std::vector<std::unique_ptr<Backend>>& backends() {
  static auto b = make_backends();
  return b;
}

std::vector<Combo> combos() {
  std::vector<Combo> v;
  const Suite smoke = load_suite("smoke");
  for (const auto& b : backends())
    for (const Kernel* k : b->kernels())
      for (const CaseSpec& c : smoke.cases)
        if (dsb_op_from_name(c.op.c_str()) == k->op()) v.push_back({b->name(), k->id(), c.id});
  return v;
}

class Smoke : public ::testing::TestWithParam<Combo> {};

TEST_P(Smoke, KernelMatchesTheReference) {
  const Combo& combo = GetParam();
  Backend* backend = nullptr;
  for (const auto& b : backends()) if (b->name() == combo.backend) backend = b.get();
  ASSERT_NE(backend, nullptr);
  if (backend->device_count() == 0) GTEST_SKIP() << combo.backend << ": " << backend->unavailable_reason();
  const Suite smoke = load_suite("smoke");
  const CaseSpec* c = nullptr;
  for (const CaseSpec& s : smoke.cases) if (s.id == combo.case_id) c = &s;
  ASSERT_NE(c, nullptr);
  const Kernel* kernel = nullptr;
  for (const Kernel* k : backend->kernels()) if (k->id() == combo.kernel) kernel = k;
  const OpDriver* driver = find_driver(kernel->op());
  ASSERT_NE(driver, nullptr);
  auto problem = driver->make(params_for_device(c->params, *backend->device(0)));
  TensorMap inputs;
  for (const TensorSpec& s : problem->inputs()) inputs.emplace(s.name, HostTensor(s));
  const uint64_t seed = ::testing::UnitTest::GetInstance()->random_seed() + 1000003u;  // fresh per run
  problem->generate(seed, inputs);
  VerifyPolicy full;
  full.force_full = true;
  const auto checks = problem->reference(inputs, full, seed);
  RunOptions opts;
  opts.verify_only = true;
  const Execution ex = execute(*kernel, *backend->device(0), *problem, inputs, &checks,
                               merge_tolerances(driver->default_tolerances(), c->tolerance), opts);
  if (ex.row.disposition == "not_supported") GTEST_SKIP() << ex.row.reason;
  EXPECT_EQ(ex.row.disposition, "passed") << ex.row.reason << " (seed " << seed << ")";
  for (const OutputAccuracy& a : ex.row.accuracy) {
    EXPECT_EQ(a.checked, a.total) << a.output;
    EXPECT_GT(a.checked, 0) << a.output;
  }
}

std::string combo_name(const ::testing::TestParamInfo<Combo>& info) {
  // "<backend>_<variant>__<case id>": the op is already in the case id.
  const std::string& k = info.param.kernel;
  std::string s = info.param.backend + "_" + k.substr(k.rfind('.') + 1) + "__" + info.param.case_id;
  for (char& ch : s) if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
}

INSTANTIATE_TEST_SUITE_P(Conformance, Smoke, ::testing::ValuesIn(combos()), combo_name);

}  // namespace
}  // namespace dsbench
