// Cases of multi-rank ops (all-to-all, expert-parallel MoE): every rank of the World runs the case
// together, they agree at fixed points so one rank's failure fails the case everywhere instead of
// hanging the others, and rank 0 merges the ranks' rows into one with nccl-tests' metrics
// (docs/multi_rank.md, docs/ops/all_to_all.md).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dsbench/comm.hpp"
#include "harness/runner.hpp"
#include "harness/world.hpp"

namespace dsbench {

struct MultiRankSession {
  World* world = nullptr;
  std::unique_ptr<Communicator> comm;  // null when the backend has none: cases are not_supported
  std::string comm_error;              // why comm is null
  bool comm_tried = false;             // created at the first multi-rank case (collectively)
  // Rank 0: called once, just before the job is ended because a rank did not arrive or a collective
  // did not complete; writes the scorecard with the rows so far and `row` (an error naming the case).
  std::function<void(const ResultRow& row)> on_fatal;
};

// Runs one case of a multi-rank op for the kernels on every rank. Rank 0 returns one merged row per
// kernel; the other ranks return none.
std::vector<ResultRow> run_multi_rank_case(const std::string& suite_path, const CaseSpec& c, uint64_t seed,
                                           Device& device, const std::vector<const Kernel*>& kernels,
                                           const RunOptions& opts, MultiRankSession& session);

// Rank 0: one row out of every rank's row of the same case and kernel (`extras` per rank: host,
// traffic). Exposed for tests.
ResultRow merge_rank_rows(const std::vector<ResultRow>& rows, const std::vector<nlohmann::json>& extras);

}  // namespace dsbench
