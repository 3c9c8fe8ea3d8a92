// Driver of all-to-all: parses a case's params into the count matrix for the run's world size. The
// same params give every rank the same matrix (it depends only on the params, the world size and
// the case seed, which rank 0 broadcasts), so counts always match pairwise.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>

#include "harness/error.hpp"
#include "harness/json_file.hpp"
#include "harness/op_registry.hpp"
#include "harness/ops/all_to_all_moe_counts.hpp"
#include "harness/ops/all_to_all_problem.hpp"
#include "harness/param_reader.hpp"
#include "harness/rng.hpp"

namespace dsbench {
namespace {

constexpr int64_t kMaxBytesPerRank = int64_t{1} << 40;

std::vector<std::vector<int64_t>> parse_matrix(const nlohmann::json& m, const std::string& where, int world) {
  if (!m.is_array()) DSB_THROW(where + ": expected an array of " + std::to_string(world) + " rows");
  if (static_cast<int>(m.size()) != world)
    DSB_THROW(where + ": has " + std::to_string(m.size()) + " rows, but the run has " + std::to_string(world) +
              " ranks (a count matrix is world_size x world_size)");
  std::vector<std::vector<int64_t>> out;
  for (size_t s = 0; s < m.size(); ++s) {
    const std::string row = where + "[" + std::to_string(s) + "]";
    if (!m[s].is_array() || static_cast<int>(m[s].size()) != world)
      DSB_THROW(row + ": expected " + std::to_string(world) + " counts");
    std::vector<int64_t> r;
    for (size_t d = 0; d < m[s].size(); ++d) {
      const nlohmann::json& v = m[s][d];
      // 2^63 and above are unsigned in JSON: read as int64 they would wrap negative.
      if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > (1ull << 50)) || v.get<int64_t>() < 0)
        DSB_THROW(row + "[" + std::to_string(d) + "]: expected a non-negative integer element count below 2^50, got " + v.dump());
      r.push_back(v.get<int64_t>());
    }
    out.push_back(std::move(r));
  }
  return out;
}

class AllToAllDriver final : public OpDriver {
 public:
  dsb_op op() const override { return DSB_OP_ALL_TO_ALL; }
  std::map<std::string, Tolerance> default_tolerances() const override { return {{"recv", Tolerance{}}}; }  // exact
  bool multi_rank() const override { return true; }

  std::unique_ptr<Problem> make(const nlohmann::json& params) const override { return make_on(params, RankContext{}); }

