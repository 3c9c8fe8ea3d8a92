// The CUDA backend's Communicator: NCCL point-to-point in a non-blocking communicator, so that
// init and every exchange can be polled against timeout_s() instead of hanging on a missing peer.
// Free of CUDA and NCCL types: the backend and tests include it from plain C++.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "dsbench/comm.hpp"

struct ncclComm;  // nccl.h's ncclComm_t is a struct ncclComm*

namespace dsbench::cuda {

// The NCCL library this process loaded, as "2.28.9" and as its version code (22809). Needs no GPU;
// "unknown" and 0 if ncclGetVersion fails.
std::string nccl_version_string();
int nccl_version_code();

// The checks alltoallv makes before touching the device: count and displacement arrays of
// world_size entries, counts and displacements non-negative, a null buffer only with zero counts, a
// dtype with an element size, byte offsets that fit in int64.
Status check_alltoallv_args(int world_size, const void* send, const int64_t* send_counts, const int64_t* send_displs,
                            const void* recv, const int64_t* recv_counts, const int64_t* recv_displs, dsb_dtype dtype);

class NcclCommunicator final : public Communicator {
 public:
  ~NcclCommunicator() override;  // finalizes and destroys, or aborts a communicator in error
  std::string name() const override { return "nccl"; }
  Properties info() const override;
  Status alltoallv(const void* send, const int64_t* send_counts, const int64_t* send_displs, void* recv,
                   const int64_t* recv_counts, const int64_t* recv_displs, dsb_dtype dtype,
                   void* native_stream) override;
  Status wait(void* native_stream) override;
  // NCCL has no barrier: the bootstrap's (MPI_Barrier under a launcher, the in-process rendezvous
  // under --local-ranks), on the host.
  Status barrier() override { return boot_->host_barrier(); }

  NcclCommunicator(const NcclCommunicator&) = delete;
  NcclCommunicator& operator=(const NcclCommunicator&) = delete;

 private:
  friend Status make_nccl_communicator(int device_index, Bootstrap& boot, std::unique_ptr<Communicator>* out,
                                       double timeout_s);
  NcclCommunicator(int device, Bootstrap& boot);
  // Polls ncclCommGetAsyncError while it reports ncclInProgress, at most timeout_s(). On an error or
  // the deadline the communicator is aborted; `what` names the operation in the message.
  Status await_async(const std::string& what, int poll_us);
  Status abort_with(dsb_status code, std::string message);  // aborts, remembers why, returns the error
  std::string where() const;                                // "rank R of W"

  int device_;
  Bootstrap* boot_;           // outlives the communicator (the harness's World)
  ncclComm* comm_ = nullptr;  // null once aborted or destroyed
  std::string aborted_;       // why it was aborted: later calls say so
};

// Builds rank boot.rank()'s communicator on CUDA device device_index. Collective over boot: rank 0
// creates the NCCL unique id and broadcasts it; every rank takes part in the broadcast even after a
// local failure, so that no rank waits on another that has already given up. timeout_s bounds the
// init (DSB_STATUS_TIMEOUT naming this rank) and becomes the communicator's timeout_s().
Status make_nccl_communicator(int device_index, Bootstrap& boot, std::unique_ptr<Communicator>* out,
                              double timeout_s = 600.0);

}  // namespace dsbench::cuda
