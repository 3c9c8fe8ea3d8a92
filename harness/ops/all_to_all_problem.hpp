// The all-to-all problem (docs/ops/all_to_all.md): a count matrix over the ranks (equal, random,
// zero peers, hot receivers, or given), every element's bits a function of (source rank, destination
// rank, index) so that each rank checks all it received exactly, and nccl-tests' byte accounting.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dsbench/ops.h"
#include "harness/problem.hpp"

namespace dsbench {

struct AllToAllShape {
  dsb_dtype dtype = DSB_DTYPE_BF16;
  int world_size = 1;
  std::vector<std::vector<int64_t>> counts;  // [source][destination] elements
  std::string pattern;                       // how counts were made, for the scorecard

  int64_t sent_by(int rank) const;       // elements rank sends (itself included)
  int64_t received_by(int rank) const;   // elements rank receives (itself included)
  int64_t total() const;                 // elements over all pairs
  int64_t crossed() const;               // elements between different ranks
};

// The expected bits of element i of the block `source` sends to `dest`: never the 0xff poison, and
// finite in every floating dtype.
uint64_t all_to_all_element_bits(uint64_t seed, int source, int dest, int64_t i, dsb_dtype dtype);

std::unique_ptr<Problem> make_all_to_all_problem(const AllToAllShape& shape, const RankContext& ctx);

}  // namespace dsbench
