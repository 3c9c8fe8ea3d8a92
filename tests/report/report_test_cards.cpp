#include "report_test_cards.hpp"

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "harness/rng.hpp"
#include "harness/scorecard.hpp"
#include "kernels/cpu/cpu_backend.hpp"

namespace dsbench::report::testing {
namespace fs = std::filesystem;

std::vector<double> lognormal_samples(int n, double median_ms, double sigma, uint64_t seed) {
  const CounterRng rng(seed, 0x5eed);
  std::vector<double> out;
  for (int i = 0; i < n; ++i) {
    const double u1 = (static_cast<double>(rng.bits(2 * i) >> 11) + 0.5) / 9007199254740992.0;
    const double u2 = static_cast<double>(rng.bits(2 * i + 1) >> 11) / 9007199254740992.0;
    const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);  // Box-Muller
    out.push_back(median_ms * std::exp(sigma * z));
  }
  return out;
}

ResultRow timed_row(const std::string& shape, const std::string& variant, std::vector<double> samples_ms,
                    double cos_diff) {
  ResultRow r = untimed_row(shape, variant, "passed", "");
  r.verification = "full";
  OutputAccuracy a;
  a.output = "d";
  a.tolerance = Tolerance{0.0, 1e-4, 2.01 / 256, 1e-5};
  a.abs_effective = 0.01;
  a.rule = "full: every valid element";
  a.total = a.checked = 4096;
  a.cos_diff = cos_diff;
  a.max_abs_err = 0.125;
  a.max_rel_err = 0.0039;
  a.worst_coord = {1, 2};
  a.worst_expected = 32.0;
  a.worst_actual = 32.125;
  a.passed = true;
  r.accuracy = {a};
  TimingStats t;
  t.method = "device events";  // the timing whose per-result verdicts gate by default (compare.hpp)
  t.cache = "cold (flushed)";
  t.warmup = 1;
  t.raw_ms = std::move(samples_ms);
  t.stop_reason = "time budget";
  summarize(&t);
  r.timing = t;
  return r;
}

ResultRow untimed_row(const std::string& shape, const std::string& variant, const std::string& disposition,
                      const std::string& reason) {
  ResultRow r;
  r.case_id = "gemm_fp8_blockscaled/" + shape;
  r.op = "gemm_fp8_blockscaled";
  r.params = {{"m", 64}, {"n", 64}, {"k", 128}};
  r.seed = 7;
  r.kernel = "cpu.gemm_fp8_blockscaled." + variant;
  r.backend = "cpu";
  r.device = 0;
  r.disposition = disposition;
  r.reason = reason;
  r.flops = 2.0 * 64 * 64 * 128;
  r.bytes = 64 * 128 * 2 + 64 * 64 * 2;
  return r;
}

nlohmann::json card_of(const std::vector<ResultRow>& rows) {
  static const auto backend = cpu::make_cpu_backend();
  RunContext ctx;
  ctx.command_line = "dsbench run (test)";
  ctx.suite_name = "test";
  ctx.suite_path = "suites/test.json";
  ctx.seed = 7;
  ctx.backends = {backend.get()};
  ctx.backend_used = "cpu";
  nlohmann::json doc = make_scorecard(ctx, rows);
  doc["context"]["host"] = "testhost";
  doc["context"]["tool"]["git_dirty"] = false;
  return doc;
}

std::string write_temp_text(const std::string& text, const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("dsbench-report-test-" + std::to_string(getpid()));
  fs::create_directories(dir);
  const fs::path p = dir / name;
  std::ofstream(p, std::ios::binary) << text;
  return p.string();
}

std::string write_temp(const nlohmann::json& doc, const std::string& name) { return write_temp_text(doc.dump(1), name); }

Scorecard load(const nlohmann::json& doc, const std::string& name) { return load_scorecard(write_temp(doc, name)); }

}  // namespace dsbench::report::testing
