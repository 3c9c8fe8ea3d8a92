#include "harness/world.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

#ifdef DSB_HAVE_MPI
#include <mpi.h>
#endif

namespace dsbench {
namespace {

using Clock = std::chrono::steady_clock;

bool env_set(const char* name) { return std::getenv(name) != nullptr; }

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}


// Message tags stay below the MPI standard's guaranteed minimum of MPI_TAG_UB (32767).
constexpr int kTagSpace = 30000;

// Waits are short first (latency of small exchanges), then polite (a 2-core machine runs 4 ranks).
void backoff(int polls) {
  if (polls > 1000) std::this_thread::sleep_for(std::chrono::microseconds(polls > 20000 ? 500 : 20));
}

// The watchdog thread, shared by the process.
struct Watchdog {
  std::mutex mu;
  std::condition_variable cv;
  bool armed = false;
  uint64_t generation = 0;
  Clock::time_point deadline;
  std::string what;
  std::function<void(const std::string&)> on_fire;
  std::thread thread;

  void run() {
    std::unique_lock<std::mutex> lock(mu);
    for (;;) {
      if (!armed) {
        cv.wait(lock);
        continue;
      }
      const uint64_t gen = generation;
      if (cv.wait_until(lock, deadline) == std::cv_status::timeout && armed && gen == generation) {
        auto fire = on_fire;
        const std::string msg = what;
        lock.unlock();
        std::fprintf(stderr, "dsbench: %s\n", msg.c_str());
        if (fire) fire(msg);
        std::fflush(nullptr);
        _exit(3);
      }
    }
  }
};

Watchdog& watchdog() {
  static Watchdog* w = [] {
    auto* d = new Watchdog;  // never destroyed: the thread outlives static destruction order
    d->thread = std::thread([d] { d->run(); });
    d->thread.detach();
    return d;
  }();
  return *w;
}

bool g_mpi_initialised = false;
thread_local World* t_world = nullptr;

// The launcher's world: MPI ranks, or one.
class LauncherWorld final : public World {
 public:
  LauncherWorld();
  Status broadcast(void* data, size_t bytes, int root) override;
  const void* mpi_comm() const override;
  std::vector<std::string> gather_to_root(const std::string& mine, double timeout_s, std::vector<int>* missing) override;
  bool bcast_from_root(std::string* msg, double timeout_s) override;
  void barrier() override;
  void end_job(int code) override;
};

}  // namespace

std::string host_name() {
  char buf[256] = {};
  gethostname(buf, sizeof buf - 1);
  return buf;
}

std::string detect_launcher() {
  if (env_set("OMPI_COMM_WORLD_SIZE")) return "mpirun";
  if (env_set("SLURM_STEP_ID") && env_set("SLURM_NTASKS") && (env_set("PMI_SIZE") || env_set("PMIX_RANK") || env_set("SLURM_PROCID")))
    return "srun";
  if (env_set("PMI_SIZE") || env_set("PMIX_RANK") || env_set("MPI_LOCALNRANKS")) return "mpi";
  return "none";
}

World& World::get() {
  if (t_world != nullptr) return *t_world;
  static World* w = new LauncherWorld;  // lives until exit: finalize() tears MPI down explicitly
  return *w;
}

void World::set_thread_world(World* w) { t_world = w; }

LauncherWorld::LauncherWorld() {
  host_ = host_name();
  launcher_ = detect_launcher();
#ifdef DSB_HAVE_MPI
  if (launcher_ != "none") {
    int provided = 0;
    MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided);
    g_mpi_initialised = true;
    // Errors come back as codes (turned into Status), never as a silent abort inside MPI.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &local_rank_);
    MPI_Comm_size(local, &local_size_);
    MPI_Comm_free(&local);
    char lib[MPI_MAX_LIBRARY_VERSION_STRING] = {};
    int len = 0;
    MPI_Get_library_version(lib, &len);
    mpi_lib_.assign(lib, static_cast<size_t>(len));
    while (!mpi_lib_.empty() && (mpi_lib_.back() == '\n' || mpi_lib_.back() == '\0')) mpi_lib_.pop_back();
    const size_t comma = mpi_lib_.find(',');  // "Open MPI v4.1.4, package: ..." -> "Open MPI v4.1.4"
    if (comma != std::string::npos) mpi_lib_.resize(comma);
    std::vector<std::string> names = gather_to_root(host_, 600.0, nullptr);
    std::string all;
    for (const std::string& n : names) all += n + "\n";
    bcast_from_root(&all, 600.0);
    size_t start = 0;
    for (size_t nl; (nl = all.find('\n', start)) != std::string::npos; start = nl + 1)
      hosts_.push_back(all.substr(start, nl - start));
    return;
  }
#endif
  // Without MPI a launcher's environment is still visible: say so rather than run N copies of a
  // world of one that each believe they are alone.
  if (launcher_ != "none" && env_int("OMPI_COMM_WORLD_SIZE", env_int("SLURM_NTASKS", env_int("PMI_SIZE", 1))) > 1)
    std::fprintf(stderr, "dsbench: warning: started by %s with more than one rank, but built without MPI: "
                 "every process runs alone (configure with -DDSB_ENABLE_MPI=ON)\n", launcher_.c_str());
  hosts_ = {host_};
}

void World::finalize() {
#ifdef DSB_HAVE_MPI
  int finalized = 0;
  if (g_mpi_initialised && (MPI_Finalized(&finalized), !finalized)) MPI_Finalize();
#endif
}

