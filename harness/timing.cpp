#include "harness/timing.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>

namespace dsbench {
namespace {

// Linear interpolation between order statistics (NumPy's default percentile).
double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0.0;
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - static_cast<double>(lo));
}

double relative_standard_error(const std::vector<double>& x) {
  if (x.size() < 2) return INFINITY;
  double mean = 0.0;
  for (double v : x) mean += v;
  mean /= static_cast<double>(x.size());
  double var = 0.0;
  for (double v : x) var += (v - mean) * (v - mean);
  var /= static_cast<double>(x.size() - 1);
  return mean > 0.0 ? std::sqrt(var) / (mean * std::sqrt(static_cast<double>(x.size()))) : INFINITY;
}

}  // namespace

void summarize(TimingStats* s) {
  std::vector<double> v = s->raw_ms;
  std::sort(v.begin(), v.end());
  s->samples = static_cast<int>(v.size());
  if (v.empty()) return;
  s->median_ms = percentile(v, 0.5);
  s->p10_ms = percentile(v, 0.1);
  s->p90_ms = percentile(v, 0.9);
  s->min_ms = v.front();
  s->max_ms = v.back();
  double sum = 0.0;
  for (double x : v) sum += x;
  s->mean_ms = sum / static_cast<double>(v.size());
  double var = 0.0;
  for (double x : v) var += (x - s->mean_ms) * (x - s->mean_ms);
  s->stdev_ms = v.size() > 1 ? std::sqrt(var / static_cast<double>(v.size() - 1)) : 0.0;
  s->rel_spread = s->median_ms > 0 ? (s->p90_ms - s->p10_ms) / s->median_ms : 0.0;
  const double rse = relative_standard_error(v);
  s->noise = std::isfinite(rse) ? rse : 0.0;
}

Status measure(const std::function<Status()>& launch, Device& device, Stream& stream, const TimingConfig& cfg,
               TimingStats* out) {
  *out = TimingStats{};
  out->method = device.host_accessible() ? "host steady_clock" : "device events";
  out->cache = cfg.flush_cache ? "cold (flushed)" : "warm";
  out->warmup = cfg.warmup;
  std::unique_ptr<Event> start, stop;
  Status st = device.create_event(&start);
  if (st.ok()) st = device.create_event(&stop);
  if (!st.ok()) return st;
  for (int i = 0; i < cfg.warmup; ++i) {
    if (!(st = launch()).ok()) return st;
  }
  std::unique_ptr<Graph> graph;
  if (cfg.graph_launches > 1) {
    const Status g = stream.capture_graph(launch, cfg.graph_launches, &graph);
    if (g.ok()) {
      out->graph_launches = cfg.graph_launches;
      if (!(st = graph->launch(stream)).ok()) return st;  // the first replay uploads the graph: untimed
    } else if (g.code == DSB_STATUS_NOT_SUPPORTED) {
      out->graph_refused = g.message;  // timed launch by launch instead, and the scorecard says why
    } else {
      return g;
    }
  }
  // Without a graph, --batch launches back to back make one sample (their mean); the cache is then
  // warm for all but the first, so batches are not flushed and say so.
  out->batch = graph ? 1 : std::max(1, cfg.batch);
  const bool flush = cfg.flush_cache && out->batch == 1;
  if (out->batch > 1) out->cache = "warm";
  const std::function<Status()> timed =
      graph ? std::function<Status()>([&] { return graph->launch(stream); })
      : out->batch > 1 ? std::function<Status()>([&] {
          for (int i = 0; i < out->batch; ++i)
            if (Status s = launch(); !s.ok()) return s;
          return Status::success();
        })
      : launch;
  if (!(st = stream.synchronize()).ok()) return st;
  out->has_telemetry = device.read_telemetry(&out->before).ok();
  const auto loop_start = std::chrono::steady_clock::now();
  double total_ms = 0.0;
  int wish = 0;  // after each repetition: 0 go on, 1 could stop (soft target met), 2 must stop
  std::string reason;
  while (true) {
    if (cfg.agree_stop) {
      if (cfg.agree_stop(wish)) {
        out->stop_reason = wish ? reason : "with the other ranks";
        break;
      }
    } else if (wish) {
      out->stop_reason = reason;
      break;
    }
    // A failed repetition still takes part in the next agreement (as a must-stop), so the other
    // ranks stop with it instead of waiting for it.
    auto failed = [&](Status s) {
      if (cfg.agree_stop) cfg.agree_stop(2);
      return s;
    };
    if (flush && !(st = device.flush_cache(stream)).ok()) return failed(st);
    if (!(st = start->record(stream)).ok()) return failed(st);
    if (!(st = timed()).ok()) return failed(st);
    if (!(st = stop->record(stream)).ok()) return failed(st);
    if (!(st = stop->synchronize()).ok()) return failed(st);
    double ms = 0.0;
    if (!(st = stop->elapsed_ms(*start, &ms)).ok()) return failed(st);
    ms /= out->graph_launches * out->batch;
    out->raw_ms.push_back(ms);
    total_ms += ms;
    const int n = static_cast<int>(out->raw_ms.size());
    if (n >= cfg.max_reps) { wish = 2; reason = "max repetitions"; }
    else if (cfg.interrupt && cfg.interrupt->load()) { wish = 2; reason = "interrupted"; }
    else if (n >= cfg.min_reps && relative_standard_error(out->raw_ms) <= cfg.noise) { wish = 1; reason = "noise target"; }
    // The budget also ends sampling before min_reps: one run of a huge case may exceed it alone.
    // So does the wall-clock limit (flushes included).
    else if (n >= std::min(cfg.min_reps, 2)) {
      if (total_ms >= cfg.budget_s * 1e3) { wish = 1; reason = "time budget"; }
      else if (std::chrono::duration<double>(std::chrono::steady_clock::now() - loop_start).count() >= wall_limit_s(cfg)) {
        wish = 1;
        reason = "wall-clock limit";
      }
    }
  }
  out->wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - loop_start).count();
  if (out->has_telemetry) out->has_telemetry = device.read_telemetry(&out->after).ok();
  out->throttled = out->has_telemetry && (out->before.throttled || out->after.throttled);
  summarize(out);
  return Status::success();
}

double average_power_w(const TimingStats& t) {
  if (!t.has_telemetry || t.before.energy_j < 0 || t.after.energy_j < t.before.energy_j || t.wall_s <= 0) return -1;
  return (t.after.energy_j - t.before.energy_j) / t.wall_s;
}

double joules_per_repetition(const TimingStats& t) {
  if (!t.has_telemetry || t.before.energy_j < 0 || t.after.energy_j < t.before.energy_j || t.raw_ms.empty()) return -1;
  return (t.after.energy_j - t.before.energy_j) / static_cast<double>(t.raw_ms.size());
}

}  // namespace dsbench
