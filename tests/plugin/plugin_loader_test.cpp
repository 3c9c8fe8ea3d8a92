// The plugin loader: the example plugin loads and runs through the C ABI; every malformed plugin is
// refused with a message naming the file and the defect.
#include <gtest/gtest.h>

#include "harness/error.hpp"
#include "harness/op_registry.hpp"
#include "harness/plugin_backend.hpp"
#include "harness/runner.hpp"

namespace dsbench {
namespace {

std::string load_error(const std::string& path) {
  try {
    load_plugin(path, {"cpu"});
  } catch (const Error& e) {
    return e.what();
  }
  return "(loaded)";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// Runs the plugin's first kernel (a dense GEMM) in this process on one generated, checked case.
Execution run_dense_gemm(const char* plugin, const nlohmann::json& params, const RunOptions& opts) {
  auto b = load_plugin(plugin, {"cpu"});
  const OpDriver* driver = find_driver(DSB_OP_GEMM_FP8_BLOCKSCALED);
  auto problem = driver->make(params);
  TensorMap inputs;
  for (const TensorSpec& s : problem->inputs()) inputs.emplace(s.name, HostTensor(s));
  problem->generate(3, inputs);
  const auto checks = problem->reference(inputs, VerifyPolicy{}, 1);
  return execute(*b->kernels()[0], *b->device(0), *problem, inputs, &checks, driver->default_tolerances(), opts);
}

TEST(PluginLoader, LoadsTheExamplePluginWithItsKernelsAndDevice) {
  auto b = load_plugin(DSB_EXAMPLE_PLUGIN, {"cpu"});
  EXPECT_EQ(b->name(), "host_example");
  ASSERT_EQ(b->device_count(), 1);
  EXPECT_EQ(b->device(0)->name(), "Example host accelerator");
  EXPECT_TRUE(b->device(0)->host_accessible());
  std::vector<std::string> ids;
  for (const Kernel* k : b->kernels()) ids.push_back(k->id());
  EXPECT_EQ(ids, (std::vector<std::string>{"host_example.gemm_fp8_blockscaled.blockpromote",
                                           "host_example.gemm_fp8_grouped_contiguous.blockpromote",
                                           "host_example.gemm_fp8_grouped_masked.blockpromote"}));
  const Properties info = b->build_info();
  EXPECT_EQ(std::get<std::string>(info.at("plugin_path")), DSB_EXAMPLE_PLUGIN);
  EXPECT_EQ(std::get<int64_t>(info.at("abi_version")), 1);
}

TEST(PluginLoader, RunsAPluginKernelInProcessThroughTheHarness) {
  RunOptions opts;
  opts.timing.min_reps = 2;
  opts.timing.budget_s = 0.01;
  const Execution ex = run_dense_gemm(DSB_EXAMPLE_PLUGIN, {{"m", 5}, {"n", 70}, {"k", 256}}, opts);
  EXPECT_EQ(ex.row.disposition, "passed") << ex.row.reason;
  ASSERT_TRUE(ex.row.timing.has_value());
  EXPECT_GE(ex.row.timing->samples, 2);
}

TEST(PluginLoader, ReportsTheKernelsErrorStatusAndText) {
  const Execution ex = run_dense_gemm(DSB_FAULTY_ERROR_STATUS, {{"m", 2}, {"n", 64}, {"k", 128}}, RunOptions{});
  EXPECT_EQ(ex.row.disposition, "error");
  EXPECT_TRUE(contains(ex.row.reason, "device_error")) << ex.row.reason;
  EXPECT_TRUE(contains(ex.row.reason, "ECC error on HBM stack 3")) << ex.row.reason;
}

TEST(PluginLoader, RefusesAMissingFile) {
  EXPECT_EQ(load_error("/nonexistent/libx.so"), "plugin /nonexistent/libx.so: no such file");
}

TEST(PluginLoader, RefusesAFileThatIsNotASharedLibrary) {
  const std::string e = load_error(DSB_SOURCE_DIR "/suites/smoke.json");
  EXPECT_TRUE(contains(e, "smoke.json: cannot be loaded: ")) << e;
}

TEST(PluginLoader, RefusesALibraryWithoutTheInitSymbol) {
  EXPECT_TRUE(contains(load_error(DSB_FAULTY_NO_SYMBOL), ": does not export dsbench_plugin_init"));
}

TEST(PluginLoader, RefusesANullTable) {
  EXPECT_TRUE(contains(load_error(DSB_FAULTY_NULL_TABLE), ": dsbench_plugin_init returned NULL"));
}

TEST(PluginLoader, RefusesAnotherAbiVersion) {
  const std::string e = load_error(DSB_FAULTY_ABI);
  EXPECT_TRUE(contains(e, ": built for plugin ABI v2, this dsbench speaks v1")) << e;
}

TEST(PluginLoader, RefusesATableWithARequiredEntryMissing) {
  EXPECT_TRUE(contains(load_error(DSB_FAULTY_MALFORMED), ": malformed table: device_count is NULL"));
}

TEST(PluginLoader, RefusesATableShorterThanAbiV1) {
  EXPECT_TRUE(contains(load_error(DSB_FAULTY_SHORT_TABLE), ": malformed table: struct_size 16 is smaller than ABI v1's"));
}

TEST(PluginLoader, RefusesAKernelWithAnUnknownOp) {
  const std::string e = load_error(DSB_FAULTY_UNKNOWN_OP);
  EXPECT_TRUE(contains(e, ": kernel 0: unknown op 99")) << e;
}

TEST(PluginLoader, RefusesABackendNameThatIsTaken) {
  try {
    load_plugin(DSB_EXAMPLE_PLUGIN, {"cpu", "host_example"});
    FAIL();
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "name \"host_example\" is already taken")) << e.what();
  }
}

}  // namespace
}  // namespace dsbench
