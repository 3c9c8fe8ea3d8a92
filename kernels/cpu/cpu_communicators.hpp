// The CPU backend's communicators: MPI (MPI_Alltoallv over the launcher's world) when the run is
// under an MPI launcher and dsbench was built with MPI, an in-process one (memcpy between threads)
// when the ranks are threads of this process (--local-ranks), and a copy-to-self one for a world of one.
#pragma once

#include <memory>

#include "dsbench/comm.hpp"

namespace dsbench::cpu {

Status make_cpu_communicator(Bootstrap& boot, std::unique_ptr<Communicator>* out);

}  // namespace dsbench::cpu
