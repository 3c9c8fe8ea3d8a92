// Ranks of an expert-parallel world for emulated kernels: threads of this process (the harness's
// `--local-ranks` world), each with the CPU backend's in-process communicator over host memory, so
// that device code exchanging through dsb_comm runs in the SIMT emulator (one emulator per thread).
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>

#include "harness/local_world.hpp"
#include "harness/problem.hpp"
#include "kernels/cpu/cpu_communicators.hpp"

namespace dsbench::emu_test {

// Runs body(ctx) on every rank of a world of n, ctx carrying the rank and its communicator.
inline void run_ranks(int n, const std::function<void(const RankContext&)>& body) {
  LocalWorld::run(n, [&](int rank) {
    std::unique_ptr<Communicator> comm;
    const Status st = cpu::make_cpu_communicator(World::get(), &comm);
    EXPECT_TRUE(st.ok()) << st.message;
    if (!st.ok()) return 1;
    comm->set_timeout_s(60);  // a sequence that leaves a peer waiting fails the test instead of hanging it
    body(RankContext{rank, n, comm.get(), 0});
    return 0;
  });
}

}  // namespace dsbench::emu_test
