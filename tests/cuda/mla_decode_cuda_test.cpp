// The CUDA MLA decode kernels. Without a GPU: the mma fragment maps the split-KV kernel is built on
// (checked against the PTX ISA's tables), its split plan, and what each kernel refuses. With one
// (label gpu): both kernels against the FP64 reference over the correctness grid, and a bad page
// index that must poison its rows rather than read outside the cache.
#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <utility>
#include <vector>

#include "dsbench/kernel.hpp"
#include "harness/runner.hpp"
#include "harness/suite.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/mla_decode_splitkv.hpp"
#include "kernels/cuda/mma_fragment.hpp"
#include "tests/cuda/paper_cuda_device.hpp"

namespace dsbench {
namespace {

using Cell = std::pair<int, int>;

TEST(MmaFragment, EveryElementOfATileHasExactlyOneLaneAndRegister) {
  std::set<Cell> a, b, c;
  for (int lane = 0; lane < 32; ++lane) {
    for (int reg = 0; reg < 4; ++reg)
      for (int half = 0; half < 2; ++half) a.insert({cuda::mma_a_row(lane, reg), cuda::mma_a_col(lane, reg, half)});
    for (int reg = 0; reg < 2; ++reg)
      for (int half = 0; half < 2; ++half) b.insert({cuda::mma_b_row(lane, reg, half), cuda::mma_b_col(lane)});
    for (int e = 0; e < 4; ++e) c.insert({cuda::mma_c_row(lane, e), cuda::mma_c_col(lane, e)});
  }
  EXPECT_EQ(a.size(), 16u * 16u);  // 32 lanes x 8 values, all distinct, inside 16 x 16
  EXPECT_EQ(b.size(), 16u * 8u);
  EXPECT_EQ(c.size(), 16u * 8u);
  for (const Cell& x : a) EXPECT_TRUE(x.first < 16 && x.second < 16);
  for (const Cell& x : b) EXPECT_TRUE(x.first < 16 && x.second < 8);
  for (const Cell& x : c) EXPECT_TRUE(x.first < 16 && x.second < 8);
}

TEST(MmaFragment, MatchesThePtxTablesForM16N8K16) {
  // PTX ISA, "Matrix Fragments for mma.m16n8k16 with floating point type": groupID = lane >> 2,
  // threadID_in_group = lane % 4. A: a0,a1 (row g, cols 2t, 2t+1), a2,a3 (row g+8), a4..a7 the same
  // rows at cols + 8. B: b0,b1 (rows 2t, 2t+1, col g), b2,b3 rows + 8. C: c0,c1 row g, c2,c3 row g+8.
  const int lane = 4 * 5 + 3;  // g = 5, t = 3
  EXPECT_EQ(cuda::mma_a_row(lane, 0), 5);
  EXPECT_EQ(cuda::mma_a_col(lane, 0, 1), 7);
  EXPECT_EQ(cuda::mma_a_row(lane, 1), 13);
  EXPECT_EQ(cuda::mma_a_col(lane, 1, 0), 6);
  EXPECT_EQ(cuda::mma_a_row(lane, 2), 5);
  EXPECT_EQ(cuda::mma_a_col(lane, 2, 0), 14);
  EXPECT_EQ(cuda::mma_a_row(lane, 3), 13);
  EXPECT_EQ(cuda::mma_a_col(lane, 3, 1), 15);
  EXPECT_EQ(cuda::mma_b_row(lane, 0, 0), 6);
  EXPECT_EQ(cuda::mma_b_row(lane, 1, 1), 15);
  EXPECT_EQ(cuda::mma_b_col(lane), 5);
  EXPECT_EQ(cuda::mma_c_row(lane, 1), 5);
  EXPECT_EQ(cuda::mma_c_col(lane, 1), 7);
  EXPECT_EQ(cuda::mma_c_row(lane, 2), 13);
  EXPECT_EQ(cuda::mma_c_col(lane, 2), 6);
}

TEST(MmaFragment, AModelOfTheInstructionMultipliesMatrices) {
  // Scatter A and B into per-lane registers with the maps, run the instruction's definition (each C
  // element a dot product of the A row and B column gathered back from the registers), compare.
  double A[16][16], B[16][8];
  for (int r = 0; r < 16; ++r)
    for (int k = 0; k < 16; ++k) A[r][k] = (r * 31 + k * 7) % 13 - 6;
  for (int k = 0; k < 16; ++k)
    for (int n = 0; n < 8; ++n) B[k][n] = (k * 5 + n * 11) % 9 - 4;
  double areg[32][4][2], breg[32][2][2];
  for (int lane = 0; lane < 32; ++lane) {
    for (int r = 0; r < 4; ++r)
      for (int h = 0; h < 2; ++h) areg[lane][r][h] = A[cuda::mma_a_row(lane, r)][cuda::mma_a_col(lane, r, h)];
    for (int r = 0; r < 2; ++r)
      for (int h = 0; h < 2; ++h) breg[lane][r][h] = B[cuda::mma_b_row(lane, r, h)][cuda::mma_b_col(lane)];
  }
  auto a_at = [&](int row, int k) {
    for (int lane = 0; lane < 32; ++lane)
      for (int r = 0; r < 4; ++r)
        for (int h = 0; h < 2; ++h)
          if (cuda::mma_a_row(lane, r) == row && cuda::mma_a_col(lane, r, h) == k) return areg[lane][r][h];
    return std::nan("");
  };
  auto b_at = [&](int k, int col) {
    for (int lane = 0; lane < 32; ++lane)
      for (int r = 0; r < 2; ++r)
        for (int h = 0; h < 2; ++h)
          if (cuda::mma_b_row(lane, r, h) == k && cuda::mma_b_col(lane) == col) return breg[lane][r][h];
    return std::nan("");
  };
  for (int lane = 0; lane < 32; ++lane)
    for (int e = 0; e < 4; ++e) {
      const int row = cuda::mma_c_row(lane, e), col = cuda::mma_c_col(lane, e);
      double got = 0, want = 0;
      for (int k = 0; k < 16; ++k) {
        got += a_at(row, k) * b_at(k, col);
        want += A[row][k] * B[k][col];
      }
      EXPECT_EQ(got, want) << "lane " << lane << " element " << e;
    }
}

dsb_mla_decode_params mla_params(int b, int s_q, int h_q, int max_blocks) {
  dsb_mla_decode_params p{};
  p.b = b;
  p.s_q = s_q;
  p.h_q = h_q;
  p.h_kv = 1;
  p.d_qk = 576;
  p.d_v = 512;
  p.page_block_size = 64;
  p.num_blocks = b * max_blocks;
  p.max_blocks_per_seq = max_blocks;
  p.softmax_scale = 0.1352f;
  p.kv_dtype = DSB_DTYPE_BF16;
  return p;
}

TEST(MlaSplitPlan, CoversEveryPageAndSplitsOnlyWhenTheBatchLeavesSmsIdle) {
  for (int b : {1, 2, 6, 64, 128})
    for (int h_q : {1, 16, 63, 128})
      for (int blocks : {0, 1, 3, 64, 513}) {
        const auto p = mla_params(b, 2, h_q, blocks);
        const cuda::MlaSplitPlan plan = cuda::mla_splitkv_plan(p, 132);
        SCOPED_TRACE(testing::Message() << "b " << b << " h_q " << h_q << " pages " << blocks);
        EXPECT_EQ(plan.row_tiles, (2 * h_q + 15) / 16);
        ASSERT_GE(plan.num_splits, 1);
        EXPECT_LE(plan.num_splits, 64);
        EXPECT_GE(int64_t{plan.num_splits} * plan.pages_per_split, blocks);             // every page has a piece
        if (blocks > 0) {
          EXPECT_LT(int64_t{plan.num_splits - 1} * plan.pages_per_split, blocks);  // no piece past the table
        }
        EXPECT_EQ(plan.workspace_bytes, size_t{4} * plan.num_splits * b * 2 * h_q * 513);
        const int64_t blocks_unsplit = int64_t{b} * plan.row_tiles;
        if (blocks_unsplit >= 264) {
          EXPECT_EQ(plan.num_splits, 1);  // a full wave already
        }
        if (blocks_unsplit * 2 <= 264 && blocks >= 64) {
          EXPECT_GT(plan.num_splits, 1);
        }
      }
}

const Kernel* cuda_kernel(const std::string& id) {
  static auto backend = cuda::make_cuda_backend();
  for (const Kernel* k : backend->kernels())
    if (k->id() == id) return k;
  return nullptr;
}

TEST(MlaDecodeCudaKernels, RefuseWhatTheyCannotComputeWithTheReason) {
  const Kernel* split = cuda_kernel("cuda.mla_decode.splitkv");
  const Kernel* naive = cuda_kernel("cuda.mla_decode.naive");
  ASSERT_NE(split, nullptr);
  ASSERT_NE(naive, nullptr);
  PaperCudaDevice dev;
  auto p = mla_params(2, 1, 16, 4);
  EXPECT_TRUE(split->supports(&p, dev).ok);
  EXPECT_TRUE(naive->supports(&p, dev).ok);
  EXPECT_EQ(split->workspace_bytes(&p, dev), cuda::mla_splitkv_plan(p, 132).workspace_bytes);
  p.kv_dtype = DSB_DTYPE_E4M3FN;
  EXPECT_TRUE(split->supports(&p, dev).ok);

  auto page32 = mla_params(2, 1, 16, 4);
  page32.page_block_size = 32;
  EXPECT_NE(split->supports(&page32, dev).reason.find("64-token pages"), std::string::npos);
  EXPECT_TRUE(naive->supports(&page32, dev).ok) << "the portable kernel takes any page size";

  auto heads = mla_params(2, 1, 3, 4);
  heads.h_kv = 2;
  EXPECT_NE(split->supports(&heads, dev).reason.find("not a positive multiple of h_kv"), std::string::npos);
  EXPECT_NE(naive->supports(&heads, dev).reason.find("not a positive multiple of h_kv"), std::string::npos);

  auto small = mla_params(2, 1, 16, 4);
  small.d_qk = 192;
  small.d_v = 128;
  EXPECT_NE(split->supports(&small, dev).reason.find("576 / 512"), std::string::npos);
  EXPECT_TRUE(naive->supports(&small, dev).ok);
  small.kv_dtype = DSB_DTYPE_E4M3FN;
  EXPECT_FALSE(naive->supports(&small, dev).ok) << "the FP8 token is 576 dims";
}

TEST(MlaDecodeCudaKernels, PassTheCorrectnessGridOnAGpu) {
  auto backend = cuda::make_cuda_backend();
  if (backend->device_count() == 0) GTEST_SKIP() << "no CUDA device: " << backend->unavailable_reason();
  RunOptions opts;
  opts.kernel_glob = "cuda.mla_decode.*";
  opts.case_glob = "*sk140*";  // three pages, a tail, every b / s_q / h_q / varlen / causal of the grid
  opts.verify_only = true;
  opts.seed = 20261206;
  const auto rows = run_suite(load_suite("mla-correctness"), *backend, opts, nullptr);
  ASSERT_FALSE(rows.empty());
  int passed = 0;
  for (const ResultRow& r : rows) {
    EXPECT_TRUE(r.disposition == "passed" || r.disposition == "not_supported") << r.case_id << " " << r.kernel << ": " << r.reason;
    passed += r.disposition == "passed";
  }
  EXPECT_GT(passed, static_cast<int>(rows.size()) / 2);
}

}  // namespace
}  // namespace dsbench
