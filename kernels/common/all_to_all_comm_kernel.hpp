// The all-to-all every backend has: its own communicator's alltoallv (MPI on the CPU, NCCL on CUDA),
// reached through the dsb_comm the harness puts in the params. Backends register it as
// "<backend>.all_to_all.library"; hand-written exchanges are further variants beside it.
#pragma once

#include <string>

#include "dsbench/kernel.hpp"

namespace dsbench {

class AllToAllCommKernel final : public KernelFor<dsb_all_to_all_params> {
 public:
  explicit AllToAllCommKernel(const std::string& backend) : KernelFor(backend, "library") {}

 protected:
  Support supports(const dsb_all_to_all_params& p, const Device&) const override {
    if (p.comm == nullptr || p.comm->alltoallv == nullptr) return Support::no("no communicator for this run");
    if (p.comm->world_size != p.world_size || p.comm->rank != p.rank)
      return Support::no("the communicator's world (rank " + std::to_string(p.comm->rank) + " of " +
                         std::to_string(p.comm->world_size) + ") is not the case's");
    return Support::yes();
  }
  Status run(const dsb_all_to_all_params& p, void*, Stream& stream) const override {
    const dsb_status s = p.comm->alltoallv(p.comm, p.send, p.send_counts, p.send_displs, p.recv, p.recv_counts,
                                           p.recv_displs, p.dtype, stream.native_handle());
    if (s == DSB_STATUS_OK) return Status::success();
    return Status::error(s, id() + ": alltoallv failed (" + dsb_status_name(s) + "): " +
                                (p.comm->last_error ? p.comm->last_error(p.comm) : ""));
  }
};

}  // namespace dsbench
