// In-process ranks (--local-ranks): the shared-memory control plane (gather, broadcast, a rank that
// never arrives is named), and the CPU backend's in-process communicator exchanging rank-tagged data
// exactly, zero counts and mismatched counts included.
#include <gtest/gtest.h>

#include <atomic>
#include <numeric>

#include "harness/local_world.hpp"
#include "kernels/cpu/cpu_communicators.hpp"

namespace dsbench {
namespace {

TEST(LocalWorld, EveryThreadIsItsOwnRankOfOneHost) {
  std::atomic<int> sum{0};
  const int code = LocalWorld::run(4, [&](int r) {
    World& w = World::get();
    EXPECT_EQ(w.rank(), r);
    EXPECT_EQ(w.local_rank(), r);
    EXPECT_EQ(w.world_size(), 4);
    EXPECT_EQ(w.local_size(), 4);
    EXPECT_EQ(w.launcher(), "single-process");
    EXPECT_EQ(w.hosts().size(), 4u);
    EXPECT_EQ(w.mpi_comm(), nullptr);
    EXPECT_NE(w.local_group(), nullptr);
    sum += r;
    return 10 + r;
  });
  EXPECT_EQ(code, 10);  // rank 0's
  EXPECT_EQ(sum, 6);
  EXPECT_EQ(World::get().launcher() == "single-process", false);  // this thread is back in the process's world
}

TEST(LocalWorld, GathersToRootAndBroadcastsInOrder) {
  LocalWorld::run(3, [](int r) {
    World& w = World::get();
    for (int round = 0; round < 20; ++round) {
      std::vector<int> missing;
      const auto all = w.gather_to_root("r" + std::to_string(r) + "." + std::to_string(round), 10, &missing);
      std::string answer;
      if (r == 0) {
        EXPECT_TRUE(missing.empty());
        EXPECT_EQ(all, (std::vector<std::string>{"r0." + std::to_string(round), "r1." + std::to_string(round),
                                                 "r2." + std::to_string(round)}));
        answer = "go " + std::to_string(round);
      } else {
        EXPECT_TRUE(all.empty());
      }
      EXPECT_TRUE(w.bcast_from_root(&answer, 10));
      EXPECT_EQ(answer, "go " + std::to_string(round));
      uint64_t v = r == 0 ? 1000 + round : 0;
      EXPECT_TRUE(w.broadcast(&v, sizeof v, 0).ok());
      EXPECT_EQ(v, 1000u + round);
      w.barrier();
    }
    return 0;
  });
}

TEST(LocalWorld, RootNamesTheRankThatDoesNotArrive) {
  LocalWorld::run(3, [](int r) {
    World& w = World::get();
    if (r == 2) return 0;  // never calls in
    std::vector<int> missing;
    w.gather_to_root("x", 0.2, &missing);
    if (r == 0) {
      EXPECT_EQ(missing, std::vector<int>{2});
    }
    return 0;
  });
}

TEST(LocalWorld, RendezvousTimesOutInsteadOfHanging) {
  LocalWorld::run(2, [](int r) {
    if (r == 1) return 0;
    const void* all[2];
    const Status st = World::get().local_group()->all_gather(nullptr, all, 0.1);
    EXPECT_EQ(st.code, DSB_STATUS_TIMEOUT);
    EXPECT_NE(st.message.find("1 of 2 ranks arrived"), std::string::npos) << st.message;
    return 0;
  });
}

// Rank s sends C[s][d] = (s + 2 d) % 3 elements to d (zeros included); element i of the block is
// s * 1000000 + d * 1000 + i, so a block from the wrong peer or at the wrong offset shows.
TEST(LocalCommunicator, ExchangesRankTaggedBlocksExactlyWithZeroCounts) {
  const int n = 4;
  LocalWorld::run(n, [&](int r) {
    std::unique_ptr<Communicator> comm;
    EXPECT_TRUE(cpu::make_cpu_communicator(World::get(), &comm).ok());
    EXPECT_EQ(comm->name(), "local");
    auto count = [](int s, int d) { return static_cast<int64_t>((s + 2 * d) % 3); };
    std::vector<int64_t> sc(n), sd(n), rc(n), rd(n);
    for (int p = 0; p < n; ++p) {
      sc[p] = count(r, p);
      rc[p] = count(p, r);
      sd[p] = p ? sd[p - 1] + sc[p - 1] : 0;
      rd[p] = p ? rd[p - 1] + rc[p - 1] : 0;
    }
    std::vector<int32_t> send(static_cast<size_t>(sd[n - 1] + sc[n - 1]));
    std::vector<int32_t> recv(static_cast<size_t>(rd[n - 1] + rc[n - 1]), -1);
    for (int p = 0; p < n; ++p)
      for (int64_t i = 0; i < sc[p]; ++i) send[static_cast<size_t>(sd[p] + i)] = r * 1000000 + p * 1000 + static_cast<int>(i);
    for (int rep = 0; rep < 50; ++rep) {
      const Status st = comm->alltoallv(send.data(), sc.data(), sd.data(), recv.data(), rc.data(), rd.data(), DSB_DTYPE_I32, nullptr);
      EXPECT_TRUE(st.ok()) << st.message;
    }
    for (int p = 0; p < n; ++p)
      for (int64_t i = 0; i < rc[p]; ++i)
        EXPECT_EQ(recv[static_cast<size_t>(rd[p] + i)], p * 1000000 + r * 1000 + static_cast<int>(i)) << "rank " << r;
    return 0;
  });
}

TEST(LocalCommunicator, BarrierReleasesNoRankBeforeAllArrived) {
  std::atomic<int> arrived{0};
  LocalWorld::run(3, [&](int r) {
    std::unique_ptr<Communicator> comm;
    EXPECT_TRUE(cpu::make_cpu_communicator(World::get(), &comm).ok());
    for (int round = 1; round <= 20; ++round) {
      ++arrived;
      EXPECT_TRUE(comm->barrier().ok());
      EXPECT_GE(arrived.load(), 3 * round) << "rank " << r;
      EXPECT_TRUE(comm->barrier().ok());  // nobody starts the next round before all have checked
    }
    return 0;
  });
}

TEST(LocalCommunicator, MismatchedCountsFailOnTheReceiverWithoutHanging) {
  LocalWorld::run(2, [&](int r) {
    std::unique_ptr<Communicator> comm;
    EXPECT_TRUE(cpu::make_cpu_communicator(World::get(), &comm).ok());
    std::vector<int64_t> sc = {1, 1}, sd = {0, 1}, rc = {1, r == 1 ? 2 : 1}, rd = {0, 1};  // rank 1 expects 2 from itself
    std::vector<uint16_t> send(2, 7), recv(3, 0);
    const Status st = comm->alltoallv(send.data(), sc.data(), sd.data(), recv.data(), rc.data(), rd.data(), DSB_DTYPE_BF16, nullptr);
    if (r == 1) {
      EXPECT_EQ(st.code, DSB_STATUS_INVALID_ARGUMENT);
      EXPECT_NE(st.message.find("rank 1 sends 1 elements of 2 bytes to rank 1, which expects 2"), std::string::npos) << st.message;
    } else {
      EXPECT_TRUE(st.ok()) << st.message;
    }
    return 0;
  });
}

}  // namespace
}  // namespace dsbench
