// Backend, device, buffer, stream and event interfaces. The harness knows accelerators only
// through these; each backend (kernels/<backend>/) implements them. Modelled on ggml-backend:
// small, vendor-neutral, and expressible later as a C function table for plugins.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "dsbench/dtype.h"
#include "dsbench/status.hpp"

namespace dsbench {

class Bootstrap;
class Communicator;
class Kernel;
class Stream;

// Device and build properties, typed so scorecards keep numbers as numbers.
using PropertyValue = std::variant<bool, int64_t, double, std::string>;
using Properties = std::map<std::string, PropertyValue>;

// A measured ceiling: the rate this device's own best code reaches, the denominator of every
// achieved/ceiling ratio in a scorecard (dsbench calibrate; docs/ceilings.md). Keys: "copy_gbps"
// (a device-to-device copy, bytes read + written), "gemm_f32_tflops", "gemm_bf16_tflops",
// "gemm_fp8_tflops" (the vendor library's large GEMM).
struct Ceiling {
  double value = 0.0;
  std::string method;  // what was measured, e.g. "cublasLt FP8 E4M3 8192^3 -> BF16, best of 10"
};
using Ceilings = std::map<std::string, Ceiling>;

// What a device reports about its state right now (NVML on NVIDIA, sysfs on Linux CPUs). A value
// the device cannot read stays negative; energy is a monotonic counter, differenced by the harness.
struct Telemetry {
  double clock_mhz = -1;      // current SM (GPU) or mean core (CPU) clock
  double temperature_c = -1;
  double power_w = -1;        // instantaneous board power
  double energy_j = -1;       // cumulative energy counter
  bool reports_sm_clock = false;  // clock_mhz is a GPU SM clock that run-to-run comparisons may flag
  bool throttled = false;         // the device says its clocks are being held down (power, thermal)
  std::vector<std::string> throttle_reasons;
};

class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual void* data() const = 0;
  virtual size_t bytes() const = 0;
};

// A timestamp in a stream's order. elapsed_ms is only valid once both events completed.
class Event {
 public:
  virtual ~Event() = default;
  virtual Status record(Stream& stream) = 0;
  virtual Status synchronize() = 0;
  virtual Status elapsed_ms(const Event& start, double* ms) const = 0;
};

// Work recorded once and replayed with one launch (CUDA graphs): for timing launches so short
// that launch overhead would dominate them.
class Graph {
 public:
  virtual ~Graph() = default;
  virtual Status launch(Stream& stream) = 0;
};

// An in-order queue of work. On the CPU backend work runs when enqueued.
class Stream {
 public:
  virtual ~Stream() = default;
  virtual Status synchronize() = 0;
  virtual void* native_handle() const { return nullptr; }  // cudaStream_t, hipStream_t, ...
  // Records `times` calls of `enqueue` (which enqueues on this stream) into a graph. A backend
  // without graphs answers NOT_SUPPORTED with the reason.
  virtual Status capture_graph(const std::function<Status()>& enqueue, int times, std::unique_ptr<Graph>* out) {
    (void)enqueue, (void)times, (void)out;
    return Status::error(DSB_STATUS_NOT_SUPPORTED, "this backend has no graph replay");
  }
};

class Device {
 public:
  virtual ~Device() = default;
  virtual std::string name() const = 0;      // marketing name, e.g. "NVIDIA H100 80GB HBM3"
  virtual std::string backend() const = 0;   // "cpu", "cuda", ...
  virtual int index() const = 0;
  virtual Properties properties() const = 0;  // memory, clocks, SM count, ISA, ...
  // The E4M3 variant this device's FP8 arithmetic uses (E4M3FN; E4M3FNUZ on gfx94x).
  virtual dsb_dtype fp8_e4m3() const { return DSB_DTYPE_E4M3FN; }
  // Memory of this device is directly addressable by the host (CPU backend, plugin host memory).
  virtual bool host_accessible() const { return false; }

  virtual Status allocate(size_t bytes, std::unique_ptr<Buffer>* out) = 0;
  virtual Status copy_to_device(void* dst, const void* src_host, size_t bytes) = 0;
  virtual Status copy_to_host(void* dst_host, const void* src, size_t bytes) = 0;
  virtual Status fill_bytes(void* dst, uint8_t value, size_t bytes) = 0;  // poisoning
  virtual Status create_stream(std::unique_ptr<Stream>* out) = 0;
  virtual Status create_event(std::unique_ptr<Event>* out) = 0;
  // Evicts caches between timed repetitions (a write larger than the last-level cache).
  virtual Status flush_cache(Stream& stream) = 0;
  virtual Status synchronize() = 0;
  // Measures this device's ceilings (a few seconds at most). A backend without a way to measure
  // answers NOT_SUPPORTED; a ceiling it cannot measure (no BLAS library) is left out.
  virtual Status measure_ceilings(Ceilings* out) {
    (void)out;
    return Status::error(DSB_STATUS_NOT_SUPPORTED, "this backend measures no ceilings");
  }
  // Reads clocks, temperature, power and energy (cheap: called before and after every timed case).
  virtual Status read_telemetry(Telemetry* out) {
    (void)out;
    return Status::error(DSB_STATUS_NOT_SUPPORTED, "this backend reads no telemetry");
  }
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual int device_count() = 0;
  virtual Device* device(int index) = 0;
  // Why device_count() is 0 ("no CUDA device: cudaGetDeviceCount: insufficient driver"); empty otherwise.
  virtual std::string unavailable_reason() { return {}; }
  virtual std::vector<const Kernel*> kernels() const = 0;
  virtual Properties build_info() const = 0;  // runtime and library versions
  // The communicator multi-rank ops run over on `device` (include/dsbench/comm.hpp): collective over
  // the ranks of `boot`. A backend without one answers DSB_STATUS_NOT_SUPPORTED with the reason.
  virtual Status create_communicator(Device& device, Bootstrap& boot, std::unique_ptr<Communicator>* out) {
    return Status::error(DSB_STATUS_NOT_SUPPORTED, "backend " + name() + " has no communicator");
  }
};

}  // namespace dsbench
