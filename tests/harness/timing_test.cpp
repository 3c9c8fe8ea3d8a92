// Timing statistics and the stopping rules, with a fake device whose events report scripted times.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>

#include "harness/timing.hpp"

namespace dsbench {
namespace {

// Each recorded stop event reports the next scripted duration; flushes are counted.
struct Script {
  std::vector<double> ms;
  size_t next = 0;
  int flushes = 0, launches = 0;
  int flush_sleep_ms = 0;  // a flush that takes this long (host time, not measured)
  // Telemetry: each reading advances the energy counter by joules_per_read; throttled on the
  // reading with this index (-1 never).
  bool telemetry = false;
  double joules_per_read = 0;
  int reads = 0, throttled_read = -1;
};

class FakeStream final : public Stream {
 public:
  Status synchronize() override { return Status::success(); }
};

class FakeEvent final : public Event {
 public:
  explicit FakeEvent(Script* s) : s_(s) {}
  Status record(Stream&) override { return Status::success(); }
  Status synchronize() override { return Status::success(); }
  Status elapsed_ms(const Event&, double* ms) const override {
    *ms = s_->ms[std::min(s_->next++, s_->ms.size() - 1)];
    return Status::success();
  }

 private:
  Script* s_;
};

class FakeDevice final : public Device {
 public:
  explicit FakeDevice(Script* s) : s_(s) {}
  std::string name() const override { return "fake"; }
  std::string backend() const override { return "fake"; }
  int index() const override { return 0; }
  Properties properties() const override { return {}; }
  Status allocate(size_t, std::unique_ptr<Buffer>*) override { return Status::error(DSB_STATUS_NOT_SUPPORTED, "no"); }
  Status copy_to_device(void*, const void*, size_t) override { return Status::success(); }
  Status copy_to_host(void*, const void*, size_t) override { return Status::success(); }
  Status fill_bytes(void*, uint8_t, size_t) override { return Status::success(); }
  Status create_stream(std::unique_ptr<Stream>* out) override { *out = std::make_unique<FakeStream>(); return Status::success(); }
  Status create_event(std::unique_ptr<Event>* out) override { *out = std::make_unique<FakeEvent>(s_); return Status::success(); }
  Status flush_cache(Stream&) override {
    ++s_->flushes;
    if (s_->flush_sleep_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(s_->flush_sleep_ms));
    return Status::success();
  }
  Status synchronize() override { return Status::success(); }
  Status read_telemetry(Telemetry* out) override {
    if (!s_->telemetry) return Device::read_telemetry(out);
    *out = Telemetry{};
    out->clock_mhz = 1980;
    out->reports_sm_clock = true;
    out->energy_j = 1000.0 + s_->joules_per_read * s_->reads;
    out->throttled = s_->reads == s_->throttled_read;
    if (out->throttled) out->throttle_reasons = {"sw_power_cap"};
    ++s_->reads;
    return Status::success();
  }

