// NCCL communicator for the CUDA backend. Host API only (a .cpp, not a .cu). The communicator is
// non-blocking (config.blocking = 0): init, enqueue and completion are polled against timeout_s(),
// and a peer that never arrives becomes DSB_STATUS_TIMEOUT and an aborted communicator, not a hang.
#include "kernels/cuda/nccl_communicator.hpp"

#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <limits>
#include <sstream>
#include <thread>
#include <utility>

#include "kernels/gpu/gpu_portability.hpp"

namespace dsbench::cuda {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string seconds_text(double s) {
  std::ostringstream o;
  o << s;
  return o.str();
}

// NCCL's words for a result plus the last error it recorded, which is usually the specific one.
std::string nccl_text(ncclResult_t r, ncclComm_t comm) {
  std::string t = ncclGetErrorString(r);
  const char* last = ncclGetLastError(comm);
  if (last != nullptr && *last != '\0') t += std::string(" (") + last + ")";
  return t;
}

Status nccl_status(ncclResult_t r, const std::string& what, ncclComm_t comm) {
  return Status::error(r == ncclInvalidArgument ? DSB_STATUS_INVALID_ARGUMENT : DSB_STATUS_DEVICE_ERROR,
                       what + " failed: " + nccl_text(r, comm));
}

// A non-blocking communicator may answer ncclInProgress to any call; completion is then polled.
bool nccl_ok(ncclResult_t r) { return r == ncclSuccess || r == ncclInProgress; }

Status check_side(const char* side, int world_size, const void* buf, const int64_t* counts, const int64_t* displs,
                  size_t esize) {
  const std::string s(side);
  if (counts == nullptr) return Status::error(DSB_STATUS_INVALID_ARGUMENT, "alltoallv: " + s + "_counts is null");
  if (displs == nullptr) return Status::error(DSB_STATUS_INVALID_ARGUMENT, "alltoallv: " + s + "_displs is null");
  const int64_t max_elems = std::numeric_limits<int64_t>::max() / static_cast<int64_t>(esize);
  for (int p = 0; p < world_size; ++p) {
    const std::string at = "[" + std::to_string(p) + "]";
    if (counts[p] < 0)
      return Status::error(DSB_STATUS_INVALID_ARGUMENT,
                           "alltoallv: " + s + "_counts" + at + " = " + std::to_string(counts[p]) + " is negative");
    if (counts[p] == 0) continue;  // displacement and buffer are not read
    if (displs[p] < 0)
      return Status::error(DSB_STATUS_INVALID_ARGUMENT,
                           "alltoallv: " + s + "_displs" + at + " = " + std::to_string(displs[p]) + " is negative");
    if (buf == nullptr)
      return Status::error(DSB_STATUS_INVALID_ARGUMENT, "alltoallv: " + s + " is null but " + s + "_counts" + at +
                                                            " = " + std::to_string(counts[p]));
    if (counts[p] > max_elems || displs[p] > max_elems - counts[p])
      return Status::error(DSB_STATUS_INVALID_ARGUMENT, "alltoallv: " + s + "_displs" + at + " + " + s + "_counts" +
                                                            at + " overflows a byte offset");
  }
  return Status::success();
}

}  // namespace

std::string nccl_version_string() {
  const int v = nccl_version_code();
  if (v <= 0) return "unknown";
  // NCCL_VERSION(): major*1000 + minor*100 + patch up to 2.8, major*10000 + minor*100 + patch after.
  const int major = v >= 10000 ? v / 10000 : v / 1000;
  const int minor = v >= 10000 ? (v % 10000) / 100 : (v % 1000) / 100;
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(v % 100);
}

int nccl_version_code() {
  int v = 0;
  return ncclGetVersion(&v) == ncclSuccess ? v : 0;
}

Status check_alltoallv_args(int world_size, const void* send, const int64_t* send_counts, const int64_t* send_displs,
                            const void* recv, const int64_t* recv_counts, const int64_t* recv_displs, dsb_dtype dtype) {
  if (world_size < 1)
    return Status::error(DSB_STATUS_INVALID_ARGUMENT, "alltoallv: world size " + std::to_string(world_size));
  const size_t esize = dsb_dtype_size(dtype);
  if (esize == 0)
    return Status::error(DSB_STATUS_INVALID_ARGUMENT,
                         "alltoallv: dtype " + std::to_string(static_cast<int>(dtype)) + " has no element size");
  if (Status st = check_side("send", world_size, send, send_counts, send_displs, esize); !st.ok()) return st;
  return check_side("recv", world_size, recv, recv_counts, recv_displs, esize);
}

