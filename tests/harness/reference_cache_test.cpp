// The reference cache (--reference-cache): a hit judges exactly as a recomputed reference does, and
// every kind of tampering or mismatch (a changed value, a changed hash, a truncated file, another
// build, other inputs) is caught and recomputed, never used.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "harness/metrics.hpp"
#include "harness/op_registry.hpp"
#include "harness/reference_cache.hpp"
#include "harness/runner.hpp"
#include "harness/scorecard.hpp"
#include "harness/suite.hpp"
#include "kernels/cpu/cpu_backend.hpp"

namespace dsbench {
namespace {
namespace fs = std::filesystem;

fs::path test_dir() {
  // ctest runs the tests of this file in parallel processes: each needs its own folder.
  const fs::path d = fs::temp_directory_path() /
                     ("dsbench_refcache_" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) +
                      "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

const CaseSpec& smoke_case(const std::string& id) {
  static const Suite suite = load_suite(resolve_suite_path("smoke"));
  for (const CaseSpec& c : suite.cases)
    if (c.id == id) return c;
  throw std::runtime_error("no smoke case " + id);
}

const Kernel* optimized_kernel(Backend& b, const std::string& op) {
  for (const Kernel* k : b.kernels())
    if (k->id() == "cpu." + op + ".optimized") return k;
  return nullptr;
}

// A case prepared as the runner prepares it, with its key.
struct Prepared {
  const CaseSpec& spec;
  std::unique_ptr<Problem> problem;
  TensorMap inputs;
  uint64_t seed;
  ReferenceKey key;
  Prepared(const CaseSpec& c, uint64_t s) : spec(c), seed(s) {
    problem = find_driver(dsb_op_from_name(c.op.c_str()))->make(c.params);
    for (const TensorSpec& t : problem->inputs()) inputs.emplace(t.name, HostTensor(t));
    problem->generate(seed, inputs);
    key = reference_key(c.op, c.id, c.params, seed, sample_seed(seed), VerifyPolicy{}, problem->inputs(), inputs);
  }
};

std::vector<ResultRow> run_with_cache(const CaseSpec& c, uint64_t seed, const fs::path& dir) {
  static std::unique_ptr<Backend> backend = cpu::make_cpu_backend();
  RunOptions opts;
  opts.verify_only = true;
  opts.reference_cache = dir.string();
  const Kernel* k = optimized_kernel(*backend, c.op);
  if (k == nullptr) throw std::runtime_error("no optimized kernel for " + c.op);
  return run_case_kernels("smoke", c, seed, *backend->device(0), {k}, opts);
}

const std::vector<std::string> kCachedCases = {
    "gemm_fp8_blockscaled/m67_n200_k384",
    "gemm_fp8_blockscaled/m30_n128_k4096_accumulation_probe",
    "gemm_fp8_grouped_contiguous/g4_m100-0-256-37_n256_k512",
    "gemm_fp8_grouped_masked/g2_mmax64_n100_k256",
    "mla_decode/b4_sq2_hq3_sk0-1-20-300_causal",
    "mla_decode/b2_sq4_hq16_sk200-65_causal_fp8",
};

TEST(ReferenceCache, AHitGivesTheSameVerdictsAndAccuracyAsARecomputedReference) {
  const fs::path dir = test_dir();
  for (const std::string& id : kCachedCases) {
    SCOPED_TRACE(id);
    const CaseSpec& c = smoke_case(id);
    const std::vector<ResultRow> first = run_with_cache(c, 4242, dir);
    const std::vector<ResultRow> second = run_with_cache(c, 4242, dir);
    ASSERT_EQ(first.size(), 1u);
    ASSERT_EQ(second.size(), 1u);
    EXPECT_EQ(first[0].reference.source, ReferenceSource::kComputed);
    EXPECT_NE(first[0].reference.detail.find("stored"), std::string::npos) << first[0].reference.detail;
    EXPECT_EQ(second[0].reference.source, ReferenceSource::kCache) << second[0].reference.detail;
    EXPECT_EQ(first[0].disposition, "passed") << first[0].reason;
    EXPECT_EQ(second[0].disposition, first[0].disposition);
    EXPECT_EQ(row_json(second[0]).at("accuracy"), row_json(first[0]).at("accuracy"));
    EXPECT_EQ(second[0].verification, first[0].verification);
  }
  fs::remove_all(dir);
}

TEST(ReferenceCache, ACachedReferenceCatchesAWrongOutputExactlyAsARecomputedOneDoes) {
  const fs::path dir = test_dir();
  for (const std::string& id : kCachedCases) {
    SCOPED_TRACE(id);
    Prepared p(smoke_case(id), 99);
    const std::vector<OutputCheck> computed = p.problem->reference(p.inputs, VerifyPolicy{}, sample_seed(p.seed));
    const ReferenceCache cache(dir.string());
    cache.store(p.key, computed);
    std::vector<OutputCheck> loaded;
    std::string why;
    ASSERT_TRUE(cache.load(p.key, &loaded, &why)) << why;
    p.problem->restore_checks(loaded);
    ASSERT_EQ(loaded.size(), computed.size());
    const auto tol = find_driver(dsb_op_from_name(p.spec.op.c_str()))->default_tolerances();
    for (size_t i = 0; i < computed.size(); ++i) {
      EXPECT_EQ(loaded[i].index, computed[i].index);
      EXPECT_EQ(loaded[i].expected, computed[i].expected);  // bit for bit: doubles stored raw
      EXPECT_EQ(loaded[i].rule, computed[i].rule);
      EXPECT_EQ(static_cast<bool>(loaded[i].custom), static_cast<bool>(computed[i].custom));
      // An output that is the reference with one checked element off by a lot: both judge it alike.
      const TensorSpec& spec = [&]() -> const TensorSpec& {
        for (const TensorSpec& s : p.problem->outputs())
          if (s.name == computed[i].output) return s;
        throw std::runtime_error("no output " + computed[i].output);
      }();
      HostTensor wrong(spec);
      for (size_t j = 0; j < computed[i].index.size(); ++j)
        store_from_double(wrong.data.data(), spec.dtype, computed[i].index[j], computed[i].expected[j]);
      const size_t victim = computed[i].index.size() / 2;
      store_from_double(wrong.data.data(), spec.dtype, computed[i].index[victim], computed[i].expected[victim] * 3 + 7);
      const OutputAccuracy a = compare_output(computed[i], tol.at(computed[i].output), wrong);
      const OutputAccuracy b = compare_output(loaded[i], tol.at(loaded[i].output), wrong);
      EXPECT_FALSE(a.passed);
      EXPECT_EQ(a.passed, b.passed);
      EXPECT_EQ(a.mismatches, b.mismatches);
      EXPECT_EQ(a.checked, b.checked);
      EXPECT_EQ(a.cos_diff, b.cos_diff);
    }
  }
  fs::remove_all(dir);
}

// Every tampering is rejected with its reason, the reference is recomputed, and the entry rewritten.
class Tampered : public ::testing::TestWithParam<std::string> {};

TEST_P(Tampered, IsDetectedRecomputedAndRewritten) {
  const fs::path dir = test_dir();
  const CaseSpec& c = smoke_case("gemm_fp8_blockscaled/m67_n200_k384");
  ASSERT_EQ(run_with_cache(c, 7, dir).at(0).reference.source, ReferenceSource::kComputed);
  Prepared p(c, 7);
  const ReferenceCache cache(dir.string());
  const std::string path = cache.entry_path(p.key);
  ASSERT_TRUE(fs::exists(path));
  std::string bytes;
  {
    std::ifstream f(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  const std::string kind = GetParam();
  std::string expect;
  if (kind == "value") {  // one expected value's lowest mantissa bit, deep in the payload
    bytes[bytes.size() - 16 - 3] ^= 0x01;
    expect = "content hash";
  } else if (kind == "hash") {
    bytes.back() ^= 0x80;
    expect = "content hash";
  } else if (kind == "truncated") {
    bytes.resize(bytes.size() / 2);
    expect = "rejected";
  } else if (kind == "header_length") {
    bytes[15] = static_cast<char>(0x7f);  // the header length's top byte
    expect = "truncated";
  } else if (kind == "empty") {
    bytes.clear();
    expect = "truncated";
  }
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  std::vector<OutputCheck> loaded;
  std::string why;
  EXPECT_FALSE(cache.load(p.key, &loaded, &why));
  EXPECT_NE(why.find(expect), std::string::npos) << why;
  EXPECT_TRUE(loaded.empty());

  const ResultRow r = run_with_cache(c, 7, dir).at(0);
  EXPECT_EQ(r.reference.source, ReferenceSource::kComputed);
  EXPECT_NE(r.reference.detail.find(expect), std::string::npos) << r.reference.detail;
  EXPECT_EQ(r.disposition, "passed") << r.reason;
  EXPECT_EQ(run_with_cache(c, 7, dir).at(0).reference.source, ReferenceSource::kCache);  // rewritten whole
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(AllKinds, Tampered,
                         ::testing::Values("value", "hash", "truncated", "header_length", "empty"));

TEST(ReferenceCache, AnEntryMadeFromOtherInputsIsNotTrusted) {
  // What another host's generator (another libm) would leave: the same case, other floats.
  const fs::path dir = test_dir();
  Prepared p(smoke_case("mla_decode/b2_sq1_hq16_sk140"), 11);
  ReferenceKey other = p.key;
  other.inputs_hash = std::string(32, 'a');
  const ReferenceCache cache(dir.string());
  cache.store(other, p.problem->reference(p.inputs, VerifyPolicy{}, sample_seed(p.seed)));
  std::vector<OutputCheck> loaded;
  std::string why;
  EXPECT_FALSE(cache.load(p.key, &loaded, &why));
  EXPECT_NE(why.find("the inputs generated here hash to " + p.key.inputs_hash), std::string::npos) << why;
  const ResultRow r = run_with_cache(p.spec, 11, dir).at(0);
  EXPECT_EQ(r.reference.source, ReferenceSource::kComputed);
  EXPECT_NE(r.reference.detail.find("inputs generated here"), std::string::npos) << r.reference.detail;
  fs::remove_all(dir);
}

TEST(ReferenceCache, AnEntryFromAnotherBuildIsRecomputedWithAClearMessage) {
  const fs::path dir = test_dir();
  Prepared p(smoke_case("gemm_fp8_grouped_masked/g2_mmax64_n100_k256"), 5);
  ReferenceKey other = p.key;
  other.build = "dsbench 0.1.0 0123456789ab";
  const ReferenceCache cache(dir.string());
  cache.store(other, p.problem->reference(p.inputs, VerifyPolicy{}, sample_seed(p.seed)));
  const ResultRow r = run_with_cache(p.spec, 5, dir).at(0);
  EXPECT_EQ(r.reference.source, ReferenceSource::kComputed);
  EXPECT_NE(r.reference.detail.find("another build (dsbench 0.1.0 0123456789ab; this is " + this_build()),
            std::string::npos)
      << r.reference.detail;
}

TEST(ReferenceCache, TheKeyFollowsTheInputsTheParamsTheSeedAndThePolicy) {
  const CaseSpec& c = smoke_case("gemm_fp8_blockscaled/m67_n200_k384");
  Prepared a(c, 1), b(c, 2);
  EXPECT_NE(a.key.inputs_hash, b.key.inputs_hash);
  EXPECT_NE(a.key.identity, b.key.identity);
  VerifyPolicy full;
  full.force_full = true;
  const ReferenceKey f = reference_key(c.op, c.id, c.params, 1, sample_seed(1), full, a.problem->inputs(), a.inputs);
  EXPECT_EQ(f.inputs_hash, a.key.inputs_hash);
  EXPECT_NE(f.identity, a.key.identity);
  const ReferenceCache cache("/nonexistent");
  EXPECT_NE(cache.entry_path(f), cache.entry_path(a.key));
  // One changed input bit changes the hash.
  a.inputs.begin()->second.data[0] ^= 1;
  const ReferenceKey flipped = reference_key(c.op, c.id, c.params, 1, sample_seed(1), VerifyPolicy{}, a.problem->inputs(), a.inputs);
  EXPECT_NE(flipped.inputs_hash, a.key.inputs_hash);
}

TEST(ReferenceCache, OpsWhoseChecksKeepStateAreComputedEveryTimeAndSaySo) {
  const fs::path dir = test_dir();
  const CaseSpec& c = smoke_case("moe_route/t128_gate");
  for (int i = 0; i < 2; ++i) {
    const ResultRow r = run_with_cache(c, 3, dir).at(0);
    EXPECT_EQ(r.reference.source, ReferenceSource::kComputed);
    EXPECT_NE(r.reference.detail.find("not stored"), std::string::npos) << r.reference.detail;
    EXPECT_EQ(r.disposition, "passed") << r.reason;
  }
  EXPECT_FALSE(fs::exists(dir) && !fs::is_empty(dir));
  fs::remove_all(dir);
}

TEST(ReferenceCache, AnUnwritableFolderCostsTheStoreNotTheRow) {
  const fs::path dir = test_dir();
  fs::create_directories(dir);
  const fs::path blocker = dir / "file";
  std::ofstream(blocker) << "x";
  const ResultRow r = run_with_cache(smoke_case("gemm_fp8_blockscaled/m67_n200_k384"), 8, blocker / "sub").at(0);
  EXPECT_EQ(r.disposition, "passed") << r.reason;
  EXPECT_EQ(r.reference.source, ReferenceSource::kComputed);
  EXPECT_NE(r.reference.detail.find("not stored"), std::string::npos) << r.reference.detail;
  fs::remove_all(dir);
}

TEST(ReferenceCache, StoresPositionsAndValuesExactlyWhateverTheirOrderAndPrecision) {
  const fs::path dir = test_dir();
  const ReferenceCache cache(dir.string());
  ReferenceKey key{"{\"op\":\"x\"}", std::string(32, '0'), this_build()};
  OutputCheck wide, narrow;
  wide.output = "d";
  wide.index = {5, 3, 1000000000000, 0, 7, 7, 2};  // out of order, repeats, far jumps
  wide.expected = {0.1, -0.0, std::nan(""), -INFINITY, 1e300, 5e-324, 3.0};  // 0.1 needs float64
  narrow.output = "lse";
  narrow.sampled = true;
  narrow.rule = "sampled: something";
  narrow.total = 99;
  for (int64_t i = 0; i < 1000; ++i) {
    narrow.index.push_back(3 * i);
    narrow.expected.push_back(static_cast<float>(i) / 7.0f);
  }
  narrow.expected[10] = -0.0;
  cache.store(key, {wide, narrow});
  std::vector<OutputCheck> back;
  std::string why;
  ASSERT_TRUE(cache.load(key, &back, &why)) << why;
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].index, wide.index);
  EXPECT_EQ(back[1].index, narrow.index);
  for (const auto& [got, want] : {std::pair{&back[0], &wide}, std::pair{&back[1], &narrow}}) {
    ASSERT_EQ(got->expected.size(), want->expected.size());
    for (size_t i = 0; i < want->expected.size(); ++i) {
      if (std::isnan(want->expected[i])) {
        EXPECT_TRUE(std::isnan(got->expected[i]));
      } else {
        EXPECT_EQ(std::memcmp(&got->expected[i], &want->expected[i], sizeof(double)), 0) << i;
      }
    }
    EXPECT_EQ(got->output, want->output);
    EXPECT_EQ(got->sampled, want->sampled);
    EXPECT_EQ(got->rule, want->rule);
    EXPECT_EQ(got->total, want->total);
  }
  // The float32 form is used where it is exact: the entry is far smaller than 16 bytes a value.
  EXPECT_LT(fs::file_size(cache.entry_path(key)), 1000u * 6 + 2000u);
  fs::remove_all(dir);
}

TEST(ReferenceCache, RowsCarryTheNoteThroughTheScorecardAndBack) {
  ResultRow r;
  r.case_id = "x/y";
  r.op = "gemm_fp8_blockscaled";
  r.disposition = "passed";
  r.reference = {ReferenceSource::kCache, "cache entry abc"};
  const ResultRow back = row_from_json(row_json(r));
  EXPECT_EQ(back.reference.source, ReferenceSource::kCache);
  EXPECT_EQ(back.reference.detail, "cache entry abc");
  ResultRow plain;
  plain.case_id = "x/y";
  plain.op = "gemm_fp8_blockscaled";
  plain.disposition = "passed";
  EXPECT_FALSE(row_json(plain).contains("reference"));
}

}  // namespace
}  // namespace dsbench
