// CUDA backend: device discovery and properties, memory, streams, events, L2 flush, and the NCCL
// communicator (nccl_communicator.cpp). Host code only (the runtime API from a .cpp); libcuda is
// never linked, so the binary loads on GPU-less machines.
#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/cuda_ceilings.hpp"
#include "kernels/cuda/nvml_telemetry.hpp"

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <string>

#include "dsbench/comm.hpp"
#include "dsbench/kernel.hpp"
#include "kernels/gpu/gpu_portability.hpp"
#if DSB_HAVE_NCCL
#include "kernels/cuda/nccl_communicator.hpp"
#endif

namespace dsbench::cuda {
namespace {

std::string version_string(int v) {  // 12080 -> "12.8"
  return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10);
}

class CudaBuffer final : public Buffer {
 public:
  CudaBuffer(int device, void* p, size_t n) : device_(device), p_(p), n_(n) {}
  ~CudaBuffer() override {
    cudaSetDevice(device_);
    cudaFree(p_);
  }
  void* data() const override { return p_; }
  size_t bytes() const override { return n_; }

 private:
  int device_;
  void* p_;
  size_t n_;
};

class CudaGraph final : public Graph {
 public:
  CudaGraph(cudaGraph_t g, cudaGraphExec_t e) : g_(g), e_(e) {}
  ~CudaGraph() override {
    cudaGraphExecDestroy(e_);
    cudaGraphDestroy(g_);
  }
  Status launch(Stream& stream) override {
    DSB_GPU_CHECK(cudaGraphLaunch(e_, static_cast<cudaStream_t>(stream.native_handle())));
    return Status::success();
  }

 private:
  cudaGraph_t g_;
  cudaGraphExec_t e_;
};

class CudaStream final : public Stream {
 public:
  explicit CudaStream(cudaStream_t s) : s_(s) {}
  ~CudaStream() override { cudaStreamDestroy(s_); }
  Status synchronize() override {
    DSB_GPU_CHECK(cudaStreamSynchronize(s_));
    DSB_GPU_CHECK(cudaGetLastError());  // an asynchronous kernel fault surfaces here
    return Status::success();
  }
  void* native_handle() const override { return s_; }
  // Thread-local capture: other threads' CUDA calls are not pulled into (or broken by) the graph.
  Status capture_graph(const std::function<Status()>& enqueue, int times, std::unique_ptr<Graph>* out) override {
    DSB_GPU_CHECK(cudaStreamBeginCapture(s_, cudaStreamCaptureModeThreadLocal));
    Status st = Status::success();
    for (int i = 0; i < times && st.ok(); ++i) st = enqueue();
    cudaGraph_t g = nullptr;
    const cudaError_t end = cudaStreamEndCapture(s_, &g);  // always ends the capture, even after a failure
    if (!st.ok()) {
      if (g) cudaGraphDestroy(g);
      return st;
    }
    DSB_GPU_CHECK(end);
    cudaGraphExec_t e = nullptr;
    const cudaError_t inst = cudaGraphInstantiate(&e, g, 0);
    if (inst != cudaSuccess) {
      cudaGraphDestroy(g);
      DSB_GPU_CHECK(inst);
    }
    *out = std::make_unique<CudaGraph>(g, e);
    return Status::success();
  }

 private:
  cudaStream_t s_;
};

class CudaEvent final : public Event {
 public:
  explicit CudaEvent(cudaEvent_t e) : e_(e) {}
  ~CudaEvent() override { cudaEventDestroy(e_); }
  Status record(Stream& s) override {
    DSB_GPU_CHECK(cudaEventRecord(e_, static_cast<cudaStream_t>(s.native_handle())));
    return Status::success();
  }
  Status synchronize() override {
    DSB_GPU_CHECK(cudaEventSynchronize(e_));
    return Status::success();
  }
  Status elapsed_ms(const Event& start, double* ms) const override {
    const auto* s = dynamic_cast<const CudaEvent*>(&start);
    if (s == nullptr) return Status::error(DSB_STATUS_INVALID_ARGUMENT, "elapsed_ms across backends");
    float f = 0.0f;
    DSB_GPU_CHECK(cudaEventElapsedTime(&f, s->e_, e_));
    *ms = f;
    return Status::success();
  }