NcclCommunicator::NcclCommunicator(int device, Bootstrap& boot)
    : Communicator(boot.rank(), boot.world_size(), boot.local_rank(), boot.local_size()), device_(device), boot_(&boot) {}

NcclCommunicator::~NcclCommunicator() {
  if (comm_ == nullptr) return;
  cudaSetDevice(device_);
  ncclResult_t state = ncclInProgress;
  if (ncclCommGetAsyncError(comm_, &state) == ncclSuccess && state == ncclSuccess &&
      nccl_ok(ncclCommFinalize(comm_)) && await_async("NCCL finalize", 1000).ok()) {
    ncclCommDestroy(comm_);
    comm_ = nullptr;
    return;
  }
  if (comm_ != nullptr) ncclCommAbort(comm_);  // in error, or finalize failed (await_async aborts itself)
}

std::string NcclCommunicator::where() const {
  return "rank " + std::to_string(rank()) + " of " + std::to_string(world_size());
}

Status NcclCommunicator::abort_with(dsb_status code, std::string message) {
  if (comm_ != nullptr) {
    cudaSetDevice(device_);
    ncclCommAbort(comm_);  // frees the communicator; nothing more to report if it fails
    comm_ = nullptr;
  }
  aborted_ = message;
  return Status::error(code, std::move(message));
}

Status NcclCommunicator::await_async(const std::string& what, int poll_us) {
  const Clock::time_point start = Clock::now();
  for (;;) {
    ncclResult_t state = ncclSuccess;
    const ncclResult_t r = ncclCommGetAsyncError(comm_, &state);
    if (r != ncclSuccess)
      return abort_with(DSB_STATUS_DEVICE_ERROR, "ncclCommGetAsyncError during " + what + " on " + where() +
                                                     " failed: " + nccl_text(r, comm_));
    if (state == ncclSuccess) return Status::success();
    if (state != ncclInProgress)
      return abort_with(DSB_STATUS_DEVICE_ERROR, what + " failed on " + where() + ": " + nccl_text(state, comm_));
    if (seconds_since(start) >= timeout_s())
      return abort_with(DSB_STATUS_TIMEOUT, what + " did not complete within " + seconds_text(timeout_s()) + " s on " +
                                                where() + " (a peer did not arrive?)");
    std::this_thread::sleep_for(std::chrono::microseconds(poll_us));
  }
}

Properties NcclCommunicator::info() const {
  return {{"library", "NCCL " + nccl_version_string()}, {"version", static_cast<int64_t>(nccl_version_code())}};
}

Status NcclCommunicator::alltoallv(const void* send, const int64_t* send_counts, const int64_t* send_displs,
                                   void* recv, const int64_t* recv_counts, const int64_t* recv_displs, dsb_dtype dtype,
                                   void* native_stream) {
  if (Status st = check_alltoallv_args(world_size(), send, send_counts, send_displs, recv, recv_counts, recv_displs,
                                       dtype);
      !st.ok())
    return st;
  if (comm_ == nullptr)
    return Status::error(DSB_STATUS_DEVICE_ERROR, "NCCL communicator on " + where() + " was aborted: " + aborted_);
  DSB_GPU_CHECK(cudaSetDevice(device_));
  const size_t esize = dsb_dtype_size(dtype);
  auto* stream = static_cast<cudaStream_t>(native_stream);
  const auto* src = static_cast<const unsigned char*>(send);
  auto* dst = static_cast<unsigned char*>(recv);

  const ncclResult_t started = ncclGroupStart();
  if (!nccl_ok(started)) return nccl_status(started, "NCCL alltoallv on " + where() + ": ncclGroupStart", comm_);
  Status st;
  // Bytes rather than NCCL types: any dsb_dtype travels, and counts pair up across ranks the same way.
  for (int p = 0; p < world_size() && st.ok(); ++p) {
    if (send_counts[p] > 0) {
      const size_t bytes = static_cast<size_t>(send_counts[p]) * esize;
      const ncclResult_t r =
          ncclSend(src + static_cast<size_t>(send_displs[p]) * esize, bytes, ncclUint8, p, comm_, stream);
      if (!nccl_ok(r))
        st = nccl_status(r, "NCCL alltoallv on " + where() + ": ncclSend of " + std::to_string(bytes) +
                                " bytes to rank " + std::to_string(p), comm_);
    }
    if (st.ok() && recv_counts[p] > 0) {
      const size_t bytes = static_cast<size_t>(recv_counts[p]) * esize;
      const ncclResult_t r =
          ncclRecv(dst + static_cast<size_t>(recv_displs[p]) * esize, bytes, ncclUint8, p, comm_, stream);
      if (!nccl_ok(r))
        st = nccl_status(r, "NCCL alltoallv on " + where() + ": ncclRecv of " + std::to_string(bytes) +
                                " bytes from rank " + std::to_string(p), comm_);
    }
  }
  const ncclResult_t ended = ncclGroupEnd();  // closes the group even after a failed call inside it
  if (st.ok() && !nccl_ok(ended)) st = nccl_status(ended, "NCCL alltoallv on " + where() + ": ncclGroupEnd", comm_);
  if (!st.ok()) {
    ncclResult_t state = ncclSuccess;  // a communicator left in error cannot be used again
    if (ncclCommGetAsyncError(comm_, &state) != ncclSuccess || !nccl_ok(state)) return abort_with(st.code, st.message);
    return st;
  }
  // Non-blocking: the work is on the stream only once the communicator leaves ncclInProgress.
  return await_async("NCCL alltoallv enqueue", 50);
}

