// Timing of one kernel on one device: warm-up, then repetitions until the median is stable (relative
// standard error under a noise target) or a time budget is spent, with an optional cache flush
// outside the timed region. Events bracket only the launch (docs/timing.md).
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <vector>

#include "dsbench/backend.hpp"

namespace dsbench {

struct TimingConfig {
  int warmup = 1;            // untimed runs before sampling
  int min_reps = 5;
  int max_reps = 1000;
  double budget_s = 1.0;     // stop sampling once this much measured time has accumulated
  double noise = 0.005;      // stop once stdev/(mean*sqrt(n)) is below this (and min_reps reached)
  bool flush_cache = true;   // cold cache: flush before every repetition (not timed)
  int rounds = 1;            // run_suite: time every case this many times, spread over the run
  const std::atomic<bool>* interrupt = nullptr;  // set (by a signal) to stop sampling early
  // Multi-rank ops: called before every timed repetition with this rank's wish (0 go on, 1 could
  // stop, 2 must stop); returns true when all ranks stop. Every rank then times the same number of
  // repetitions, and the call doubles as the barrier that lines the repetitions up across ranks.
  std::function<bool(int wish)> agree_stop;
  // Graph replay (docs/timing.md#graph-replay): > 1 records this many launches into one graph and
  // times the graph, each sample being graph time / launches. 1 times launches one by one.
  int graph_launches = 1;
  // Launches per sample without graphs (--batch): each sample times this many launches back to back,
  // with no flush between, and is their mean; as nccl-tests times its iterations. Multi-rank ops agree
  // and line up once per sample, so a batch amortises that over small exchanges.
  int batch = 1;
};

// The wall-clock cap on one case's sampling loop, flushes included: max(1 s, 10 x budget_s). The
// budget counts measured time only, so on a host whose cache flush costs far more than the kernel
// (a CPU reporting a 480 MiB last-level cache flushes ~1 GB per repetition) the loop would
// otherwise run for minutes to collect the budget from microsecond kernels.
inline double wall_limit_s(const TimingConfig& cfg) { return cfg.budget_s * 10.0 > 1.0 ? cfg.budget_s * 10.0 : 1.0; }


// One stage of a composite op timed alone (Problem::stages), in the op's order.
struct StageTiming {
  std::string name;
  double median_ms = 0, p10_ms = 0, p90_ms = 0;
  int samples = 0;
};

struct TimingStats {
  std::string method;        // "host steady_clock" or "device events"
  std::string cache;         // "cold (flushed)" or "warm"
  int warmup = 0;
  int samples = 0;
  double median_ms = 0, p10_ms = 0, p90_ms = 0, min_ms = 0, max_ms = 0, mean_ms = 0, stdev_ms = 0;
  double rel_spread = 0;     // (p90 - p10) / median
  double noise = 0;          // stdev / (mean * sqrt(n)) at the stop
  std::string stop_reason;   // "noise target", "time budget", "wall-clock limit", "max repetitions", "interrupted"
  std::vector<double> raw_ms;  // every sample, in order (bounded by max_reps)
  // Device telemetry around the sampling loop (Device::read_telemetry), when the device has it.
  bool has_telemetry = false;
  Telemetry before, after;
  double wall_s = 0;           // steady-clock span of the sampling loop (flushes included)
  bool throttled = false;      // either reading said so
  int graph_launches = 1;      // launches per timed graph replay (1: no graph)
  int batch = 1;               // launches per sample without a graph (TimingConfig::batch)
  std::string graph_refused;   // graph replay was asked for but the stream refused it: why
  std::vector<StageTiming> stages;  // composite ops: each stage timed alone after the whole
  std::string stages_refused;       // the kernel would not run stages alone: why
};

// Average power and energy per repetition over the sampling loop, from the energy counter
// (negative when the device has none). The loop includes the cache flushes between repetitions,
// so joules per repetition is an upper bound on the kernel's own.
double average_power_w(const TimingStats& t);
double joules_per_repetition(const TimingStats& t);

// Times launch() on device/stream. Returns the first failing status of launch or of an event.
Status measure(const std::function<Status()>& launch, Device& device, Stream& stream, const TimingConfig& cfg,
               TimingStats* out);

// Fills the order statistics of out from out->raw_ms.
void summarize(TimingStats* out);

}  // namespace dsbench
