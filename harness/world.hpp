// The ranks of a run as the launcher started them: MPI under mpirun/srun (when built with MPI), else
// one rank; or threads of one process (harness/local_world.hpp). Besides being the Bootstrap
// backends build communicators from, it is the harness's own control plane between ranks: host messages to and from rank 0 that never block past a deadline,
// so that a rank that fails or hangs is named instead of hanging the others (docs/multi_rank.md).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "dsbench/comm.hpp"

namespace dsbench {

class World : public Bootstrap {
 public:
  // The calling thread's world: its rank's when the thread is one of the in-process ranks of
  // `dsbench run --local-ranks N` (harness/local_world.hpp), else the process's: MPI under a launcher
  // (initialised on first use when dsbench was built with MPI), otherwise a world of one.
  static World& get();
  // Finalises MPI if it was initialised (call once, at exit).
  static void finalize();

  int rank() const override { return rank_; }
  int world_size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }

  const std::string& launcher() const { return launcher_; }    // "none", "mpirun", "srun", "mpi", "single-process"
  const std::string& mpi_library() const { return mpi_lib_; }  // "Open MPI v4.1.4, ..." or ""
  const std::string& host() const { return host_; }
  const std::vector<std::string>& hosts() const { return hosts_; }  // per rank

  // Every rank sends `mine` to rank 0 within timeout_s. On rank 0: one entry per rank, and `missing`
  // lists the ranks whose message did not arrive in time. On other ranks: empty. Never blocks past
  // the deadline (plus the transfer time of what did arrive).
  virtual std::vector<std::string> gather_to_root(const std::string& mine, double timeout_s, std::vector<int>* missing) = 0;
  // Rank 0's `msg` to every rank. False on a rank that did not receive it within timeout_s.
  virtual bool bcast_from_root(std::string* msg, double timeout_s) = 0;

  // Lines the ranks up tighter than the messages above can (used right after an agreement every
  // rank passed, so it cannot wait on a missing rank for long; the watchdog covers it).
  virtual void barrier() = 0;
  Status host_barrier() override {
    barrier();
    return Status::success();
  }

  // A watchdog for collective work that cannot be bounded otherwise (a blocking exchange whose peer
  // never arrives): if disarm() is not called within timeout_s, on_fire(what) runs on the watchdog
  // thread and the process exits with code 3, which makes the launcher stop the other ranks. One
  // per process.
  virtual void arm(const std::string& what, double timeout_s, std::function<void(const std::string&)> on_fire);
  virtual void disarm();

  // Ends every rank of the job now (MPI_Abort), or exits the process when its ranks are all here.
  [[noreturn]] void abort(int code);

  World(const World&) = delete;
  World& operator=(const World&) = delete;

 protected:
  World() = default;
  // Makes `w` the calling thread's world (null: back to the process's).
  static void set_thread_world(World* w);
  // What abort() does before it exits the process itself (MPI_Abort under a launcher).
  virtual void end_job(int code) {}
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
  std::string launcher_ = "none", mpi_lib_, host_;
  std::vector<std::string> hosts_;
  int tag_ = 0;  // next message tag: every rank calls the control plane in the same order
};

// The host name of this machine.
std::string host_name();

// The launcher the environment shows (mpirun/Open MPI, srun/Slurm, PMI), or "none".
std::string detect_launcher();

}  // namespace dsbench
