#include "harness/local_world.hpp"

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>

namespace dsbench {

using Clock = std::chrono::steady_clock;

namespace {

Clock::time_point deadline_after(double s) {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// The Bootstrap broadcast is blocking (MPI_Bcast under a launcher); here it gives up after an hour.
constexpr double kBlockingWaitS = 3600.0;

}  // namespace

struct LocalGroupState {
  explicit LocalGroupState(int n) : n(n), slots{std::vector<const void*>(n), std::vector<const void*>(n)} {}
  const int n;
  std::mutex mu;
  std::condition_variable cv;
  // Control-plane messages by tag: every rank counts tags up in the same order, as over MPI.
  struct Mail {
    std::vector<std::string> msg;  // gather: one per rank
    std::vector<bool> got;
    std::string sent_msg;          // broadcast: the root's
    bool sent = false;
    int reads = 0;
  };
  std::map<int, Mail> mail;
  Mail& at(int tag) {
    Mail& m = mail[tag];
    if (m.got.empty()) {
      m.msg.resize(static_cast<size_t>(n));
      m.got.assign(static_cast<size_t>(n), false);
    }
    return m;
  }
  // The rendezvous of all_gather and barrier: generation g uses slots[g % 2], so a rank already in
  // the next generation never overwrites pointers another rank is still reading.
  uint64_t generation = 0;
  int arrived = 0;
  bool broken = false;  // a rank gave up waiting: the others must not wait for a full count again
  std::vector<const void*> slots[2];
};

LocalWorld::LocalWorld(std::shared_ptr<LocalGroupState> group, int rank) : group_(std::move(group)) {
  rank_ = local_rank_ = rank;
  size_ = local_size_ = group_->n;
  launcher_ = "single-process";
  host_ = host_name();
  hosts_.assign(static_cast<size_t>(size_), host_);
}

std::vector<std::string> LocalWorld::gather_to_root(const std::string& mine, double timeout_s, std::vector<int>* missing) {
  if (missing) missing->clear();
  if (size_ == 1) return {mine};
  const int tag = tag_++;
  LocalGroupState& g = *group_;
  std::unique_lock<std::mutex> lock(g.mu);
  LocalGroupState::Mail& m = g.at(tag);
  m.msg[static_cast<size_t>(rank_)] = mine;
  m.got[static_cast<size_t>(rank_)] = true;
  if (rank_ != 0) {
    g.cv.notify_all();
    return {};
  }
  auto all_here = [&] {
    for (bool b : m.got)
      if (!b) return false;
    return true;
  };
  g.cv.wait_until(lock, deadline_after(timeout_s), all_here);
  std::vector<std::string> out = std::move(m.msg);
  for (int r = 1; r < size_; ++r)
    if (!m.got[static_cast<size_t>(r)] && missing) missing->push_back(r);
  g.mail.erase(tag);
  return out;
}

bool LocalWorld::bcast_from_root(std::string* msg, double timeout_s) {
  if (size_ == 1) return true;
  const int tag = tag_++;
  LocalGroupState& g = *group_;
  std::unique_lock<std::mutex> lock(g.mu);
  LocalGroupState::Mail& m = g.at(tag);
  if (rank_ == 0) {
    m.sent_msg = *msg;
    m.sent = true;
    g.cv.notify_all();
    return true;
  }
  if (!g.cv.wait_until(lock, deadline_after(timeout_s), [&] { return m.sent; })) return false;
  *msg = m.sent_msg;
  if (++m.reads == size_ - 1) g.mail.erase(tag);
  return true;
}

Status LocalWorld::broadcast(void* data, size_t bytes, int root) {
  if (size_ == 1) return Status::success();
  const int tag = tag_++;
  LocalGroupState& g = *group_;
  std::unique_lock<std::mutex> lock(g.mu);
  LocalGroupState::Mail& m = g.at(tag);
  if (rank_ == root) {
    m.sent_msg.assign(static_cast<const char*>(data), bytes);
    m.sent = true;
    g.cv.notify_all();
    return Status::success();
  }
  if (!g.cv.wait_until(lock, deadline_after(kBlockingWaitS), [&] { return m.sent; }))
    return Status::error(DSB_STATUS_TIMEOUT, "in-process broadcast from rank " + std::to_string(root) + ": no message");
  if (m.sent_msg.size() != bytes)
    return Status::error(DSB_STATUS_INVALID_ARGUMENT, "in-process broadcast: rank " + std::to_string(root) + " sent " +
                                                          std::to_string(m.sent_msg.size()) + " bytes, rank " +
                                                          std::to_string(rank_) + " expects " + std::to_string(bytes));
  std::memcpy(data, m.sent_msg.data(), bytes);
  if (++m.reads == size_ - 1) g.mail.erase(tag);
  return Status::success();
}

Status LocalWorld::all_gather(const void* mine, const void** all, double timeout_s) {
  LocalGroupState& g = *group_;
  std::unique_lock<std::mutex> lock(g.mu);
  if (g.broken) return Status::error(DSB_STATUS_TIMEOUT, "in-process ranks: an earlier rendezvous timed out");
  const uint64_t gen = g.generation;
  std::vector<const void*>& slot = g.slots[gen & 1];
  slot[static_cast<size_t>(rank_)] = mine;
  if (++g.arrived == size_) {
    g.arrived = 0;
    ++g.generation;
    g.cv.notify_all();
  } else if (!g.cv.wait_until(lock, deadline_after(timeout_s), [&] { return g.generation != gen || g.broken; }) ||
             g.generation == gen) {
    const int here = g.arrived;
    g.broken = true;
    g.cv.notify_all();
    char t[32];
    std::snprintf(t, sizeof t, "%g", timeout_s);
    return Status::error(DSB_STATUS_TIMEOUT, "in-process rendezvous on rank " + std::to_string(rank_) + ": " +
                                                 std::to_string(here) + " of " + std::to_string(size_) +
                                                 " ranks arrived within " + t + " s");
  }
  if (all != nullptr)
    for (int r = 0; r < size_; ++r) all[r] = slot[static_cast<size_t>(r)];
  return Status::success();
}

void LocalWorld::barrier() {
  if (size_ == 1) return;
  if (const Status st = all_gather(nullptr, nullptr, kBlockingWaitS); !st.ok()) {
    std::fprintf(stderr, "dsbench: rank %d: barrier: %s; ending the process\n", rank_, st.message.c_str());
    abort(3);
  }
}

void LocalWorld::arm(const std::string& what, double timeout_s, std::function<void(const std::string&)> on_fire) {
  if (rank_ == 0) World::arm(what, timeout_s, std::move(on_fire));
}

void LocalWorld::disarm() {
  if (rank_ == 0) World::disarm();
}

int LocalWorld::run(int n, const std::function<int(int rank)>& body, std::string* start_error) {
  auto group = std::make_shared<LocalGroupState>(n);
  std::vector<int> codes(static_cast<size_t>(n), 0);
  std::vector<std::thread> threads;
  // Every rank waits at this gate until all threads exist: a rank must never enter an exchange whose
  // peers will never be started.
  std::mutex gate_mutex;
  std::condition_variable gate_cv;
  enum class Gate { kWait, kGo, kCancel } gate = Gate::kWait;
  std::string failed;
  for (int r = 0; r < n && failed.empty(); ++r) {
    try {
      threads.emplace_back([&, r] {
        {
          std::unique_lock<std::mutex> lock(gate_mutex);
          gate_cv.wait(lock, [&] { return gate != Gate::kWait; });
          if (gate == Gate::kCancel) return;
        }
        LocalWorld w(group, r);
        set_thread_world(&w);
        try {
          codes[static_cast<size_t>(r)] = body(r);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "dsbench: rank %d of %d (in-process): %s; ending the process\n", r, n, e.what());
          w.abort(2);
        }
        set_thread_world(nullptr);
      });
    } catch (const std::system_error& e) {
      failed = "--local-ranks " + std::to_string(n) + ": could not start the thread of rank " + std::to_string(r) +
               " (" + e.what() + "); no rank ran. Fewer ranks, or a higher thread limit (ulimit -u)";
    }
  }
  {
    std::lock_guard<std::mutex> lock(gate_mutex);
    gate = failed.empty() ? Gate::kGo : Gate::kCancel;
  }
  gate_cv.notify_all();
  for (std::thread& t : threads) t.join();
  if (!failed.empty()) {
    if (start_error) *start_error = failed;
    return -1;
  }
  return codes[0];
}

}  // namespace dsbench