  std::unique_ptr<Problem> make_on(const nlohmann::json& params, const RankContext& ctx) const override {
    ParamReader r(params);
    AllToAllShape s;
    s.world_size = ctx.world_size;
    const int w = ctx.world_size;
    s.dtype = r.dtype_or("dtype", DSB_DTYPE_BF16);
    const int64_t es = static_cast<int64_t>(dsb_dtype_size(s.dtype));
    s.pattern = r.choice_or("pattern", "equal", {"equal", "random", "zero_peers", "hot_receivers", "matrix", "moe_routing"});
    s.counts.assign(static_cast<size_t>(w), std::vector<int64_t>(static_cast<size_t>(w), 0));
    if (s.pattern == "matrix") {
      const nlohmann::json inline_m = r.raw("matrix");
      const nlohmann::json file = r.raw("matrix_file");
      if (inline_m.is_null() == file.is_null())
        DSB_THROW("params: pattern \"matrix\" needs exactly one of \"matrix\" (counts inline) or \"matrix_file\"");
      if (!inline_m.is_null()) {
        s.counts = parse_matrix(inline_m, "params.matrix", w);
      } else {
        if (!file.is_string()) DSB_THROW("params.matrix_file: expected a path string");
        const std::string path = file.get<std::string>();
        nlohmann::json doc = read_json_file(path, "params.matrix_file \"" + path + "\"");
        if (doc.is_object() && doc.contains("counts")) doc = doc.at("counts");
        s.counts = parse_matrix(doc, path, w);
      }
      r.finish();
      return make_all_to_all_problem(s, ctx);
    }
    if (s.pattern == "moe_routing") {
      // MoE dispatch's exchange: tokens routed by the gate, each sent once per rank holding one of its experts.
      const int64_t tokens_per_rank = r.integer("tokens_per_rank", 0, 1 << 20);
      const int64_t hidden = r.integer_or("hidden", 7168, 1, 1 << 20);
      const nlohmann::json routing = r.has("routing") ? r.raw("routing") : nlohmann::json::object();
      const uint64_t seed = static_cast<uint64_t>(r.integer_or("pattern_seed", 1, 0, INT64_MAX));
      r.finish();
      s.counts = moe_dispatch_token_counts(routing, tokens_per_rank, w, seed);
      for (auto& row : s.counts)
        for (int64_t& c : row) c *= hidden;
      return make_all_to_all_problem(s, ctx);
    }
    const int64_t bytes = r.integer("bytes_per_rank", 0, kMaxBytesPerRank);
    // Elements per (source, destination) pair, rounded down like nccl-tests' count = size / (n * type).
    const int64_t n = bytes / (es * w);
    const double zero_fraction = s.pattern == "zero_peers" ? r.number_or("zero_fraction", 0.25, 0.0, 1.0) : 0.0;
    const int64_t hot_ranks = s.pattern == "hot_receivers" ? r.integer_or("hot_ranks", 1, 1, 1 << 20) : 0;
    const double hot_factor = s.pattern == "hot_receivers" ? r.number_or("hot_factor", 4.0, 1.0, 1e6) : 1.0;
    const uint64_t pattern_seed = static_cast<uint64_t>(r.integer_or("pattern_seed", 1, 0, INT64_MAX));
    r.finish();
    const CounterRng rng(pattern_seed, 0xa11);
    for (int src = 0; src < w; ++src)
      for (int dst = 0; dst < w; ++dst) {
        int64_t& c = s.counts[static_cast<size_t>(src)][static_cast<size_t>(dst)];
        const uint64_t draw = rng.bits(static_cast<uint64_t>(src) * static_cast<uint64_t>(w) + static_cast<uint64_t>(dst));
        if (s.pattern == "equal") c = n;
        else if (s.pattern == "random") c = static_cast<int64_t>(draw % static_cast<uint64_t>(2 * n + 1));  // mean n
        else if (s.pattern == "zero_peers") {
          // The next rank always gets nothing (so every rank has a zero peer), others with zero_fraction.
          const bool zero = (w > 1 && dst == (src + 1) % w) || static_cast<double>(draw >> 11) * 0x1p-53 < zero_fraction;
          c = zero ? 0 : n;
        } else {
          c = dst < hot_ranks ? static_cast<int64_t>(std::llround(static_cast<double>(n) * hot_factor)) : n;
        }
      }
    return make_all_to_all_problem(s, ctx);
  }

  std::string params_help() const override {
    return "dtype (default bf16), pattern: equal | random | zero_peers | hot_receivers | matrix | moe_routing; "
           "bytes_per_rank (equal: each rank's send buffer, split evenly over the ranks), zero_fraction "
           "(zero_peers, default 0.25), hot_ranks and hot_factor (hot_receivers: ranks 0..hot_ranks-1 "
           "receive hot_factor times more, default 1 and 4), pattern_seed; matrix: [[counts]] or matrix_file "
           "(element counts, world_size x world_size, [source][destination]); moe_routing: tokens_per_rank, hidden "
           "(7168 elements per token), routing (moe_route params but num_tokens: DeepSeek-V3's gate by default), "
           "pattern_seed";
  }
};

}  // namespace

std::unique_ptr<OpDriver> make_all_to_all_driver() { return std::make_unique<AllToAllDriver>(); }

}  // namespace dsbench
