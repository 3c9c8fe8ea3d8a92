#include "kernels/cpu/cpu_backend.hpp"
#include "kernels/cpu/cpu_ceilings.hpp"
#include "kernels/cpu/cpu_telemetry.hpp"
#include "kernels/cpu/cpu_communicators.hpp"

#include <omp.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <string>
#include <thread>

#include "dsbench/kernel.hpp"

namespace dsbench::cpu {
namespace {

constexpr size_t kAlignment = 64;  // cache line; also what AVX-512 loads prefer

std::string read_first_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::getline(f, line);
  return line;
}

std::string cpu_model_name() {
  std::ifstream f("/proc/cpuinfo");
  for (std::string line; std::getline(f, line);) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown CPU";
}

// Largest cache size in bytes from sysfs ("32768K"); 0 when unknown.
int64_t last_level_cache_bytes() {
  int64_t best = 0;
  for (int i = 0; i < 8; ++i) {
    const std::string s = read_first_line("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/size");
    if (s.empty()) continue;
    int64_t v = std::atoll(s.c_str());
    if (s.back() == 'K') v <<= 10;
    if (s.back() == 'M') v <<= 20;
    best = std::max(best, v);
  }
  return best;
}

class HostBuffer final : public Buffer {
 public:
  HostBuffer(void* p, size_t n) : ptr_(p), bytes_(n) {}
  ~HostBuffer() override { std::free(ptr_); }
  void* data() const override { return ptr_; }
  size_t bytes() const override { return bytes_; }

 private:
  void* ptr_;
  size_t bytes_;
};

// Work on the CPU runs when it is enqueued, so a stream is always idle.
class CpuStream final : public Stream {
 public:
  Status synchronize() override { return Status::success(); }
};

class CpuEvent final : public Event {
 public:
  Status record(Stream&) override {
    at_ = std::chrono::steady_clock::now();
    recorded_ = true;
    return Status::success();
  }
  Status synchronize() override { return Status::success(); }
  Status elapsed_ms(const Event& start, double* ms) const override {
    const auto* s = dynamic_cast<const CpuEvent*>(&start);
    if (s == nullptr || !s->recorded_ || !recorded_)
      return Status::error(DSB_STATUS_INVALID_ARGUMENT, "elapsed_ms: both events must be recorded CPU events");
    *ms = std::chrono::duration<double, std::milli>(at_ - s->at_).count();
    return Status::success();
  }

 private:
  std::chrono::steady_clock::time_point at_{};
  bool recorded_ = false;
};

class CpuDevice final : public Device {
 public:
  CpuDevice() : name_(cpu_model_name()), llc_bytes_(last_level_cache_bytes()) {}

  std::string name() const override { return name_; }
  std::string backend() const override { return "cpu"; }
  int index() const override { return 0; }
  bool host_accessible() const override { return true; }

  Properties properties() const override {
    Properties p;
    p["logical_cores"] = static_cast<int64_t>(std::thread::hardware_concurrency());
    p["omp_max_threads"] = static_cast<int64_t>(omp_get_max_threads());
    p["last_level_cache_bytes"] = llc_bytes_;
    p["memory_bytes"] = static_cast<int64_t>(sysconf(_SC_PHYS_PAGES)) * sysconf(_SC_PAGE_SIZE);
#if defined(__x86_64__)
    __builtin_cpu_init();
    p["avx2"] = static_cast<bool>(__builtin_cpu_supports("avx2"));
    p["fma"] = static_cast<bool>(__builtin_cpu_supports("fma"));
    p["avx512f"] = static_cast<bool>(__builtin_cpu_supports("avx512f"));
#endif
    return p;
  }

  Status allocate(size_t bytes, std::unique_ptr<Buffer>* out) override {
    const size_t rounded = (std::max<size_t>(bytes, 1) + kAlignment - 1) / kAlignment * kAlignment;
    void* p = std::aligned_alloc(kAlignment, rounded);
    if (p == nullptr)
      return Status::error(DSB_STATUS_OUT_OF_MEMORY, "host allocation of " + std::to_string(bytes) + " bytes failed");
    *out = std::make_unique<HostBuffer>(p, bytes);
    return Status::success();
  }
  Status copy_to_device(void* dst, const void* src, size_t bytes) override { return copy(dst, src, bytes); }
  Status copy_to_host(void* dst, const void* src, size_t bytes) override { return copy(dst, src, bytes); }
  Status fill_bytes(void* dst, uint8_t value, size_t bytes) override {
    if (bytes) std::memset(dst, value, bytes);
    return Status::success();
  }
  Status create_stream(std::unique_ptr<Stream>* out) override {
    *out = std::make_unique<CpuStream>();
    return Status::success();
  }
  Status create_event(std::unique_ptr<Event>* out) override {
    *out = std::make_unique<CpuEvent>();
    return Status::success();
  }
  // Writes twice the last-level cache from every thread's share, so the next repetition starts
  // from DRAM as a cold-cache GPU measurement would.
  Status flush_cache(Stream&) override {
    const size_t bytes = static_cast<size_t>(std::max<int64_t>(llc_bytes_, 32 << 20)) * 2;
    if (flush_.size() != bytes) flush_.assign(bytes, 0);
    ++flush_value_;
    const int64_t n = static_cast<int64_t>(bytes);
    unsigned char* p = flush_.data();
    const unsigned char v = flush_value_;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i += 64) p[i] = v;
    return Status::success();
  }
  Status synchronize() override { return Status::success(); }
  Status measure_ceilings(Ceilings* out) override { return measure_cpu_ceilings(llc_bytes_, out); }
  Status read_telemetry(Telemetry* out) override { return read_cpu_telemetry(out); }

 private:
  static Status copy(void* dst, const void* src, size_t bytes) {
    if (bytes) std::memcpy(dst, src, bytes);
    return Status::success();
  }
  std::string name_;
  int64_t llc_bytes_;
  std::vector<unsigned char> flush_;
  unsigned char flush_value_ = 0;
};

class CpuBackend final : public Backend {
 public:
  std::string name() const override { return "cpu"; }
  int device_count() override { return 1; }
  Device* device(int index) override { return index == 0 ? &device_ : nullptr; }
  std::vector<const Kernel*> kernels() const override { return cpu_kernels(); }
  Properties build_info() const override {
    Properties p;
    p["openmp"] = static_cast<int64_t>(_OPENMP);
#if defined(__VERSION__)
    p["compiler"] = std::string(__VERSION__);
#endif
#ifdef DSB_HAVE_MPI
    p["mpi"] = true;
#else
    p["mpi"] = false;
#endif
    return p;
  }
  Status create_communicator(Device&, Bootstrap& boot, std::unique_ptr<Communicator>* out) override {
    return make_cpu_communicator(boot, out);
  }

 private:
  CpuDevice device_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

}  // namespace dsbench::cpu
