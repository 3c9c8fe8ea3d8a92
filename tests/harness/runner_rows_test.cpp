// A case never disappears from a run: whatever --kernel and --case select, a malformed case (an
// unknown op, a non-object entry, a duplicate id) is an error row of its own.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "harness/report_table.hpp"

#include "harness/runner.hpp"
#include "harness/suite.hpp"
#include "kernels/cpu/cpu_backend.hpp"

namespace dsbench {
namespace {

TEST(RunnerRows, AMalformedCaseIsAnErrorRowUnderAnyKernelFilter) {
  const Suite suite = parse_suite(
      {{"name", "t"},
       {"cases",
        {5,
         {{"id", "gemm_fp8_blockscaled/typo"}, {"op", "gemm_fp8_blockscaledd"}, {"params", {{"m", 1}, {"n", 64}, {"k", 128}}}},
         {{"id", "gemm_fp8_blockscaled/ok"}, {"op", "gemm_fp8_blockscaled"}, {"params", {{"m", 1}, {"n", 64}, {"k", 128}}}},
         {{"id", "gemm_fp8_blockscaled/ok"}, {"op", "gemm_fp8_blockscaled"}, {"params", {{"m", 2}, {"n", 64}, {"k", 128}}}}}}},
      "t.json");
  auto backend = cpu::make_cpu_backend();
  for (const char* glob : {"*", "*optimized", "cpu.gemm_fp8_blockscaled.reference"}) {
    SCOPED_TRACE(glob);
    RunOptions o;
    o.kernel_glob = glob;
    o.verify_only = true;
    const std::vector<ResultRow> rows = run_suite(suite, *backend, o, nullptr);
    std::map<std::string, std::vector<const ResultRow*>> by_case;
    for (const ResultRow& r : rows) by_case[r.case_id].push_back(&r);
    ASSERT_EQ(by_case.count("#0"), 1u);
    EXPECT_EQ(by_case["#0"].at(0)->disposition, "error");
    EXPECT_NE(by_case["#0"].at(0)->reason.find("case 0: expected an object"), std::string::npos);
    ASSERT_EQ(by_case.count("gemm_fp8_blockscaled/typo"), 1u) << "the unknown op vanished";
    EXPECT_EQ(by_case["gemm_fp8_blockscaled/typo"].at(0)->disposition, "error");
    EXPECT_NE(by_case["gemm_fp8_blockscaled/typo"].at(0)->reason.find("unknown op \"gemm_fp8_blockscaledd\""),
              std::string::npos);
    ASSERT_EQ(by_case.count("gemm_fp8_blockscaled/ok#3"), 1u);
    EXPECT_NE(by_case["gemm_fp8_blockscaled/ok#3"].at(0)->reason.find("duplicate of case 2"), std::string::npos);
    for (const ResultRow* r : by_case["gemm_fp8_blockscaled/ok"]) EXPECT_EQ(r->disposition, "passed") << r->reason;
  }
}

TEST(RunnerRows, TheTableEscapesControlCharactersAndSaysWhenARunWasInterrupted) {
  ResultRow r;
  r.case_id = "g/x";
  r.kernel = "vendor.gemm_fp8_blockscaled.k";
  r.disposition = "error";
  r.reason = "vendor said \x1b[2J\x1b[31mboom\x07";
  std::ostringstream os;
  print_table_row(os, r);
  EXPECT_EQ(os.str().find('\x1b'), std::string::npos) << "an escape reached the terminal";
  EXPECT_NE(os.str().find("vendor said \\x1b[2J\\x1b[31mboom\\x07"), std::string::npos) << os.str();
  std::ostringstream a, b;
  print_summary(a, {r}, false);
  print_summary(b, {r}, true);
  EXPECT_EQ(a.str(), "\n1 results: 1 error\n");
  EXPECT_EQ(b.str(), "\n1 results (interrupted: the run stopped early): 1 error\n");
}

}  // namespace
}  // namespace dsbench
