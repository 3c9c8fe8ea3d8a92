// Multi-rank runs: the Bootstrap a backend builds its communicator from (the launcher's world: MPI
// under mpirun/srun, or one rank), and the Communicator a multi-rank kernel exchanges data through.
// The harness owns the Bootstrap; each backend turns it into its own Communicator (MPI on the CPU,
// NCCL on CUDA), reachable from C through the dsb_comm in the op's params.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "dsbench/backend.hpp"
#include "dsbench/ops.h"
#include "dsbench/status.hpp"

namespace dsbench {

// Ranks that are threads of one process (`dsbench run --local-ranks N`): they share an address space,
// so a communicator can exchange host pointers through this rendezvous instead of data through a
// library (the CPU backend's in-process communicator). Each rank holds its own view.
class LocalGroup {
 public:
  virtual ~LocalGroup() = default;
  // Every rank passes `mine`; on return all[r] is rank r's (world_size entries). Collective; returns
  // DSB_STATUS_TIMEOUT when a rank has not arrived within timeout_s (the group is then unusable).
  virtual Status all_gather(const void* mine, const void** all, double timeout_s) = 0;
};

// What a backend needs to know about the world to build a communicator: ranks, and a host-side
// broadcast to share a bootstrap token (NCCL's unique id) from rank 0.
class Bootstrap {
 public:
  virtual ~Bootstrap() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  virtual int local_rank() const = 0;  // among the ranks on this host: picks this rank's device
  virtual int local_size() const = 0;
  // Copies rank root's `bytes` at data into every rank's data (host memory). Collective.
  virtual Status broadcast(void* data, size_t bytes, int root) = 0;
  // The MPI_Comm (as a pointer to it) when the run is under MPI, else null: lets an MPI-based
  // communicator duplicate it without the contract depending on mpi.h.
  virtual const void* mpi_comm() const { return nullptr; }
  // The rendezvous of in-process ranks when the ranks are threads of this process, else null.
  virtual LocalGroup* local_group() { return nullptr; }
  // Returns once every rank has called it (host side). Collective.
  virtual Status host_barrier() { return Status::error(DSB_STATUS_NOT_SUPPORTED, "this bootstrap has no barrier"); }
};

// An exchange between the ranks of a run, bound to one device. Kernels reach it through c_handle().
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual std::string name() const = 0;    // "self", "mpi", "nccl"
  virtual Properties info() const = 0;     // library and version, for the scorecard
  int rank() const { return handle_.rank; }
  int world_size() const { return handle_.world_size; }

  // alltoallv on `native_stream` (Stream::native_handle(): cudaStream_t, ...; null on the CPU):
  // send_counts[p] elements of dtype from send + send_displs[p] go to rank p,
  // recv_counts[p] from rank p land at recv + recv_displs[p]. Counts must match pairwise across ranks.
  // Returns once the exchange is enqueued (device backends) or complete (CPU). A peer that never
  // arrives gives DSB_STATUS_TIMEOUT after timeout_s() rather than a hang.
  virtual Status alltoallv(const void* send, const int64_t* send_counts, const int64_t* send_displs, void* recv,
                           const int64_t* recv_counts, const int64_t* recv_displs, dsb_dtype dtype,
                           void* native_stream) = 0;
  // Waits for the exchanges enqueued on native_stream, at most timeout_s(); device backends poll so
  // that a peer that never arrives is a TIMEOUT, not a hang.
  virtual Status wait(void* native_stream) { return Status::success(); }
  // Returns once every rank of the communicator has called it (host side; MPI_Barrier on the
  // communicator's own MPI communicator, the launcher's barrier under NCCL). Collective. The
  // harness lines timed repetitions up with it.
  virtual Status barrier() { return Status::error(DSB_STATUS_NOT_SUPPORTED, name() + " has no barrier"); }

  double timeout_s() const { return timeout_s_; }
  void set_timeout_s(double s) { timeout_s_ = s; }

  // The C view handed to kernels in their params (valid as long as this object).
  dsb_comm* c_handle() { return &handle_; }

 protected:
  Communicator(int rank, int world_size, int local_rank, int local_size) {
    handle_.rank = rank;
    handle_.world_size = world_size;
    handle_.local_rank = local_rank;
    handle_.local_size = local_size;
    handle_.impl = this;
    handle_.alltoallv = &c_alltoallv;
    handle_.last_error = &c_last_error;
    handle_.wait = &c_wait;
  }

 private:
  static dsb_status c_alltoallv(dsb_comm* self, const void* send, const int64_t* send_counts,
                                const int64_t* send_displs, void* recv, const int64_t* recv_counts,
                                const int64_t* recv_displs, dsb_dtype dtype, void* native_stream) {
    auto* c = static_cast<Communicator*>(self->impl);
    const Status st = c->alltoallv(send, send_counts, send_displs, recv, recv_counts, recv_displs, dtype, native_stream);
    if (!st.ok() || !c->last_error_.empty()) c->last_error_ = st.message;  // no string work on the timed success path
    return st.code;
  }
  static dsb_status c_wait(dsb_comm* self, void* native_stream) {
    auto* c = static_cast<Communicator*>(self->impl);
    const Status st = c->wait(native_stream);
    if (!st.ok() || !c->last_error_.empty()) c->last_error_ = st.message;
    return st.code;
  }
  static const char* c_last_error(dsb_comm* self) { return static_cast<Communicator*>(self->impl)->last_error_.c_str(); }
  std::string last_error_;
  dsb_comm handle_{};
  double timeout_s_ = 600.0;
};

}  // namespace dsbench