const void* LauncherWorld::mpi_comm() const {
#ifdef DSB_HAVE_MPI
  static const MPI_Comm world = MPI_COMM_WORLD;
  if (g_mpi_initialised) return &world;
#endif
  return nullptr;
}

Status LauncherWorld::broadcast(void* data, size_t bytes, int root) {
  if (size_ == 1) return Status::success();
#ifdef DSB_HAVE_MPI
  if (MPI_Bcast(data, static_cast<int>(bytes), MPI_BYTE, root, MPI_COMM_WORLD) != MPI_SUCCESS)
    return Status::error(DSB_STATUS_DEVICE_ERROR, "MPI_Bcast of " + std::to_string(bytes) + " bytes failed");
  return Status::success();
#else
  return Status::error(DSB_STATUS_NOT_SUPPORTED, "built without MPI");
#endif
}

std::vector<std::string> LauncherWorld::gather_to_root(const std::string& mine, double timeout_s, std::vector<int>* missing) {
  if (missing) missing->clear();
  if (size_ == 1) return {mine};
  std::vector<std::string> out;
#ifdef DSB_HAVE_MPI
  const int tag = tag_++ % kTagSpace;
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  if (rank_ != 0) {
    MPI_Request req;
    MPI_Issend(mine.data(), static_cast<int>(mine.size()), MPI_CHAR, 0, tag, MPI_COMM_WORLD, &req);
    int done = 0;
    for (int polls = 0; !done && Clock::now() < deadline; ++polls) {
      MPI_Test(&req, &done, MPI_STATUS_IGNORE);
      if (!done) backoff(polls);
    }
    if (!done) MPI_Cancel(&req);  // rank 0 is gone or late: the caller decides what that means
    return {};
  }
  out.assign(static_cast<size_t>(size_), std::string());
  out[0] = mine;
  std::vector<bool> got(static_cast<size_t>(size_), false);
  got[0] = true;
  int left = size_ - 1;
  for (int polls = 0; left > 0 && Clock::now() < deadline; ++polls) {
    bool progressed = false;
    for (int r = 1; r < size_; ++r) {
      if (got[static_cast<size_t>(r)]) continue;
      int flag = 0;
      MPI_Status st;
      MPI_Iprobe(r, tag, MPI_COMM_WORLD, &flag, &st);
      if (!flag) continue;
      int n = 0;
      MPI_Get_count(&st, MPI_CHAR, &n);
      std::string& s = out[static_cast<size_t>(r)];
      s.resize(static_cast<size_t>(n));
      MPI_Recv(s.data(), n, MPI_CHAR, r, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      got[static_cast<size_t>(r)] = true;
      --left;
      progressed = true;
    }
    if (!progressed) backoff(polls);
  }
  if (missing)
    for (int r = 1; r < size_; ++r)
      if (!got[static_cast<size_t>(r)]) missing->push_back(r);
#endif
  return out;
}

bool LauncherWorld::bcast_from_root(std::string* msg, double timeout_s) {
  if (size_ == 1) return true;
#ifdef DSB_HAVE_MPI
  const int tag = tag_++ % kTagSpace;
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  if (rank_ == 0) {
    // Buffered sends: a rank that died must not keep rank 0 from reporting it.
    std::vector<MPI_Request> reqs(static_cast<size_t>(size_ - 1));
    for (int r = 1; r < size_; ++r)
      MPI_Isend(msg->data(), static_cast<int>(msg->size()), MPI_CHAR, r, tag, MPI_COMM_WORLD, &reqs[static_cast<size_t>(r - 1)]);
    int done = 0;
    for (int polls = 0; !done && Clock::now() < deadline; ++polls) {
      MPI_Testall(static_cast<int>(reqs.size()), reqs.data(), &done, MPI_STATUSES_IGNORE);
      if (!done) backoff(polls);
    }
    return done != 0;
  }
  for (int polls = 0; Clock::now() < deadline; ++polls) {
    int flag = 0;
    MPI_Status st;
    MPI_Iprobe(0, tag, MPI_COMM_WORLD, &flag, &st);
    if (flag) {
      int n = 0;
      MPI_Get_count(&st, MPI_CHAR, &n);
      msg->resize(static_cast<size_t>(n));
      MPI_Recv(msg->data(), n, MPI_CHAR, 0, tag, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      return true;
    }
    backoff(polls);
  }
  return false;
#else
  return true;
#endif
}

void LauncherWorld::barrier() {
#ifdef DSB_HAVE_MPI
  if (g_mpi_initialised && size_ > 1) MPI_Barrier(MPI_COMM_WORLD);
#endif
}

void World::arm(const std::string& what, double timeout_s, std::function<void(const std::string&)> on_fire) {
  Watchdog& w = watchdog();
  std::lock_guard<std::mutex> lock(w.mu);
  w.armed = true;
  ++w.generation;
  w.what = what;
  w.on_fire = std::move(on_fire);
  w.deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
  w.cv.notify_all();
}

void World::disarm() {
  Watchdog& w = watchdog();
  std::lock_guard<std::mutex> lock(w.mu);
  w.armed = false;
  ++w.generation;
  w.cv.notify_all();
}

void World::abort(int code) {
  std::fflush(nullptr);
  end_job(code);
  _exit(code);  // other threads of the process may be inside the run: no static destructors under them
}

void LauncherWorld::end_job(int code) {
#ifdef DSB_HAVE_MPI
  if (g_mpi_initialised && size_ > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

}  // namespace dsbench