 private:
  cudaEvent_t e_;
};

class CudaDevice final : public Device {
 public:
  CudaDevice(int index, const cudaDeviceProp& p) : index_(index), prop_(p) {}
  std::string name() const override { return prop_.name; }
  std::string backend() const override { return "cuda"; }
  int index() const override { return index_; }

  Properties properties() const override {
    Properties p;
    auto attr = [&](cudaDeviceAttr a) {
      int v = 0;
      return cudaDeviceGetAttribute(&v, a, index_) == cudaSuccess ? static_cast<int64_t>(v) : int64_t{-1};
    };
    p["compute_capability"] = std::to_string(prop_.major) + "." + std::to_string(prop_.minor);
    p["sm_count"] = static_cast<int64_t>(prop_.multiProcessorCount);
    p["memory_bytes"] = static_cast<int64_t>(prop_.totalGlobalMem);
    p["l2_cache_bytes"] = static_cast<int64_t>(prop_.l2CacheSize);
    p["shared_memory_per_block_optin_bytes"] = static_cast<int64_t>(prop_.sharedMemPerBlockOptin);
    p["memory_bus_width_bits"] = static_cast<int64_t>(prop_.memoryBusWidth);
    p["sm_clock_max_khz"] = attr(cudaDevAttrClockRate);
    p["memory_clock_max_khz"] = attr(cudaDevAttrMemoryClockRate);
    p["pci_bus_id"] = static_cast<int64_t>(prop_.pciBusID);
    return p;
  }

  Status allocate(size_t bytes, std::unique_ptr<Buffer>* out) override {
    DSB_GPU_CHECK(cudaSetDevice(index_));
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, std::max<size_t>(bytes, 1));
    if (e != cudaSuccess) {
      cudaGetLastError();  // an allocation failure is not sticky; clear it for the next case
      size_t free_b = 0, total_b = 0;
      cudaMemGetInfo(&free_b, &total_b);
      return Status::error(e == cudaErrorMemoryAllocation ? DSB_STATUS_OUT_OF_MEMORY : DSB_STATUS_DEVICE_ERROR,
                           std::string("cudaMalloc(") + std::to_string(bytes) + "): " + cudaGetErrorString(e) +
                               " (" + std::to_string(free_b >> 20) + " MiB free of " + std::to_string(total_b >> 20) + ")");
    }
    *out = std::make_unique<CudaBuffer>(index_, p, bytes);
    return Status::success();
  }
  Status copy_to_device(void* d, const void* s, size_t n) override {
    DSB_GPU_CHECK(cudaMemcpy(d, s, n, cudaMemcpyHostToDevice));
    return Status::success();
  }
  Status copy_to_host(void* d, const void* s, size_t n) override {
    DSB_GPU_CHECK(cudaMemcpy(d, s, n, cudaMemcpyDeviceToHost));
    return Status::success();
  }
  Status fill_bytes(void* d, uint8_t v, size_t n) override {
    DSB_GPU_CHECK(cudaMemset(d, v, n));
    return Status::success();
  }
  Status create_stream(std::unique_ptr<Stream>* out) override {
    DSB_GPU_CHECK(cudaSetDevice(index_));
    cudaStream_t s = nullptr;
    DSB_GPU_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    *out = std::make_unique<CudaStream>(s);
    return Status::success();
  }
  Status create_event(std::unique_ptr<Event>* out) override {
    DSB_GPU_CHECK(cudaSetDevice(index_));
    cudaEvent_t e = nullptr;
    DSB_GPU_CHECK(cudaEventCreate(&e));
    *out = std::make_unique<CudaEvent>(e);
    return Status::success();
  }
  // Writes twice the L2 size on the stream, outside the timed region, so every repetition reads
  // its operands from HBM as a cold call in a real model would.
  Status flush_cache(Stream& stream) override {
    const size_t bytes = static_cast<size_t>(std::max(prop_.l2CacheSize, 1 << 20)) * 2;
    if (!flush_) {
      if (Status st = allocate(bytes, &flush_); !st.ok()) return st;
    }
    DSB_GPU_CHECK(cudaMemsetAsync(flush_->data(), ++flush_value_, bytes, static_cast<cudaStream_t>(stream.native_handle())));
    return Status::success();
  }
  Status synchronize() override {
    DSB_GPU_CHECK(cudaSetDevice(index_));
    DSB_GPU_CHECK(cudaDeviceSynchronize());
    return Status::success();
  }
  Status measure_ceilings(Ceilings* out) override { return measure_cuda_ceilings(index_, out); }
  Status read_telemetry(Telemetry* out) override {
    if (pci_bus_id_.empty()) {
      char id[32] = {0};
      DSB_GPU_CHECK(cudaDeviceGetPCIBusId(id, sizeof id, index_));
      pci_bus_id_ = id;
    }
    return read_nvml_telemetry(pci_bus_id_, out);
  }