Status NcclCommunicator::wait(void* native_stream) {
  if (comm_ == nullptr)
    return Status::error(DSB_STATUS_DEVICE_ERROR, "NCCL communicator on " + where() + " was aborted: " + aborted_);
  auto* stream = static_cast<cudaStream_t>(native_stream);
  const Clock::time_point start = Clock::now();
  for (;;) {
    const cudaError_t q = cudaStreamQuery(stream);
    if (q == cudaSuccess) return Status::success();
    if (q != cudaErrorNotReady) {
      const Status failed = gpu::status_from(q, "cudaStreamQuery", __FILE__, __LINE__);
      return abort_with(DSB_STATUS_DEVICE_ERROR, "NCCL alltoallv on " + where() + ": " + failed.message);
    }
    // Not-ready is no error: keep it out of the last-error slot that later launch checks read.
    if (cudaPeekAtLastError() == cudaErrorNotReady) cudaGetLastError();
    ncclResult_t state = ncclSuccess;
    const ncclResult_t r = ncclCommGetAsyncError(comm_, &state);
    if (r != ncclSuccess || !nccl_ok(state))
      return abort_with(DSB_STATUS_DEVICE_ERROR,
                        "NCCL alltoallv failed on " + where() + ": " + nccl_text(r != ncclSuccess ? r : state, comm_));
    if (seconds_since(start) >= timeout_s())
      return abort_with(DSB_STATUS_TIMEOUT, "NCCL alltoallv did not complete within " + seconds_text(timeout_s()) +
                                                " s on " + where() + " (a peer did not arrive?)");
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

Status make_nccl_communicator(int device_index, Bootstrap& boot, std::unique_ptr<Communicator>* out,
                              double timeout_s) {
  if (out == nullptr) return Status::error(DSB_STATUS_INVALID_ARGUMENT, "make_nccl_communicator: out is null");
  std::unique_ptr<NcclCommunicator> c(new NcclCommunicator(device_index, boot));
  c->set_timeout_s(timeout_s);
  // Rank 0's id, or the news that it has none: one broadcast either way, so no rank is left waiting.
  struct IdMessage {
    int32_t status;
    ncclUniqueId id;
  } msg{};
  const std::string set_device = "cudaSetDevice(" + std::to_string(device_index) + ")";
  Status local = gpu::status_from(cudaSetDevice(device_index), set_device.c_str(), __FILE__, __LINE__);
  if (boot.rank() == 0) {
    if (local.ok()) {
      const ncclResult_t r = ncclGetUniqueId(&msg.id);
      if (r != ncclSuccess) local = nccl_status(r, "ncclGetUniqueId on rank 0", nullptr);
    }
    msg.status = local.code;
  }
  if (Status st = boot.broadcast(&msg, sizeof msg, 0); !st.ok())
    return Status::error(st.code, "broadcasting the NCCL unique id to " + c->where() + ": " + st.message);
  if (!local.ok()) return local;
  if (msg.status != DSB_STATUS_OK)
    return Status::error(DSB_STATUS_DEVICE_ERROR, "no NCCL communicator on " + c->where() +
                                                      ": rank 0 could not create the unique id (see rank 0's error)");

  ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
  config.blocking = 0;
  ncclComm_t comm = nullptr;
  const ncclResult_t r = ncclCommInitRankConfig(&comm, boot.world_size(), msg.id, boot.rank(), &config);
  c->comm_ = comm;
  if (!nccl_ok(r)) {
    const Status st = nccl_status(r, "ncclCommInitRankConfig on " + c->where(), comm);
    return c->abort_with(st.code, st.message);
  }
  if (Status st = c->await_async("NCCL communicator init", 1000); !st.ok()) return st;
  *out = std::move(c);
  return Status::success();
}

}  // namespace dsbench::cuda
