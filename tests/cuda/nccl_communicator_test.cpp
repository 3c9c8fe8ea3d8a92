// The CUDA backend's NCCL communicator. Without a GPU: the NCCL version in build_info and the
// alltoallv argument checks. With one (a lent H100/H200): one rank exchanges with itself through
// NCCL, bad counts are refused before NCCL sees them, a missing peer is a TIMEOUT, not a hang, and
// the in-process ranks of --local-ranks (one thread per local GPU) exchange across every local GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "dsbench/comm.hpp"
#include "harness/local_world.hpp"
#include "kernels/cuda/cuda_backend.hpp"
#if DSB_HAVE_NCCL
#include "kernels/cuda/nccl_communicator.hpp"
#endif

namespace dsbench {
namespace {

// A world of `size` ranks seen from rank 0, with nobody else in it: broadcast has nothing to do.
class LoneBootstrap final : public Bootstrap {
 public:
  explicit LoneBootstrap(int size = 1) : size_(size) {}
  int rank() const override { return 0; }
  int world_size() const override { return size_; }
  int local_rank() const override { return 0; }
  int local_size() const override { return size_; }
  Status broadcast(void*, size_t, int) override { return Status::success(); }

 private:
  int size_;
};

TEST(NcclCommunicator, BuildInfoNamesTheNcclVersionWithoutADevice) {
  auto b = cuda::make_cuda_backend();
  const Properties info = b->build_info();
  ASSERT_TRUE(info.count("nccl_version"));
  const std::string v = std::get<std::string>(info.at("nccl_version"));
#if DSB_HAVE_NCCL
  EXPECT_GT(cuda::nccl_version_code(), 0);
  EXPECT_EQ(v, cuda::nccl_version_string());
  ASSERT_FALSE(v.empty());
  EXPECT_TRUE(v[0] >= '1' && v[0] <= '9') << v;
  EXPECT_EQ(std::count(v.begin(), v.end(), '.'), 2) << v;  // major.minor.patch
  const int code = cuda::nccl_version_code();
  EXPECT_EQ(v.substr(v.rfind('.') + 1), std::to_string(code % 100)) << v << " from " << code;
#else
  EXPECT_EQ(v, "none");
#endif
}

#if DSB_HAVE_NCCL
TEST(NcclCommunicator, RefusesMalformedAlltoallvArgumentsWithoutADevice) {
  int64_t ok_counts[2] = {3, 0}, displs[2] = {0, 3};
  int64_t neg[2] = {3, -1}, neg_displ[2] = {-2, 3};
  const int64_t huge[2] = {int64_t{1} << 62, 0};
  char buf[16] = {};
  auto check = [&](const void* send, const int64_t* sc, const int64_t* sd, const void* recv, const int64_t* rc,
                   const int64_t* rd, dsb_dtype t) {
    return cuda::check_alltoallv_args(2, send, sc, sd, recv, rc, rd, t);
  };
  EXPECT_TRUE(check(buf, ok_counts, displs, buf, ok_counts, displs, DSB_DTYPE_BF16).ok());

  Status st = check(buf, neg, displs, buf, ok_counts, displs, DSB_DTYPE_BF16);
  EXPECT_EQ(st.code, DSB_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(st.message.find("send_counts[1] = -1 is negative"), std::string::npos) << st.message;
  st = check(buf, ok_counts, displs, buf, neg, displs, DSB_DTYPE_BF16);
  EXPECT_NE(st.message.find("recv_counts[1] = -1 is negative"), std::string::npos) << st.message;
  st = check(buf, ok_counts, neg_displ, buf, ok_counts, displs, DSB_DTYPE_BF16);
  EXPECT_NE(st.message.find("send_displs[0] = -2 is negative"), std::string::npos) << st.message;
  st = check(nullptr, ok_counts, displs, buf, ok_counts, displs, DSB_DTYPE_BF16);
  EXPECT_NE(st.message.find("send is null but send_counts[0] = 3"), std::string::npos) << st.message;
  st = check(buf, ok_counts, displs, buf, nullptr, displs, DSB_DTYPE_BF16);
  EXPECT_NE(st.message.find("recv_counts is null"), std::string::npos) << st.message;
  st = check(buf, ok_counts, displs, buf, ok_counts, displs, DSB_DTYPE_INVALID);
  EXPECT_NE(st.message.find("has no element size"), std::string::npos) << st.message;
  st = check(buf, huge, displs, buf, ok_counts, displs, DSB_DTYPE_I64);
  EXPECT_NE(st.message.find("overflows"), std::string::npos) << st.message;

  // Null buffers are fine where nothing is exchanged; displacements of empty slots are not read.
  const int64_t zeros[2] = {0, 0};
  EXPECT_TRUE(check(nullptr, zeros, neg_displ, nullptr, zeros, neg_displ, DSB_DTYPE_E4M3FN).ok());
}

// A world of one on device 0 through the backend's own create_communicator (skips without a GPU).
class OneRankNccl : public ::testing::Test {
 protected:
  void SetUp() override {
    b = cuda::make_cuda_backend();
    if (b->device_count() == 0) GTEST_SKIP() << "no CUDA device: " << b->unavailable_reason();
    const Status made = b->create_communicator(*b->device(0), boot, &comm);
    ASSERT_TRUE(made.ok()) << made.message;
  }
  std::unique_ptr<Backend> b;
  LoneBootstrap boot;
  std::unique_ptr<Communicator> comm;
};

TEST_F(OneRankNccl, ExchangesWithItselfOnOneRank) {
  Device& d = *b->device(0);
  EXPECT_EQ(comm->name(), "nccl");
  EXPECT_EQ(comm->rank(), 0);
  EXPECT_EQ(comm->world_size(), 1);
  EXPECT_EQ(std::get<std::string>(comm->info().at("library")).rfind("NCCL ", 0), 0u);

  // 1000 BF16 elements, displaced on both sides so element-to-byte offsets are exercised.
  constexpr int64_t n = 1000, send_at = 7, recv_at = 13;
  constexpr size_t es = 2;
  std::vector<uint8_t> in((send_at + n) * es), out((recv_at + n) * es);
  std::mt19937 rng(20250117);
  for (uint8_t& x : in) x = static_cast<uint8_t>(rng());
  std::unique_ptr<Buffer> send, recv;
  ASSERT_TRUE(d.allocate(in.size(), &send).ok());
  ASSERT_TRUE(d.allocate(out.size(), &recv).ok());
  ASSERT_TRUE(d.copy_to_device(send->data(), in.data(), in.size()).ok());
  ASSERT_TRUE(d.fill_bytes(recv->data(), 0xcd, out.size()).ok());
  ASSERT_TRUE(d.synchronize().ok());
  std::unique_ptr<Stream> s;
  ASSERT_TRUE(d.create_stream(&s).ok());

  // Through the C view kernels use.
  dsb_comm* h = comm->c_handle();
  const int64_t sc[1] = {n}, sd[1] = {send_at}, rc[1] = {n}, rd[1] = {recv_at};
  ASSERT_EQ(h->alltoallv(h, send->data(), sc, sd, recv->data(), rc, rd, DSB_DTYPE_BF16, s->native_handle()),
            DSB_STATUS_OK);
  const Status waited = comm->wait(s->native_handle());
  ASSERT_TRUE(waited.ok()) << waited.message;
  ASSERT_TRUE(d.copy_to_host(out.data(), recv->data(), out.size()).ok());
  EXPECT_TRUE(std::equal(in.begin() + send_at * es, in.end(), out.begin() + recv_at * es)) << "payload differs";
  EXPECT_TRUE(std::all_of(out.begin(), out.begin() + recv_at * es, [](uint8_t x) { return x == 0xcd; }))
      << "bytes before recv_displs[0] were written";
}

TEST_F(OneRankNccl, RefusesANegativeCountAndStaysUsable) {
  Device& d = *b->device(0);
  std::unique_ptr<Buffer> buf;
  ASSERT_TRUE(d.allocate(64, &buf).ok());
  std::unique_ptr<Stream> s;
  ASSERT_TRUE(d.create_stream(&s).ok());
  const int64_t bad[1] = {-4}, good[1] = {8}, zero[1] = {0};
  const Status st =
      comm->alltoallv(buf->data(), bad, zero, buf->data(), good, zero, DSB_DTYPE_BF16, s->native_handle());
  EXPECT_EQ(st.code, DSB_STATUS_INVALID_ARGUMENT) << st.message;
  EXPECT_NE(st.message.find("send_counts[0] = -4"), std::string::npos) << st.message;
  // The refusal happened before NCCL: the communicator still works.
  const Status again = comm->alltoallv(buf->data(), good, zero, static_cast<char*>(buf->data()) + 32, good, zero,
                                       DSB_DTYPE_BF16, s->native_handle());
  ASSERT_TRUE(again.ok()) << again.message;
  const Status waited = comm->wait(s->native_handle());
  EXPECT_TRUE(waited.ok()) << waited.message;
}

TEST(NcclCommunicator, InitTimesOutWhenAPeerNeverArrives) {
  auto b = cuda::make_cuda_backend();
  if (b->device_count() == 0) GTEST_SKIP() << "no CUDA device: " << b->unavailable_reason();
  LoneBootstrap boot(2);  // rank 1 never comes
  std::unique_ptr<Communicator> comm;
  const auto t0 = std::chrono::steady_clock::now();
  const Status st = cuda::make_nccl_communicator(0, boot, &comm, 2.0);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(st.code, DSB_STATUS_TIMEOUT) << st.message;
  EXPECT_NE(st.message.find("within 2 s on rank 0 of 2"), std::string::npos) << st.message;
  EXPECT_EQ(comm, nullptr);
  EXPECT_LT(took, 60.0) << "the abort after the deadline must not hang";
}

// nccl-tests' one-process mode (dsbench run --local-ranks N): one thread per local GPU, each with its
// own NCCL communicator bootstrapped through the in-process world; with one GPU, a world of one.
TEST(NcclLocalRanks, EveryLocalGpuExchangesRankTaggedBytesWithEveryOther) {
  const int n = cuda::make_cuda_backend()->device_count();
  if (n == 0) GTEST_SKIP() << "no CUDA device";
  LocalWorld::run(n, [n](int r) {
    auto b = cuda::make_cuda_backend();
    Device& d = *b->device(r);
    std::unique_ptr<Communicator> comm;
    const Status made = b->create_communicator(d, World::get(), &comm);
    EXPECT_TRUE(made.ok()) << "rank " << r << ": " << made.message;
    if (!made.ok()) return 1;
    EXPECT_EQ(comm->rank(), r);
    EXPECT_EQ(comm->world_size(), n);
    constexpr int64_t per = 4099;  // bytes per pair: odd, so offsets are not all aligned
    std::vector<uint8_t> in(static_cast<size_t>(per * n)), out(in.size());
    std::vector<int64_t> counts(static_cast<size_t>(n), per), displs(static_cast<size_t>(n));
    for (int p = 0; p < n; ++p) {
      displs[static_cast<size_t>(p)] = p * per;
      for (int64_t i = 0; i < per; ++i) in[static_cast<size_t>(p * per + i)] = static_cast<uint8_t>(r * 31 + p * 7 + i);
    }
    std::unique_ptr<Buffer> send, recv;
    std::unique_ptr<Stream> s;
    EXPECT_TRUE(d.allocate(in.size(), &send).ok() && d.allocate(out.size(), &recv).ok() && d.create_stream(&s).ok() &&
                d.copy_to_device(send->data(), in.data(), in.size()).ok() && d.synchronize().ok());
    const Status st = comm->alltoallv(send->data(), counts.data(), displs.data(), recv->data(), counts.data(),
                                      displs.data(), DSB_DTYPE_E4M3FN, s->native_handle());
    EXPECT_TRUE(st.ok()) << st.message;
    const Status waited = comm->wait(s->native_handle());
    EXPECT_TRUE(waited.ok()) << waited.message;
    EXPECT_TRUE(d.copy_to_host(out.data(), recv->data(), out.size()).ok());
    int64_t wrong = 0;
    for (int p = 0; p < n; ++p)
      for (int64_t i = 0; i < per; ++i)
        wrong += out[static_cast<size_t>(p * per + i)] != static_cast<uint8_t>(p * 31 + r * 7 + i);
    EXPECT_EQ(wrong, 0) << "rank " << r;
    return 0;
  });
}
#endif

}  // namespace
}  // namespace dsbench