 private:
  int index_;
  cudaDeviceProp prop_;
  std::unique_ptr<Buffer> flush_;
  uint8_t flush_value_ = 0;
  std::string pci_bus_id_;  // NVML finds the device by it (its index order may differ from CUDA's)
};

class CudaBackend final : public Backend {
 public:
  CudaBackend() {
    int n = 0;  // left untouched by the runtime when there is no driver
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      cudaGetLastError();
      reason_ = std::string("cudaGetDeviceCount: ") + cudaGetErrorName(e) + ": " + cudaGetErrorString(e);
      return;
    }
    if (n == 0) reason_ = "cudaGetDeviceCount: no CUDA device";
    for (int i = 0; i < n; ++i) {
      cudaDeviceProp p{};
      if (cudaGetDeviceProperties(&p, i) == cudaSuccess) devices_.push_back(std::make_unique<CudaDevice>(i, p));
    }
  }
  std::string name() const override { return "cuda"; }
  int device_count() override { return static_cast<int>(devices_.size()); }
  Device* device(int i) override { return i >= 0 && i < device_count() ? devices_[i].get() : nullptr; }
  std::string unavailable_reason() override { return devices_.empty() ? reason_ : ""; }
  std::vector<const Kernel*> kernels() const override { return cuda_kernels(); }
  Properties build_info() const override {
    int driver = 0, runtime = 0;
    cudaDriverGetVersion(&driver);
    cudaRuntimeGetVersion(&runtime);
#if DSB_HAVE_NCCL
    const std::string nccl = nccl_version_string();
#else
    const std::string nccl = "none";  // built without NCCL
#endif
    return {{"cuda_runtime", version_string(runtime)},
            {"cuda_driver", driver ? version_string(driver) : std::string("none")},
            {"cublaslt", static_cast<int64_t>(cublasLtGetVersion())},
            {"nccl_version", nccl},
            {"cuda_architectures", std::string(DSB_CUDA_ARCHITECTURES)}};
  }
  Status create_communicator(Device& device, Bootstrap& boot, std::unique_ptr<Communicator>* out) override {
    if (device.backend() != "cuda")
      return Status::error(DSB_STATUS_INVALID_ARGUMENT,
                           "create_communicator: a " + device.backend() + " device, not a cuda one");
#if DSB_HAVE_NCCL
    return make_nccl_communicator(device.index(), boot, out);
#else
    return Status::error(DSB_STATUS_NOT_SUPPORTED, "the CUDA backend was built without NCCL");
#endif
  }

 private:
  std::vector<std::unique_ptr<CudaDevice>> devices_;
  std::string reason_;
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend() { return std::make_unique<CudaBackend>(); }

}  // namespace dsbench::cuda
