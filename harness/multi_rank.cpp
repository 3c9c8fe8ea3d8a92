#include "harness/multi_rank.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "harness/op_registry.hpp"
#include "harness/scorecard.hpp"
#include "harness/timing.hpp"

namespace dsbench {
namespace {

std::string join_ranks(const std::vector<int>& ranks) {
  std::string s;
  for (int r : ranks) s += (s.empty() ? "" : ", ") + std::to_string(r);
  return s;
}

// A rank that waits on rank 0 gives it more time than rank 0 gives the others, so that rank 0,
// which writes the scorecard, is the one that notices first.
double follower_timeout(double t) { return t * 1.5 + 10.0; }

uint64_t memory_budget(Device& device, int local_size) {
  if (device.host_accessible()) {
    const double avail = static_cast<double>(sysconf(_SC_AVPHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
    return static_cast<uint64_t>(0.8 * avail / std::max(1, local_size));
  }
  const Properties p = device.properties();
  if (const auto it = p.find("memory_bytes"); it != p.end() && std::holds_alternative<int64_t>(it->second))
    return static_cast<uint64_t>(0.9 * static_cast<double>(std::get<int64_t>(it->second)));
  return 0;
}

// One case x kernel across the ranks: the agreement points, the watchdog, and the fatal path.
class Collective {
 public:
  Collective(const CaseSpec& c, const Kernel& k, uint64_t seed, Device& device, const RunOptions& opts,
             MultiRankSession& s)
      : c_(c), kernel_(k), seed_(seed), device_(device), opts_(opts), s_(s), w_(*s.world) {}

  // "<disposition>\t<reason>" of the case over all ranks, or "" when every rank is fine.
  std::string agree(const std::string& point, const std::string& local) {
    std::vector<int> missing;
    const std::vector<std::string> all = w_.gather_to_root(local, timeout(), &missing);
    std::string decision;
    if (w_.rank() == 0) {
      if (!missing.empty())
        fatal("ranks " + join_ranks(missing) + " of " + std::to_string(w_.world_size()) + " did not arrive at '" +
              point + "' within " + seconds() + " (crashed, hung, or stuck in an earlier exchange)");
      std::string disposition, reasons;
      for (size_t r = 0; r < all.size(); ++r) {
        if (all[r].empty()) continue;
        const size_t tab = all[r].find('\t');
        const std::string d = all[r].substr(0, tab), why = tab == std::string::npos ? "" : all[r].substr(tab + 1);
        disposition = disposition.empty() || disposition == d ? d : "error";
        reasons += (reasons.empty() ? "" : "; ") + ("rank " + std::to_string(r) + ": " + why);
      }
      if (!disposition.empty()) decision = disposition + "\t" + reasons;
    }
    if (!w_.bcast_from_root(&decision, w_.rank() == 0 ? timeout() : follower_timeout(timeout())))
      follower_fatal("rank 0 did not answer at '" + point + "'");
    return decision;
  }

  // Before every timed repetition: every rank's wish, the common decision (any must-stop, or all could-stop).
  bool agree_stop(int wish) {
    std::vector<int> missing;
    const std::vector<std::string> all = w_.gather_to_root(std::to_string(wish), timeout(), &missing);
    std::string decision = "0";
    if (w_.rank() == 0) {
      if (!missing.empty())
        fatal("ranks " + join_ranks(missing) + " did not arrive at timed repetition " + std::to_string(reps_) +
              " within " + seconds());
      bool any_must = false, all_could = true;
      for (const std::string& x : all) {
        any_must = any_must || x == "2";
        all_could = all_could && x != "0";
      }
      decision = any_must || all_could ? "1" : "0";
    }
    if (!w_.bcast_from_root(&decision, w_.rank() == 0 ? timeout() : follower_timeout(timeout())))
      follower_fatal("rank 0 did not answer at timed repetition " + std::to_string(reps_));
    ++reps_;
    // The messages above release the ranks one after another; a barrier starts the timed exchange
    // together, as a plain MPI benchmark loop would (bench/all_to_all_overhead_bench compares the
    // two): the communicator's own when it has one (MPI: on the exchange's communicator), else the world's.
    if (decision != "1" && (!s_.comm || !s_.comm->barrier().ok())) w_.barrier();
    return decision == "1";
  }

  void arm() {
    // Each agreement waits at most timeout(); the watchdog is the backstop for waits that cannot be
    // bounded (a blocking exchange), so it leaves room for an agreement to name the missing ranks first.
    const double whole = 2 * opts_.case_timeout_s + 5;
    const double t = w_.rank() == 0 ? whole : follower_timeout(whole);
    const std::string what = where() + ": not finished within " + seconds(t) + " (2 x --case-timeout + 5 s): every "
                             "rank had agreed to start, but an exchange did not complete or a rank hung in its kernel";
    w_.arm(what, t, [this](const std::string& msg) {
      if (w_.rank() == 0 && s_.on_fatal) s_.on_fatal(error_row(msg));
    });
  }
  void disarm() { w_.disarm(); }

  ResultRow error_row(const std::string& why) const {
    ResultRow r = case_row(c_, seed_, device_.backend(), device_.index());
    r.kernel = kernel_.id();
    r.disposition = "error";
    r.reason = why;
    return r;
  }

 private:
  double timeout() const { return opts_.case_timeout_s; }
  std::string seconds(double t = -1) const {
    char b[32];
    std::snprintf(b, sizeof b, "%g s", t < 0 ? timeout() : t);
    return b;
  }
  std::string where() const { return "case \"" + c_.id + "\", kernel " + kernel_.id(); }

  [[noreturn]] void fatal(const std::string& why) {
    const std::string msg = where() + ": " + why;
    std::fprintf(stderr, "dsbench: rank 0: %s; ending the job\n", msg.c_str());
    if (s_.on_fatal) s_.on_fatal(error_row(msg));
    w_.abort(3);
  }
  [[noreturn]] void follower_fatal(const std::string& why) {
    std::fprintf(stderr, "dsbench: rank %d: %s: %s; ending the job\n", w_.rank(), where().c_str(), why.c_str());
    w_.abort(3);
  }

  const CaseSpec& c_;
  const Kernel& kernel_;
  uint64_t seed_;
  Device& device_;
  const RunOptions& opts_;
  MultiRankSession& s_;
  World& w_;
  int reps_ = 0;
};

}  // namespace

ResultRow merge_rank_rows(const std::vector<ResultRow>& rows, const std::vector<nlohmann::json>& extras) {
  ResultRow m = rows.at(0);
  const int w = static_cast<int>(rows.size());
  nlohmann::json ranks = nlohmann::json::array();
  std::string worst = "passed", reasons;
  int64_t wrong = 0;
  int slowest = -1;
  double slowest_ms = -1, total = 0, local = 0, max_send = 0, max_recv = 0;
  bool all_timed = true;
  for (int r = 0; r < w; ++r) {
    const ResultRow& x = rows[static_cast<size_t>(r)];
    const nlohmann::json& e = extras[static_cast<size_t>(r)];
    int64_t bad = 0;
    for (const OutputAccuracy& a : x.accuracy) bad += a.mismatches + a.nonfinite_mismatches;
    wrong += bad;
    nlohmann::json j = {{"rank", r}, {"host", e.value("host", "")}, {"device", x.device < 0 ? nlohmann::json() : nlohmann::json(x.device)},
                        {"disposition", x.disposition}, {"reason", x.reason}, {"wrong_elements", bad},
                        {"send_bytes", e.value("send_bytes", 0.0)}, {"recv_bytes", e.value("recv_bytes", 0.0)}};
    if (x.timing) {
      j["median_ms"] = x.timing->median_ms;
      j["p10_ms"] = x.timing->p10_ms;
      j["p90_ms"] = x.timing->p90_ms;
      j["samples"] = x.timing->samples;
      if (x.timing->median_ms > slowest_ms) {
        slowest_ms = x.timing->median_ms;
        slowest = r;
      }
    } else {
      all_timed = false;
    }
    ranks.push_back(j);
    total += e.value("send_bytes", 0.0);
    local += e.value("local_bytes", 0.0);
    max_send = std::max(max_send, e.value("send_bytes", 0.0));
    max_recv = std::max(max_recv, e.value("recv_bytes", 0.0));
    // error beats incorrect beats the rest; every rank that is not passed says why.
    auto rank_of = [](const std::string& d) { return d == "error" ? 3 : d == "incorrect" ? 2 : d == "passed" ? 0 : 1; };
    if (rank_of(x.disposition) > rank_of(worst)) worst = x.disposition;
    if (x.disposition != "passed" && !x.reason.empty() && reasons.find(x.reason) == std::string::npos)
      reasons += (reasons.empty() ? "" : "; ") + ("rank " + std::to_string(r) + ": " + x.reason);
  }
  // Dispositions agreed across ranks (not_supported, skipped, not_verified) stay as they are.
  bool same = true;
  for (const ResultRow& x : rows) same = same && x.disposition == rows[0].disposition;
  m.disposition = same ? rows[0].disposition : worst;
  m.reason = same && w > 0 ? rows[0].reason : reasons;
  if (m.disposition == "incorrect") {
    std::string per_rank;
    for (int r = 0; r < w; ++r) per_rank += (r ? ", " : "") + ranks[static_cast<size_t>(r)]["wrong_elements"].dump();
    m.reason = std::to_string(wrong) + " wrong elements over " + std::to_string(w) + " ranks (per rank: " + per_rank +
               "); " + reasons;
  }
  // One accuracy entry per output, summed over ranks: every element of every rank was checked.
  for (size_t i = 0; i < m.accuracy.size(); ++i) {
    OutputAccuracy& a = m.accuracy[i];
    a.passed = true;
    a.total = a.checked = a.mismatches = a.nonfinite_mismatches = 0;
    a.cos_diff = 0;
    for (const ResultRow& x : rows) {
      if (i >= x.accuracy.size()) continue;
      const OutputAccuracy& b = x.accuracy[i];
      a.total += b.total;
      a.checked += b.checked;
      a.mismatches += b.mismatches;
      a.nonfinite_mismatches += b.nonfinite_mismatches;
      a.cos_diff = std::max(a.cos_diff, b.cos_diff);
      if (!b.passed && a.passed) {
        a.worst_index = b.worst_index;
        a.worst_coord = b.worst_coord;
        a.worst_expected = b.worst_expected;
        a.worst_actual = b.worst_actual;
        a.rule = b.rule;
      }
      a.passed = a.passed && b.passed;
    }
    if (a.passed) a.rule = rows[0].accuracy[i].rule + " (on each of the " + std::to_string(w) + " ranks)";
  }
  const double per_rank = w ? total / w : 0.0;
  nlohmann::json coll = {{"world_size", w}, {"wrong_elements", wrong}, {"time_ms", 0.0}, {"slowest_rank", 0},
                         {"bytes_per_rank", per_rank}, {"bytes_per_rank_max", max_send}, {"bytes_total", total},
                         {"bytes_local", local}, {"bytes_crossed", total - local},
                         {"imbalance", per_rank > 0 ? std::max(max_send, max_recv) / per_rank : 0.0}};
  // The row's cost per rank: the mean of the ranks' own (all-to-all, dispatch and combine: the bytes
  // each sends, whose mean is bytes_per_rank; the MoE layer: the weights and activations each reads).
  m.bytes = m.flops = m.tokens = 0;
  for (const ResultRow& x : rows) {
    m.bytes += x.bytes / w;
    m.flops += x.flops / w;
    m.tokens += x.tokens / w;
  }
  if (all_timed && slowest >= 0) {
    // As nccl-tests with -a 3 (max over ranks), on medians: the time of a collective is its slowest
    // rank's; algbw = bytes per rank / time,
    // busbw = what crossed the ranks per rank / time (= algbw * (n-1)/n for equal counts).
    m.timing = rows[static_cast<size_t>(slowest)].timing;
    const double s = slowest_ms * 1e-3;
    coll["time_ms"] = slowest_ms;
    coll["slowest_rank"] = slowest;
    coll["algbw_gbps"] = s > 0 ? per_rank / s / 1e9 : 0.0;
    coll["busbw_gbps"] = s > 0 ? (total - local) / w / s / 1e9 : 0.0;
    // Repetitions are lined up across ranks (a barrier before each): the iteration's time is its slowest rank's.
    size_t n = SIZE_MAX;
    for (const ResultRow& x : rows) n = std::min(n, x.timing->raw_ms.size());
    std::vector<double> per_iter(n, 0.0);
    for (const ResultRow& x : rows)
      for (size_t i = 0; i < n; ++i) per_iter[i] = std::max(per_iter[i], x.timing->raw_ms[i]);
    std::sort(per_iter.begin(), per_iter.end());
    auto pct = [&](double q) {
      if (per_iter.empty()) return 0.0;
      const double pos = q * static_cast<double>(per_iter.size() - 1);
      const size_t lo = static_cast<size_t>(pos), hi = std::min(lo + 1, per_iter.size() - 1);
      return per_iter[lo] + (per_iter[hi] - per_iter[lo]) * (pos - static_cast<double>(lo));
    };
    coll["iterations"] = static_cast<int64_t>(n);
    coll["iteration_p50_ms"] = pct(0.5);
    coll["iteration_p99_ms"] = pct(0.99);
  } else {
    m.timing.reset();
  }
  m.collective = coll;
  m.ranks = ranks;
  return m;
}

std::vector<ResultRow> run_multi_rank_case(const std::string& suite_path, const CaseSpec& c, uint64_t seed,
                                           Device& device, const std::vector<const Kernel*>& kernels,
                                           const RunOptions& opts, MultiRankSession& session) {
  World& w = *session.world;
  std::vector<ResultRow> out;
  const OpDriver* driver = find_driver(dsb_op_from_name(c.op.c_str()));
  for (const Kernel* k : kernels) {
    Collective coll(c, *k, seed, device, opts, session);
    RankContext ctx{w.rank(), w.world_size(), session.comm.get(), memory_budget(device, w.local_size())};
    std::unique_ptr<Problem> problem;
    std::map<std::string, Tolerance> tol;
    TensorMap inputs;
    std::vector<OutputCheck> checks;
    std::string local;  // "<disposition>\t<reason>" when this rank cannot take part
    try {
      problem = driver->make_on(c.params, ctx);
      tol = merge_tolerances(driver->default_tolerances(), c.tolerance);
      if (const std::string skip = problem->skip_reason(); !skip.empty()) {
        local = "skipped\t" + skip;
      } else if (!session.comm) {
        local = "not_supported\t" + session.comm_error;
      } else {
        for (const TensorSpec& s : problem->inputs()) inputs.emplace(s.name, HostTensor(s));
        problem->generate(seed, inputs);
        if (!opts.perf_only) checks = problem->reference(inputs, opts.verify, sample_seed(seed));
      }
    } catch (const std::bad_alloc&) {
      local = "error\t" + suite_path + ": case \"" + c.id + "\": host out of memory preparing inputs";
    } catch (const std::exception& e) {
      local = "error\t" + suite_path + ": case \"" + c.id + "\": " + e.what();
    }

    ResultRow row;
    coll.arm();
    if (!local.empty()) {
      const std::string all = coll.agree("ready", local);
      row = coll.error_row("");
      row.disposition = all.substr(0, all.find('\t'));
      row.reason = all.substr(all.find('\t') + 1);
    } else {
      RunOptions o = opts;
      o.agree = [&](const std::string& point, const std::string& mine) { return coll.agree(point, mine); };
      o.agree_stop = [&](int wish) { return coll.agree_stop(wish); };
      Execution ex = execute(*k, device, *problem, inputs, opts.perf_only ? nullptr : &checks, tol, o);
      row = std::move(ex.row);
      if (!opts.reference_cache.empty() && !opts.perf_only)
        row.reference = {ReferenceSource::kComputed,
                         "multi-rank ops check against state built per run: the reference cache does not hold them"};
      // A world of one dumps as a single-device run does, and replays; a larger world's rank holds
      // only its part of the exchange, which `dsbench replay` (one process) cannot rerun.
      if (w.world_size() == 1) {
        dump_if_asked(row, c, seed, *k, *problem, tol, inputs, ex.outputs, opts.perf_only ? nullptr : &checks, opts);
      } else if (!opts.dump_dir.empty()) {
        row.reason += std::string(row.reason.empty() ? "" : "; ") + "--dump: not written for a " +
                      std::to_string(w.world_size()) + "-rank run (replay runs one rank; dump with one rank)";
      }
    }
    row.case_id = c.id;
    row.op = c.op;
    row.params = c.params.is_null() ? nlohmann::json::object() : c.params;
    row.seed = seed;

    // Every rank's row to rank 0.
    const Problem::Traffic t = problem ? problem->traffic() : Problem::Traffic{};
    nlohmann::json mine = {{"row", row_json(row)},
                           {"extras", {{"host", w.host()}, {"send_bytes", t.send}, {"recv_bytes", t.recv}, {"local_bytes", t.local}}}};
    std::vector<int> missing;
    const std::vector<std::string> all = w.gather_to_root(mine.dump(), opts.case_timeout_s, &missing);
    coll.disarm();
    if (w.rank() != 0) continue;
    if (!missing.empty()) {
      ResultRow bad = coll.error_row("ranks " + join_ranks(missing) + " did not report their results within " +
                                     std::to_string(opts.case_timeout_s) + " s");
      if (session.on_fatal) session.on_fatal(bad);
      w.abort(3);
    }
    std::vector<ResultRow> rows;
    std::vector<nlohmann::json> extras;
    for (size_t r = 0; r < all.size(); ++r) {
      try {
        const nlohmann::json j = nlohmann::json::parse(all[r]);
        rows.push_back(row_from_json(j.at("row")));
        extras.push_back(j.at("extras"));
      } catch (const std::exception& e) {
        // Only a rank out of step with the others' messages sends something else here.
        ResultRow bad = coll.error_row("rank " + std::to_string(r) + " sent no readable result (out of step with the "
                                       "other ranks?): " + e.what());
        if (session.on_fatal) session.on_fatal(bad);
        w.abort(3);
      }
    }
    out.push_back(merge_rank_rows(rows, extras));
  }
  return out;
}

}  // namespace dsbench
