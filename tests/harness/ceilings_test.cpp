// Measured ceilings: which ceiling each op is measured against, the per-device cache (measured
// once, then read; a damaged file measured anew), the modes, and the scorecard fields they add.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "harness/ceilings.hpp"
#include "harness/datasheets.hpp"
#include "harness/error.hpp"
#include "harness/json_schema.hpp"
#include "harness/runner.hpp"
#include "harness/scorecard.hpp"
#include "tests/common/question_device.hpp"

namespace fs = std::filesystem;

namespace dsbench {
namespace {

// A device whose ceilings are known numbers; counts its measurements.
class KnownDevice final : public QuestionDevice {
 public:
  explicit KnownDevice(bool measures = true) : QuestionDevice("test", "known device"), measures_(measures) {}
  Properties properties() const override { return {{"memory_bytes", int64_t{1} << 30}}; }
  Status measure_ceilings(Ceilings* out) override {
    if (!measures_) return Device::measure_ceilings(out);
    ++measured;
    (*out)["copy_gbps"] = {100.0, "test copy"};
    (*out)["gemm_fp8_tflops"] = {2.0, "test fp8"};
    (*out)["gemm_f32_tflops"] = {0.5, "test f32"};
    return Status::success();
  }
  int measured = 0;

 private:
  bool measures_;
};

class CeilingsCache : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("dsbench-ceilings-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    setenv("DSBENCH_CACHE_DIR", dir_.c_str(), 1);
  }
  void TearDown() override {
    unsetenv("DSBENCH_CACHE_DIR");
    fs::remove_all(dir_);
  }
  fs::path dir_;
};

TEST_F(CeilingsCache, MeasuresOnceThenReadsTheCacheUnlessAskedToMeasure) {
  KnownDevice d;
  std::string note;
  const nlohmann::json first = obtain_ceilings("test", d, CeilingsMode::kAuto, &note);
  EXPECT_EQ(first.at("source"), "measured");
  EXPECT_EQ(d.measured, 1);
  EXPECT_EQ(ceilings_cache_path(), (dir_ / "ceilings.json").string());
  EXPECT_TRUE(fs::exists(ceilings_cache_path()));
  const nlohmann::json second = obtain_ceilings("test", d, CeilingsMode::kAuto, &note);
  EXPECT_EQ(second.at("source"), "cache");
  EXPECT_EQ(d.measured, 1);
  EXPECT_EQ(second.at("values"), first.at("values"));
  EXPECT_NE(note.find("measured " + first.at("measured_at").get<std::string>()), std::string::npos) << note;
  EXPECT_EQ(obtain_ceilings("test", d, CeilingsMode::kMeasure, &note).at("source"), "measured");
  EXPECT_EQ(d.measured, 2);
  EXPECT_TRUE(obtain_ceilings("test", d, CeilingsMode::kOff, &note).is_null());
  EXPECT_EQ(d.measured, 2);
}

TEST_F(CeilingsCache, MeasuresAgainWhenTheCacheIsDamagedAndSaysWhyWhenNoneCanBeMeasured) {
  fs::create_directories(dir_);
  std::ofstream(ceilings_cache_path()) << "{ not json";
  KnownDevice d;
  std::string note;
  EXPECT_EQ(obtain_ceilings("test", d, CeilingsMode::kAuto, &note).at("source"), "measured");
  KnownDevice mute(false);
  EXPECT_TRUE(obtain_ceilings("other", mute, CeilingsMode::kAuto, &note).is_null());
  EXPECT_NE(note.find("measures no ceilings"), std::string::npos) << note;
  EXPECT_THROW(ceilings_mode_from("sometimes"), Error);
}

TEST(CeilingsFraction, NamesTheCeilingEachOpIsMeasuredAgainst) {
  const nlohmann::json c = {{"values",
                             {{"copy_gbps", {{"value", 100.0}, {"method", "m"}}},
                              {"gemm_fp8_tflops", {{"value", 2.0}, {"method", "m"}}},
                              {"gemm_f32_tflops", {{"value", 0.5}, {"method", "m"}}}}}};
  const nlohmann::json gemm = of_ceiling("gemm_fp8_grouped_masked", 1.0, 25.0, c);
  EXPECT_EQ(gemm.at("compute").at("ceiling"), "gemm_fp8_tflops");
  EXPECT_DOUBLE_EQ(gemm.at("compute").at("fraction").get<double>(), 0.5);
  EXPECT_EQ(gemm.at("bandwidth").at("ceiling"), "copy_gbps");
  EXPECT_DOUBLE_EQ(gemm.at("bandwidth").at("fraction").get<double>(), 0.25);
  // No BF16 GEMM ceiling: MLA falls back to the device's general one.
  EXPECT_EQ(of_ceiling("mla_decode", 0.25, 10.0, c).at("compute").at("ceiling"), "gemm_f32_tflops");
  const nlohmann::json route = of_ceiling("moe_route", 0.0, 50.0, c);
  EXPECT_FALSE(route.contains("compute"));
  EXPECT_DOUBLE_EQ(route.at("bandwidth").at("fraction").get<double>(), 0.5);
  EXPECT_TRUE(of_ceiling("gemm_fp8_blockscaled", 1.0, 1.0, nlohmann::json()).is_null());
}

TEST(CeilingsScorecard, AddsContextAndPerRowFractionsThatTheSchemaAccepts) {
  KnownDevice d;
  RunContext ctx;
  ctx.ceilings = {{"device_key", ceilings_device_key("test", d)}, {"source", "measured"},
                  {"measured_at", "2026-12-06T00:00:00Z"},
                  {"values", {{"copy_gbps", {{"value", 100.0}, {"method", "test copy"}}}}}};
  ResultRow r;
  r.case_id = "gemm_fp8_blockscaled/x";
  r.op = "gemm_fp8_blockscaled";
  r.kernel = "cpu.gemm_fp8_blockscaled.optimized";
  r.backend = "cpu";
  r.device = 0;
  r.disposition = "not_verified";  // --perf-only: timed, not checked
  r.flops = 2e9;
  r.bytes = 1e9;
  TimingStats t;
  t.method = "host steady_clock";
  t.cache = "cold (flushed)";
  t.samples = 3;
  t.median_ms = t.min_ms = t.max_ms = t.mean_ms = t.p10_ms = t.p90_ms = 20.0;
  t.raw_ms = {20.0, 20.0, 20.0};
  t.stop_reason = "time budget";
  r.timing = t;
  ctx.datasheet = datasheet_for("cuda", "NVIDIA H100 80GB HBM3");
  const nlohmann::json doc = make_scorecard(ctx, {r});
  EXPECT_EQ(doc.at("context").at("ceilings").at("device_key"), "test/known device/memory_bytes=1073741824");
  EXPECT_DOUBLE_EQ(doc.at("results")[0].at("metrics").at("of_ceiling").at("bandwidth").at("fraction").get<double>(), 0.5);
  EXPECT_EQ(doc.at("context").at("datasheet").at("device"), "H100 SXM5");
  EXPECT_DOUBLE_EQ(doc.at("results")[0].at("metrics").at("of_datasheet").at("bandwidth").at("fraction").get<double>(),
                   50.0 / 3350.0);  // 1e9 bytes in 20 ms = 50 GB/s
  EXPECT_DOUBLE_EQ(doc.at("results")[0].at("metrics").at("of_datasheet").at("compute").at("fraction").get<double>(),
                   0.1 / 1979.0);  // 2e9 flops in 20 ms = 0.1 TFLOPS, against dense FP8
  std::ifstream in(fs::path(DSB_SOURCE_DIR) / "results_schema/scorecard.schema.json");
  const auto violations = harness::validate_against_schema(nlohmann::json::parse(in), doc);
  for (const auto& v : violations) ADD_FAILURE() << v.instance_path << ": " << v.message;
}

TEST(Datasheets, KnowDevicesByTheNameTheirRuntimeReportsAndNeverGuess) {
  const nlohmann::json pcie = datasheet_for("cuda", "NVIDIA H100 PCIe");
  ASSERT_FALSE(pcie.is_null());
  EXPECT_EQ(pcie.at("device"), "H100 PCIe");  // not the SXM entry, though both names hold "H100"
  EXPECT_EQ(pcie.at("values").at("memory_gbps").at("value"), 2000.0);
  EXPECT_EQ(datasheet_for("cuda", "NVIDIA H200").at("values").at("fp8_tflops").at("value"), 1979.0);
  const nlohmann::json a100 = datasheet_for("cuda", "NVIDIA A100-SXM4-80GB");
  EXPECT_FALSE(a100.at("values").contains("fp8_tflops")) << "no FP8 on Ampere";
  EXPECT_TRUE(datasheet_for("cuda", "NVIDIA GeForce RTX 4090").is_null());
  EXPECT_TRUE(datasheet_for("cpu", "AMD EPYC").is_null());
  EXPECT_TRUE(datasheet_for("hip", "NVIDIA H100 80GB HBM3").is_null()) << "the backend must match too";
  // FP8 GEMMs and the MoE layer against the FP8 rate, MLA against BF16, routing bandwidth only.
  const nlohmann::json h100 = datasheet_for("cuda", "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(of_datasheet("moe_layer", 1.0, 1.0, h100).at("compute").at("datasheet"), "fp8_tflops");
  EXPECT_EQ(of_datasheet("mla_decode", 1.0, 1.0, h100).at("compute").at("datasheet"), "bf16_tflops");
  EXPECT_FALSE(of_datasheet("moe_route", 1.0, 1.0, h100).contains("compute"));
  EXPECT_TRUE(of_datasheet("mla_decode", 1.0, 1.0, a100).contains("compute"));
  EXPECT_TRUE(of_datasheet("gemm_fp8_blockscaled", 1.0, 1.0, nlohmann::json()).is_null());
}

}  // namespace
}  // namespace dsbench