 private:
  Script* s_;
};

TEST(Summarize, ComputesMedianPercentilesAndSpreadLikeNumpy) {
  TimingStats s;
  s.raw_ms = {5, 1, 4, 2, 3};
  summarize(&s);
  EXPECT_EQ(s.samples, 5);
  EXPECT_DOUBLE_EQ(s.median_ms, 3.0);
  EXPECT_DOUBLE_EQ(s.p10_ms, 1.4);  // numpy.percentile([1..5], 10) = 1.4
  EXPECT_DOUBLE_EQ(s.p90_ms, 4.6);
  EXPECT_DOUBLE_EQ(s.min_ms, 1.0);
  EXPECT_DOUBLE_EQ(s.max_ms, 5.0);
  EXPECT_DOUBLE_EQ(s.mean_ms, 3.0);
  EXPECT_NEAR(s.stdev_ms, 1.5811388300841898, 1e-12);
  EXPECT_NEAR(s.rel_spread, 3.2 / 3.0, 1e-12);
}

TEST(Measure, StopsAtTheNoiseTargetOnceMinRepsAreReached) {
  Script sc{std::vector<double>(100, 2.0)};
  FakeDevice dev(&sc);
  FakeStream stream;
  TimingConfig cfg;
  cfg.min_reps = 7;
  cfg.warmup = 2;
  TimingStats st;
  ASSERT_TRUE(measure([&] { ++sc.launches; return Status::success(); }, dev, stream, cfg, &st).ok());
  EXPECT_EQ(st.samples, 7);
  EXPECT_EQ(st.stop_reason, "noise target");
  EXPECT_EQ(sc.launches, 9);  // 2 warm-up + 7 timed
  EXPECT_EQ(sc.flushes, 7);   // one flush before every timed repetition
  EXPECT_DOUBLE_EQ(st.median_ms, 2.0);
  EXPECT_EQ(st.method, "device events");
}

TEST(Measure, StopsAtTheTimeBudgetWhenSamplesStayNoisy) {
  std::vector<double> noisy;
  for (int i = 0; i < 1000; ++i) noisy.push_back(i % 2 ? 10.0 : 100.0);
  Script sc{noisy};
  FakeDevice dev(&sc);
  FakeStream stream;
  TimingConfig cfg;
  cfg.budget_s = 0.5;  // 500 ms of measured time: about 9 samples of 55 ms mean
  cfg.noise = 1e-9;
  TimingStats st;
  ASSERT_TRUE(measure([] { return Status::success(); }, dev, stream, cfg, &st).ok());
  EXPECT_EQ(st.stop_reason, "time budget");
  EXPECT_GE(st.samples, 9);
  EXPECT_LE(st.samples, 10);
}

TEST(Measure, StopsAtTheWallClockLimitWhenFlushesCostMoreThanTheKernel) {
  // 10 us kernels with 200 ms flushes: the 0.05 s budget would take 5000 repetitions (17 minutes);
  // the wall-clock limit, max(1 s, 10 x budget), stops after about 5.
  std::vector<double> noisy;
  for (int i = 0; i < 1000; ++i) noisy.push_back(i % 2 ? 0.01 : 0.02);
  Script sc{noisy};
  sc.flush_sleep_ms = 200;
  FakeDevice dev(&sc);
  FakeStream stream;
  TimingConfig cfg;
  cfg.budget_s = 0.05;
  cfg.noise = 1e-9;
  EXPECT_DOUBLE_EQ(wall_limit_s(cfg), 1.0);
  TimingStats st;
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(measure([] { return Status::success(); }, dev, stream, cfg, &st).ok());
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(st.stop_reason, "wall-clock limit");
  EXPECT_GE(st.samples, 2);
  EXPECT_LE(st.samples, 6);
  EXPECT_LT(s, 3.0);
  cfg.budget_s = 0.5;
  EXPECT_DOUBLE_EQ(wall_limit_s(cfg), 5.0);
}

TEST(Measure, HonoursMaxRepsAndWarmCache) {
  std::vector<double> noisy;
  for (int i = 0; i < 100; ++i) noisy.push_back(1.0 + (i % 3));
  Script sc{noisy};
  FakeDevice dev(&sc);
  FakeStream stream;
  TimingConfig cfg;
  cfg.max_reps = 12;
  cfg.noise = 0.0;
  cfg.budget_s = 1e9;
  cfg.flush_cache = false;
  TimingStats st;
  ASSERT_TRUE(measure([] { return Status::success(); }, dev, stream, cfg, &st).ok());
  EXPECT_EQ(st.samples, 12);
  EXPECT_EQ(st.stop_reason, "max repetitions");
  EXPECT_EQ(sc.flushes, 0);
  EXPECT_EQ(st.cache, "warm");
}

TEST(Measure, ReturnsTheLaunchErrorUnchanged) {
  Script sc{{1.0}};
  FakeDevice dev(&sc);
  FakeStream stream;
  TimingStats st;
  const Status s = measure([] { return Status::error(DSB_STATUS_DEVICE_ERROR, "boom"); }, dev, stream, TimingConfig{}, &st);
  EXPECT_EQ(s.code, DSB_STATUS_DEVICE_ERROR);
  EXPECT_EQ(s.message, "boom");
}

TEST(Telemetry, ReadBeforeAndAfterSamplingGivesPowerEnergyAndThrottling) {
  Script s;
  s.ms = {1.0};
  s.telemetry = true;
  s.joules_per_read = 5.0;  // 5 J between the two readings
  s.throttled_read = 1;     // the reading after sampling says the clocks were held down
  FakeDevice d(&s);
  FakeStream stream;
  TimingConfig cfg;
  cfg.min_reps = 4;
  cfg.max_reps = 4;
  cfg.warmup = 0;
  TimingStats t;
  ASSERT_TRUE(measure([] { return Status::success(); }, d, stream, cfg, &t).ok());
  EXPECT_EQ(s.reads, 2);
  ASSERT_TRUE(t.has_telemetry);
  EXPECT_TRUE(t.throttled);
  EXPECT_EQ(t.after.throttle_reasons, std::vector<std::string>{"sw_power_cap"});
  EXPECT_DOUBLE_EQ(joules_per_repetition(t), 5.0 / 4);
  EXPECT_GT(average_power_w(t), 0.0);
  EXPECT_DOUBLE_EQ(average_power_w(t), 5.0 / t.wall_s);
}

TEST(Telemetry, IsAbsentWhenTheDeviceHasNoneAndUnknownEnergyGivesNoPower) {
  Script s;
  s.ms = {1.0};
  FakeDevice d(&s);
  FakeStream stream;
  TimingConfig cfg;
  cfg.max_reps = 2;
  TimingStats t;
  ASSERT_TRUE(measure([] { return Status::success(); }, d, stream, cfg, &t).ok());
  EXPECT_FALSE(t.has_telemetry);
  EXPECT_FALSE(t.throttled);
  EXPECT_LT(average_power_w(t), 0.0);
  TimingStats no_energy;
  no_energy.has_telemetry = true;
  no_energy.raw_ms = {1.0};
  no_energy.wall_s = 1.0;
  EXPECT_LT(joules_per_repetition(no_energy), 0.0) << "energy -1 on both readings: unknown, not zero";
}

// A stream that can record: its graph replays the recorded launches.
class RecordingStream final : public Stream {
 public:
  Status synchronize() override { return Status::success(); }
  Status capture_graph(const std::function<Status()>& enqueue, int times, std::unique_ptr<Graph>* out) override {
    struct Replay final : Graph {
      std::function<Status()> f;
      int n = 0;
      Status launch(Stream&) override {
        for (int i = 0; i < n; ++i)
          if (Status s = f(); !s.ok()) return s;
        return Status::success();
      }
    };
    auto g = std::make_unique<Replay>();
    g->f = enqueue;
    g->n = times;
    *out = std::move(g);
    return Status::success();
  }
};

TEST(GraphReplay, EachSampleIsTheReplayTimeOverItsLaunches) {
  Script s;
  s.ms = {8.0};  // the events bracket one replay of 4 launches
  FakeDevice d(&s);
  RecordingStream stream;
  TimingConfig cfg;
  cfg.warmup = 1;
  cfg.min_reps = 3;
  cfg.max_reps = 3;
  cfg.graph_launches = 4;
  int launches = 0;
  TimingStats t;
  ASSERT_TRUE(measure([&] { ++launches; return Status::success(); }, d, stream, cfg, &t).ok());
  EXPECT_EQ(t.graph_launches, 4);
  EXPECT_TRUE(t.graph_refused.empty());
  EXPECT_EQ(t.raw_ms, (std::vector<double>{2.0, 2.0, 2.0}));
  EXPECT_EQ(launches, 1 + 4 + 3 * 4) << "warm-up, the untimed first replay, three timed replays";
}

TEST(Batch, EachSampleIsTheMeanOfItsLaunchesWithoutFlushesBetween) {
  Script s;
  s.ms = {6.0};  // the events bracket 3 launches back to back
  FakeDevice d(&s);
  FakeStream stream;
  TimingConfig cfg;
  cfg.warmup = 1;
  cfg.min_reps = 4;
  cfg.max_reps = 4;
  cfg.batch = 3;
  cfg.flush_cache = true;
  int launches = 0;
  TimingStats t;
  ASSERT_TRUE(measure([&] { ++launches; return Status::success(); }, d, stream, cfg, &t).ok());
  EXPECT_EQ(t.batch, 3);
  EXPECT_EQ(t.raw_ms, (std::vector<double>{2.0, 2.0, 2.0, 2.0}));
  EXPECT_EQ(launches, 1 + 4 * 3) << "warm-up, then four samples of three";
  EXPECT_EQ(s.flushes, 0) << "a batch is timed warm";
  EXPECT_EQ(t.cache, "warm");
}

TEST(GraphReplay, FallsBackToSingleLaunchesAndSaysWhyWhereThereAreNoGraphs) {
  Script s;
  s.ms = {1.5};
  FakeDevice d(&s);
  FakeStream stream;  // no capture_graph: the default refuses
  TimingConfig cfg;
  cfg.max_reps = 2;
  cfg.graph_launches = 10;
  TimingStats t;
  ASSERT_TRUE(measure([] { return Status::success(); }, d, stream, cfg, &t).ok());
  EXPECT_EQ(t.graph_launches, 1);
  EXPECT_NE(t.graph_refused.find("no graph replay"), std::string::npos);
  EXPECT_EQ(t.raw_ms[0], 1.5);
}

}  // namespace
}  // namespace dsbench
