// Dump writes what replay reads: the same inputs, bit for bit, with dtype and shape checks.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>

#include "harness/dump.hpp"
#include "harness/error.hpp"
#include "harness/npy.hpp"
#include "harness/op_registry.hpp"
#include "harness/runner.hpp"
#include "kernels/cpu/cpu_backend.hpp"

namespace dsbench {
namespace {
namespace fs = std::filesystem;

struct Fixture {
  std::unique_ptr<Backend> backend = cpu::make_cpu_backend();
  CaseSpec spec;
  std::unique_ptr<Problem> problem;
  TensorMap inputs;
  std::vector<OutputCheck> checks;
  const Kernel* kernel = nullptr;
  // ctest runs tests of this file in parallel processes: each needs its own folder.
  fs::path dir = fs::temp_directory_path() /
                 ("dsbench_dump_test_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
                  "_" + std::to_string(::getpid()));

  Fixture() {
    fs::remove_all(dir);
    spec.id = "gemm_fp8_grouped_contiguous/t";
    spec.op = "gemm_fp8_grouped_contiguous";
    spec.params = {{"num_groups", 2}, {"m_per_group", {3, 130}}, {"n", 96}, {"k", 256}, {"scale_dtype", "ue8m0"}};
    problem = find_driver(DSB_OP_GEMM_FP8_GROUPED_CONTIGUOUS)->make(spec.params);
    for (const TensorSpec& s : problem->inputs()) inputs.emplace(s.name, HostTensor(s));
    problem->generate(77, inputs);
    checks = problem->reference(inputs, VerifyPolicy{}, 1);
    for (const Kernel* k : backend->kernels())
      if (k->id() == "cpu.gemm_fp8_grouped_contiguous.optimized") kernel = k;
  }
  ~Fixture() { fs::remove_all(dir); }
};

TEST(DumpReplay, IdsThatSanitiseAlikeGetFoldersOfTheirOwn) {
  Fixture f;
  ASSERT_NE(f.kernel, nullptr);
  std::set<std::string> folders;
  for (const char* id : {"g/x", "g_x", "g:x", "g x"}) {
    CaseSpec c = f.spec;
    c.id = id;
    folders.insert(dump_case(f.dir.string(), c, 77, *f.kernel, *f.problem, {}, VerifyPolicy{}, f.inputs, nullptr, nullptr));
  }
  EXPECT_EQ(folders.size(), 4u) << "two ids overwrote each other's dump";
  for (const std::string& d : folders) EXPECT_EQ(read_case_json(d).case_id.size(), 3u);
}

TEST(DumpReplay, RoundTripsInputsBitForBitAndKeepsTheReference) {
  Fixture f;
  ASSERT_NE(f.kernel, nullptr);
  RunOptions opts;
  opts.verify_only = true;
  const auto tol = find_driver(DSB_OP_GEMM_FP8_GROUPED_CONTIGUOUS)->default_tolerances();
  Execution ex = execute(*f.kernel, *f.backend->device(0), *f.problem, f.inputs, &f.checks, tol, opts);
  ASSERT_EQ(ex.row.disposition, "passed") << ex.row.reason;
  const std::string folder = dump_case(f.dir.string(), f.spec, 77, *f.kernel, *f.problem, tol, VerifyPolicy{}, f.inputs, &ex.outputs, &f.checks);
  EXPECT_EQ(fs::path(folder).filename().string().rfind("gemm_fp8_grouped_contiguous_t__cpu.gemm_fp8_grouped_contiguous.optimized-", 0), 0u)
      << folder;

  const DumpedCase d = read_case_json(folder);
  EXPECT_EQ(d.seed, 77u);
  EXPECT_EQ(d.kernel, f.kernel->id());
  EXPECT_EQ(d.meta["tensors"]["a"]["dtype"], "e4m3fn");
  EXPECT_EQ(d.meta["tensors"]["scale_a"]["dtype"], "ue8m0");
  EXPECT_EQ(d.meta["tensors"]["d_ref"]["role"], "reference");
  EXPECT_EQ(npy::read(folder + "/a.npy").descr, "|u1");
  EXPECT_EQ(npy::read(folder + "/d.npy").descr, "<u2");
  EXPECT_EQ(npy::read(folder + "/m_indices.npy").descr, "<i4");

  const TensorMap back = read_inputs(folder, *f.problem);
  for (const auto& [name, t] : f.inputs) EXPECT_EQ(back.at(name).data, t.data) << name;
  // Padding rows are unchecked: the reference file holds the poison there, and values elsewhere.
  const npy::Array ref = npy::read(folder + "/d_ref.npy");
  const auto* r = reinterpret_cast<const uint16_t*>(ref.data.data());
  EXPECT_EQ(r[3 * 96], 0xffff);  // row 3 is padding of group 0
  EXPECT_NE(r[0], 0xffff);
}

TEST(DumpReplay, ReadInputsNamesTheFileOnDtypeAndShapeMismatch) {
  Fixture f;
  fs::create_directories(f.dir);
  write_tensors(f.dir.string(), f.inputs, "input");
  npy::Array wrong_dtype{"<f4", {f.inputs.at("b").spec.shape}, {}};
  wrong_dtype.data.resize(static_cast<size_t>(wrong_dtype.numel()) * 4);
  npy::write((f.dir / "b.npy").string(), wrong_dtype);
  try {
    read_inputs(f.dir.string(), *f.problem);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("b.npy: dtype mismatch: file has <f4"), std::string::npos) << e.what();
  }
  npy::Array wrong_shape{"|u1", {2, 96, 128}, std::vector<uint8_t>(2 * 96 * 128)};
  npy::write((f.dir / "b.npy").string(), wrong_shape);
  try {
    read_inputs(f.dir.string(), *f.problem);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("b.npy: shape mismatch: file has [2, 96, 128], params give [2, 96, 256]"),
              std::string::npos) << e.what();
  }
  fs::remove(f.dir / "scale_b.npy");
  EXPECT_THROW(read_inputs(f.dir.string(), *f.problem), Error);
}

TEST(DumpReplay, ReadCaseJsonRejectsAFolderWithoutOne) {
  EXPECT_THROW(read_case_json("/nonexistent/dsbench"), Error);
}

}  // namespace
}  // namespace dsbench
