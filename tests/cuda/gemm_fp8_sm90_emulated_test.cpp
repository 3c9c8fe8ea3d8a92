// The sm_90a FP8 block-scaled GEMM without a GPU: its device code (kernels/cuda/gemm_fp8_sm90_kernel.cuh)
// run by the SIMT emulator on the harness's generated inputs and checked with the op's own check;
// the emulator's Hopper models pinned to entries of the PTX ISA's (and the CUDA guide's) tables, so
// that the models are checked against the documents and not only against the kernel; what the
// kernels refuse and why. On a machine with a Hopper GPU the real kernel runs over the suites' GEMM
// cases (label gpu; skipped elsewhere). What none of this shows: timing, and whether silicon reads the
// layouts as we read the ISA (docs/ops/gemm_fp8_blockscaled.md#the-sm90-kernel).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "harness/runner.hpp"
#include "harness/suite.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "tests/cuda/paper_cuda_device.hpp"

// The emulator defines the CUDA vocabulary; the kernel headers come after it.
#include "tests/cuda/emu/harness_case.hpp"
#include "tests/cuda/emu/simt_emulator.hpp"
#include "kernels/cuda/gemm_fp8_sm90_kernel.cuh"

namespace dsbench {
namespace {

namespace sm90 = cuda::sm90;

// ---- the models against the documents ------------------------------------------------------------

// PTX ISA, "Asynchronous Warpgroup Level Matrix Register Fragment" (wgmma), figure "WGMMA .m64nNk32
// register fragment layout for accumulator matrix D": entries read off the figure.
TEST(Sm90Models, WgmmaAccumulatorFragmentMatchesThePtxIsaFigure) {
  struct Entry { int thread, value, row, col; };
  const Entry table[] = {
      {0, 0, 0, 0},  {0, 1, 0, 1},   {0, 2, 8, 0},   {0, 3, 8, 1},   {0, 4, 0, 8},    {0, 5, 0, 9},
      {1, 0, 0, 2},  {3, 1, 0, 7},   {4, 0, 1, 0},   {31, 0, 7, 6},  {31, 3, 15, 7},  {32, 0, 16, 0},
      {63, 2, 31, 6}, {64, 0, 32, 0}, {96, 7, 56, 9}, {127, 63, 63, 127}, {5, 62, 9, 122},
  };
  for (const Entry& e : table) {
    EXPECT_EQ(cuda::wgmma_d_row(e.thread, e.value), e.row) << "T" << e.thread << " d" << e.value;
    EXPECT_EQ(cuda::wgmma_d_col(e.thread, e.value), e.col) << "T" << e.thread << " d" << e.value;
  }
  // Every (row, col) of a 64 x 128 tile exactly once over 128 threads x 64 values.
  std::vector<int> seen(64 * 128, 0);
  for (int t = 0; t < 128; ++t)
    for (int i = 0; i < 64; ++i) ++seen[cuda::wgmma_d_row(t, i) * 128 + cuda::wgmma_d_col(t, i)];
  EXPECT_TRUE(std::all_of(seen.begin(), seen.end(), [](int n) { return n == 1; }));
}

// PTX ISA, "Matrix Descriptor Format": start address bits 0-13, LBO 16-29, SBO 32-45 (each >> 4),
// base offset 49-51, swizzle mode 62-63 (1 = 128B, 2 = 64B, 3 = 32B).
TEST(Sm90Models, MatrixDescriptorFieldsSitWhereThePtxIsaPutsThem) {
  const uint64_t d = cuda::wgmma_make_desc(0x12340, 16, 1024, cuda::kWgmmaSwizzle128B);
  EXPECT_EQ(d & 0x3fff, 0x1234u);
  EXPECT_EQ((d >> 16) & 0x3fff, 1u);
  EXPECT_EQ((d >> 32) & 0x3fff, 64u);
  EXPECT_EQ((d >> 49) & 7, 0u);
  EXPECT_EQ(d >> 62, 1u);
  EXPECT_EQ(cuda::wgmma_make_desc(0, 0, 0, cuda::kWgmmaSwizzle32B) >> 62, 3u);
}

// PTX ISA, "Shared Memory Matrix Layout", K-major: without swizzle, core matrices of 8 rows x 16 bytes,
// LBO apart along K and SBO apart along M/N; with the 128-byte swizzle, 8 rows of 128 bytes form the
// 1024-byte atom, SBO apart, and the 16-byte chunk j of row r is stored at chunk j ^ (r % 8).
TEST(Sm90Models, WgmmaOperandAddressesFollowTheCanonicalLayouts) {
  const uint64_t plain = cuda::wgmma_make_desc(4096, 128, 256, cuda::kWgmmaInterleave);
  EXPECT_EQ(emu::wgmma_kmajor_address(plain, 0, 0), 4096u);
  EXPECT_EQ(emu::wgmma_kmajor_address(plain, 1, 0), 4096u + 16);        // next row of the core matrix
  EXPECT_EQ(emu::wgmma_kmajor_address(plain, 0, 16), 4096u + 128);      // next core matrix along K: LBO
  EXPECT_EQ(emu::wgmma_kmajor_address(plain, 9, 17), 4096u + 256 + 128 + 16 + 1);  // SBO + LBO + row 1 + byte 1
  const uint64_t sw = cuda::wgmma_make_desc(8192, 16, 1024, cuda::kWgmmaSwizzle128B);
  EXPECT_EQ(emu::wgmma_kmajor_address(sw, 0, 5), 8192u + 5);
  EXPECT_EQ(emu::wgmma_kmajor_address(sw, 1, 0), 8192u + 128 + 16);          // row 1: chunk 0 -> 1
  EXPECT_EQ(emu::wgmma_kmajor_address(sw, 1, 16), 8192u + 128 + 0);          // chunk 1 -> 0
  EXPECT_EQ(emu::wgmma_kmajor_address(sw, 7, 3), 8192u + 7 * 128 + 7 * 16 + 3);
  EXPECT_EQ(emu::wgmma_kmajor_address(sw, 5, 35), 8192u + 5 * 128 + (2 ^ 5) * 16 + 3);
  EXPECT_EQ(emu::wgmma_kmajor_address(sw, 8, 0), 8192u + 1024);              // the next atom: SBO
  // A K slice 32 bytes in (the kernel's second k32 step): the start moves by 32 and the swizzle,
  // being a function of the address, still lands chunk 2 of row 3 on chunk 2 ^ 3.
  const uint64_t sw32 = cuda::wgmma_make_desc(8192 + 32, 16, 1024, cuda::kWgmmaSwizzle128B);
  EXPECT_EQ(emu::wgmma_kmajor_address(sw32, 3, 1), 8192u + 3 * 128 + (2 ^ 3) * 16 + 1);
}

// CUDA C++ Programming Guide, "Tensor Memory Access" swizzle patterns: 128B swizzle over 1024 bytes,
// 16-byte chunk j of 128-byte row r at j ^ (r % 8); 64B: j ^ ((r / ... ) the row-of-128-bytes bits 7-8;
// 32B: bit 7 into bit 4.
TEST(Sm90Models, SwizzleFunctionsMatchTheTmaPatterns) {
  const int row1[8] = {1, 0, 3, 2, 5, 4, 7, 6};
  const int row6[8] = {6, 7, 4, 5, 2, 3, 0, 1};
  for (int j = 0; j < 8; ++j) {
    EXPECT_EQ(emu::swizzle_address(128 + j * 16, 128), 128u + row1[j] * 16);
    EXPECT_EQ(emu::swizzle_address(6 * 128 + j * 16, 128), 6u * 128 + row6[j] * 16);
    EXPECT_EQ(emu::swizzle_address(8 * 128 + j * 16, 128), 8u * 128 + j * 16) << "the pattern repeats every 1024 bytes";
  }
  EXPECT_EQ(emu::swizzle_address(3 * 128 + 16, 64), 3u * 128 + (1 ^ 3) * 16);
  EXPECT_EQ(emu::swizzle_address(4 * 128 + 16, 64), 4u * 128 + 16);
  EXPECT_EQ(emu::swizzle_address(128 + 0, 32), 128u + 16);
  EXPECT_EQ(emu::swizzle_address(256 + 16, 32), 256u + 16);
}

// mbarrier (PTX ISA "mbarrier"): a phase completes when its pending arrivals and its transaction
// count both reach zero; try_wait.parity(p) succeeds once the phase of parity p is complete; TMA
// zero-fills out-of-bounds elements and completes the whole box's bytes.
TEST(Sm90Models, MbarrierPhasesAndTmaCompleteTxAndZeroFill) {
  std::vector<uint8_t> g(40 * 128);
  for (size_t i = 0; i < g.size(); ++i) g[i] = static_cast<uint8_t>(1 + i % 251);
  emu::TensorMap2D map;
  map.base = g.data();
  map.dims[0] = 128;
  map.dims[1] = 40;
  map.row_stride = 128;
  map.box[0] = 128;
  map.box[1] = 16;
  map.swizzle_bytes = 128;
  std::vector<std::string> log;
  emu::launch({1, 1, 1}, 1, 4096 + 64, [&] {
    emu::Block& b = emu::Block::current();
    auto* bar = reinterpret_cast<uint64_t*>(b.smem() + 4096);
    b.mbar_init(bar, 1);
    if (!b.mbar_try_wait(bar, 1)) log.push_back("parity 1 (the phase before the first) not complete at once");
    b.mbar_arrive(bar, 16 * 128);
    if (b.mbar_phase(bar) != 0) log.push_back("phase completed with bytes outstanding");
    b.tma_load_2d(b.smem(), map, bar, 0, 32);  // rows 32..47: 40..47 out of bounds
    if (b.mbar_phase(bar) != 1) log.push_back("phase not completed by the whole box's complete_tx");
    if (!b.mbar_try_wait(bar, 0)) log.push_back("parity 0 not complete after the first phase");
    const uint8_t* s = b.smem();
    // Row 1 of the box (global row 33), byte 0: chunk 0 -> chunk 1.
    if (s[128 + 16] != g[33 * 128]) log.push_back("swizzled placement of row 1");
    if (s[3 * 128 + (2 ^ 3) * 16 + 5] != g[35 * 128 + 2 * 16 + 5]) log.push_back("swizzled placement of row 3");
    for (int r = 8; r < 16; ++r)
      for (int c = 0; c < 128; ++c)
        if (s[r * 128 + c] != 0) {
          log.push_back("out-of-bounds row " + std::to_string(r) + " not zero");
          return;
        }
  });
  EXPECT_TRUE(log.empty()) << log.front();
}

// A deadlock (a wait that nothing will complete) is reported, not spun forever.
TEST(Sm90Models, AWaitNothingCompletesIsADeadlock) {
  EXPECT_THROW(emu::launch({1, 1, 1}, 2, 64,
                           [&] {
                             emu::Block& b = emu::Block::current();
                             auto* bar = reinterpret_cast<uint64_t*>(b.smem());
                             if (threadIdx.x == 0) b.mbar_init(bar, 3);
                             __syncthreads();
                             b.mbar_arrive(bar, 0);
                             while (!b.mbar_try_wait(bar, 0)) {
                             }
                           }),
               std::runtime_error);
}

// ---- the kernel on the harness's cases --------------------------------------------------------------

emu::TensorMap2D emu_map(const sm90::TmaSpec2D& s) {
  emu::TensorMap2D m;
  m.base = s.base;
  m.dims[0] = s.inner;
  m.dims[1] = s.outer;
  m.row_stride = s.row_stride;
  m.box[0] = s.box_inner;
  m.box[1] = s.box_outer;
  m.elem_bytes = 1;
  m.swizzle_bytes = 128;  // as gemm_fp8_sm90.cpp encodes them
  return m;
}

// Runs the kernel as gemm_fp8_sm90.cpp launches it on a device of sm_count SMs; the number of K
// pieces per tile it chose (1: no split-K).
template <class P>
int run_sm90(emu_test::HarnessCase<P>& c, unsigned sm_count) {
  sm90::Plan plan = sm90::make_plan(c.params, static_cast<int>(sm_count));
  if (plan.args.num_tiles == 0 || plan.args.rows_a == 0) return 1;
  plan.args.tma_a = emu_map(plan.a);
  plan.args.tma_b = emu_map(plan.b);
  std::vector<uint8_t> ws(plan.workspace_bytes, 0);  // zeroed, as run() does with cudaMemsetAsync
  sm90::set_workspace(plan, ws.data());
  const unsigned grid = static_cast<unsigned>(std::min<int64_t>(plan.units(), sm_count));
  emu::launch({grid, 1, 1}, sm90::kThreads, sm90::kSmemBytes, [&] { sm90::gemm_fp8_sm90_kernel(plan.args); });
  return plan.args.splits;
}

template <class P>
std::string refusal_of(const P& p);
template <>
std::string refusal_of(const dsb_gemm_fp8_blockscaled_params& p) {
  return sm90::refusal(p.ab_dtype, p.scale_dtype, p.m, p.n, p.n, p.k, 1);
}
template <>
std::string refusal_of(const dsb_gemm_fp8_grouped_contiguous_params& p) {
  return sm90::refusal(p.ab_dtype, p.scale_dtype, p.m, int64_t{p.num_groups} * p.n, p.n, p.k, p.num_groups);
}
template <>
std::string refusal_of(const dsb_gemm_fp8_grouped_masked_params& p) {
  return sm90::refusal(p.ab_dtype, p.scale_dtype, int64_t{p.num_groups} * p.m_max, int64_t{p.num_groups} * p.n, p.n, p.k,
                       p.num_groups);
}

int g_max_splits = 1;  // the most K pieces any emulated run used

// Runs one case (a suite's JSON params) at each SM count; false when the kernel refuses it.
template <class P>
bool run_and_check(dsb_op op, const std::string& id, const nlohmann::json& params, std::initializer_list<unsigned> sms) {
  bool ran = false;
  for (unsigned sm : sms) {
    auto c = emu_test::prepare_case<P>(op, params, 5, 0xff);  // outputs poisoned as the runner does
    if (!refusal_of(c.params).empty()) return false;
    SCOPED_TRACE(id + " on " + std::to_string(sm) + " SMs");
    const int splits = run_sm90(c, sm);
    g_max_splits = std::max(g_max_splits, splits);
    SCOPED_TRACE("split-K pieces " + std::to_string(splits));
    emu_test::expect_case_passes(c, id);
    ran = true;
  }
  return ran;
}

// Every smoke GEMM case the kernel takes (E4M3FN; the other FP8 types are refused), on 1 SM (one
// block loops over every tile) and 3 SMs (tiles dealt round-robin, the ring's phases wrap).
TEST(GemmFp8Sm90Emulated, PassesEverySmokeGemmCaseItTakesOnOneAndThreeSms) {
  int ran = 0, refused = 0;
  bool probe = false, m_tail = false;
  for (const CaseSpec& spec : load_suite("smoke").cases) {
    bool r = false;
    if (spec.op == "gemm_fp8_blockscaled") {
      r = run_and_check<dsb_gemm_fp8_blockscaled_params>(DSB_OP_GEMM_FP8_BLOCKSCALED, spec.id, spec.params, {1, 3});
      probe |= r && spec.id.find("accumulation_probe") != std::string::npos;
      m_tail |= r && spec.id.find("m67_n200") != std::string::npos;
    } else if (spec.op == "gemm_fp8_grouped_contiguous") {
      r = run_and_check<dsb_gemm_fp8_grouped_contiguous_params>(DSB_OP_GEMM_FP8_GROUPED_CONTIGUOUS, spec.id, spec.params,
                                                                {1, 3});
    } else if (spec.op == "gemm_fp8_grouped_masked") {
      r = run_and_check<dsb_gemm_fp8_grouped_masked_params>(DSB_OP_GEMM_FP8_GROUPED_MASKED, spec.id, spec.params, {1, 3});
    } else {
      continue;
    }
    (r ? ran : refused) += 1;
  }
  EXPECT_GE(ran, 10);
  EXPECT_GE(refused, 3) << "e5m2, e4m3fnuz, e5m2fnuz";
  EXPECT_TRUE(probe) << "the accumulation probe ran";
  EXPECT_TRUE(m_tail) << "the m/n tail case ran";
}

// Contiguous groups padded to 32 rows, not 128: 128-row tiles hold rows of several groups, and the
// kernel makes one pass per group present (rows of other groups and padding not stored).
TEST(GemmFp8Sm90Emulated, ContiguousGroupsThatShareATile) {
  const nlohmann::json p = {{"num_groups", 4}, {"m_per_group", {50, 70, 0, 10}}, {"alignment", 32}, {"n", 136}, {"k", 256}};
  EXPECT_TRUE(run_and_check<dsb_gemm_fp8_grouped_contiguous_params>(DSB_OP_GEMM_FP8_GROUPED_CONTIGUOUS, "contiguous/align32",
                                                                    p, {1, 2}));
}

// Dense with an M tail inside the second warpgroup's rows, an N tail, and more tiles than SMs.
TEST(GemmFp8Sm90Emulated, DenseTailsAcrossSeveralTiles) {
  const nlohmann::json p = {{"m", 200}, {"n", 260}, {"k", 384}};
  EXPECT_TRUE(run_and_check<dsb_gemm_fp8_blockscaled_params>(DSB_OP_GEMM_FP8_BLOCKSCALED, "dense/m200_n260_k384", p, {1, 4}));
}

// Decode-sized M with few tiles: split-K (the pieces' sums meet in the workspace, the last piece of
// each tile rounds it), dense and masked, pieces of unequal length, and the same shapes unsplit.
TEST(GemmFp8Sm90Emulated, SplitKWhenTilesCannotFillTheSms) {
  g_max_splits = 1;
  const nlohmann::json dense = {{"m", 70}, {"n", 200}, {"k", 1664}};  // 2 tiles, 13 K blocks: pieces of 5, 5, 3 on 8 SMs
  EXPECT_TRUE(run_and_check<dsb_gemm_fp8_blockscaled_params>(DSB_OP_GEMM_FP8_BLOCKSCALED, "dense/m70_n200_k1664", dense,
                                                             {1, 8, 5}));
  EXPECT_EQ(g_max_splits, 3);
  const nlohmann::json masked = {{"num_groups", 3}, {"m_max", 64}, {"masked_m", {0, 64, 9}}, {"n", 130}, {"k", 1024},
                                 {"scale_dtype", "ue8m0"}};
  EXPECT_TRUE(run_and_check<dsb_gemm_fp8_grouped_masked_params>(DSB_OP_GEMM_FP8_GROUPED_MASKED, "masked/g3_n130_k1024",
                                                                masked, {1, 16}));
  dsb_gemm_fp8_blockscaled_params q{};
  q.m = 64;
  q.n = 2112;
  q.k = 7168;
  sm90::Plan p = sm90::make_plan(q, 132);
  EXPECT_EQ(p.args.splits, 7) << "DeepSeek-V3's q_a/kv_a at M = 64 on an H100: 17 tiles x 7 pieces of 8 K blocks";
  EXPECT_EQ(p.workspace_bytes, size_t{64} * 2112 * 4 + 17 * 4);
  q.m = 4096;
  q.n = 7168;
  q.k = 2048;
  p = sm90::make_plan(q, 132);
  EXPECT_EQ(p.args.splits, 1);
  EXPECT_EQ(p.workspace_bytes, 0u);
}

// Hopper's FP8 tensor cores keep fewer bits than FP32 in their sums (DeepSeek-V3 report, 3.3.2): with
// the model narrowed to 13 stored mantissa bits per wgmma result, promotion every 128 K still passes the
// accumulation probe and the long-K case.
TEST(GemmFp8Sm90Emulated, PromotionKeepsTheProbePassingWithNarrowTensorCoreSums) {
  struct Narrow {
    Narrow() { emu::Block::wgmma_fp8_mantissa_bits = 13; }
    ~Narrow() { emu::Block::wgmma_fp8_mantissa_bits = 23; }
  } narrow;
  int ran = 0;
  for (const CaseSpec& spec : load_suite("smoke").cases) {
    if (spec.id.find("accumulation_probe") == std::string::npos && spec.id.find("m16_n64_k4096") == std::string::npos) continue;
    EXPECT_TRUE(run_and_check<dsb_gemm_fp8_blockscaled_params>(DSB_OP_GEMM_FP8_BLOCKSCALED, spec.id, spec.params, {1}));
    ++ran;
  }
  EXPECT_EQ(ran, 2);
}

// ---- refusals --------------------------------------------------------------------------------------

TEST(GemmFp8Sm90, TakesE4m3OnComputeCapability90AndRefusesTheRestWithTheReason) {
  const Kernel& k = cuda::gemm_fp8_sm90_dense();
  EXPECT_EQ(k.id(), "cuda.gemm_fp8_blockscaled.sm90");
  EXPECT_EQ(cuda::gemm_fp8_sm90_contiguous().id(), "cuda.gemm_fp8_grouped_contiguous.sm90");
  EXPECT_EQ(cuda::gemm_fp8_sm90_masked().id(), "cuda.gemm_fp8_grouped_masked.sm90");
  const PaperCudaDevice h100("9.0"), b200("10.0"), a100("8.0");
  dsb_gemm_fp8_blockscaled_params p{};
  p.m = 67;
  p.n = 200;
  p.k = 384;
  p.ab_dtype = DSB_DTYPE_E4M3FN;
  p.scale_dtype = DSB_DTYPE_F32;
  EXPECT_TRUE(k.supports(&p, h100).ok) << k.supports(&p, h100).reason;
  EXPECT_NE(k.supports(&p, b200).reason.find("runs on 9.0 only"), std::string::npos) << k.supports(&p, b200).reason;
  EXPECT_NE(k.supports(&p, a100).reason.find("runs on 9.0 only"), std::string::npos);
  p.ab_dtype = DSB_DTYPE_E5M2;
  EXPECT_NE(k.supports(&p, h100).reason.find("e4m3"), std::string::npos) << k.supports(&p, h100).reason;
  p.ab_dtype = DSB_DTYPE_E4M3FN;
  p.k = 200;
  EXPECT_NE(k.supports(&p, h100).reason.find("multiple of 128"), std::string::npos);
  p.k = 0;
  EXPECT_NE(k.supports(&p, h100).reason.find("positive multiple of 128"), std::string::npos) << "d would be left unwritten";
  p.k = 256;
  p.n = 0;
  EXPECT_TRUE(k.supports(&p, h100).ok) << "an empty product: nothing to do";
  p.n = 200;
  p.scale_dtype = DSB_DTYPE_BF16;
  EXPECT_NE(k.supports(&p, h100).reason.find("f32 or ue8m0"), std::string::npos);
  dsb_gemm_fp8_grouped_masked_params m{};
  m.num_groups = 32;
  m.m_max = 128;
  m.n = 7168;
  m.k = 2048;
  m.ab_dtype = DSB_DTYPE_E4M3FN;
  m.scale_dtype = DSB_DTYPE_UE8M0;
  EXPECT_TRUE(cuda::gemm_fp8_sm90_masked().supports(&m, h100).ok);
  EXPECT_EQ(cuda::gemm_fp8_sm90_masked().workspace_bytes(&m, h100), 0u) << "1792 tiles fill 132 SMs: no split-K";
  m.num_groups = 1;
  m.n = 2112;
  m.k = 7168;
  EXPECT_EQ(cuda::gemm_fp8_sm90_masked().workspace_bytes(&m, h100), size_t{128} * 2112 * 4 + 17 * 4) << "split-K";
  m.num_groups = 1 << 20;
  m.m_max = 4096;
  EXPECT_NE(cuda::gemm_fp8_sm90_masked().supports(&m, h100).reason.find("2^31"), std::string::npos);
}

// ---- the real kernel on a Hopper GPU (label gpu) ------------------------------------------------------

void expect_suite_passes(const std::string& suite, const std::string& cases) {
  auto backend = cuda::make_cuda_backend();
  if (backend->device_count() == 0) GTEST_SKIP() << "no CUDA device: " << backend->unavailable_reason();
  RunOptions opts;
  opts.kernel_glob = "cuda.gemm_fp8_*.sm90";
  opts.case_glob = cases;
  opts.verify_only = true;
  opts.seed = 20261206;
  const auto rows = run_suite(load_suite(suite), *backend, opts, nullptr);
  ASSERT_FALSE(rows.empty());
  int passed = 0;
  for (const ResultRow& r : rows) {
    EXPECT_TRUE(r.disposition == "passed" || r.disposition == "not_supported") << r.case_id << " " << r.kernel << ": " << r.reason;
    passed += r.disposition == "passed";
  }
  EXPECT_GT(passed, 0);
}

TEST(GemmFp8Sm90Gpu, PassesTheSmokeGemmCasesOnAGpu) { expect_suite_passes("smoke", "gemm_fp8_*"); }
TEST(GemmFp8Sm90Gpu, PassesTheDeepSeekV3GemmCasesOnAGpu) { expect_suite_passes("deepseek-v3", "gemm_fp8_*"); }

}  // namespace
}  // namespace dsbench
