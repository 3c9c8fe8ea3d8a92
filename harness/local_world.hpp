// In-process ranks: `dsbench run --local-ranks N` runs N ranks as threads of one process, rank r on
// device r (nccl-tests' one-process mode, with one thread per device as its -t N -g 1). Each thread's
// World::get() is its rank's LocalWorld, so the runner, the multi-rank agreement and the
// communicators run unchanged; the control plane is shared memory instead of MPI messages.
#pragma once

#include <functional>
#include <string>
#include <memory>

#include "harness/world.hpp"

namespace dsbench {

struct LocalGroupState;  // the mailboxes and rendezvous the ranks share (local_world.cpp)

class LocalWorld final : public World, public LocalGroup {
 public:
  LocalWorld(std::shared_ptr<LocalGroupState> group, int rank);

  Status broadcast(void* data, size_t bytes, int root) override;
  LocalGroup* local_group() override { return size_ > 1 ? this : nullptr; }
  std::vector<std::string> gather_to_root(const std::string& mine, double timeout_s, std::vector<int>* missing) override;
  bool bcast_from_root(std::string* msg, double timeout_s) override;
  void barrier() override;
  // One watchdog per process: rank 0's (the others' waits are bounded by the agreements).
  void arm(const std::string& what, double timeout_s, std::function<void(const std::string&)> on_fire) override;
  void disarm() override;
  Status all_gather(const void* mine, const void** all, double timeout_s) override;

  // Runs body(rank) on n threads, each with its LocalWorld as World::get(), and returns rank 0's
  // result. An exception escaping a rank ends the process (exit 2) after printing it: the other
  // ranks would otherwise wait for it.
  // If a thread cannot be started (the process's thread limit), no rank runs the body: the started
  // ones are released and joined, and run returns -1 with why in *start_error.
  static int run(int n, const std::function<int(int rank)>& body, std::string* start_error = nullptr);

 private:
  std::shared_ptr<LocalGroupState> group_;
};

}  // namespace dsbench
