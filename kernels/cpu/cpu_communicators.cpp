#include "kernels/cpu/cpu_communicators.hpp"

#include <climits>
#include <cstring>
#include <string>
#include <vector>

#ifdef DSB_HAVE_MPI
#include <mpi.h>
#endif

namespace dsbench::cpu {
namespace {

// Counts and displacements checked once for every implementation: a bad matrix is the caller's
// error, reported with the peer, never a crash inside the library.
Status check_counts(int world, const void* send, const int64_t* sc, const int64_t* sd, const void* recv,
                    const int64_t* rc, const int64_t* rd) {
  if (!sc || !sd || !rc || !rd) return Status::error(DSB_STATUS_INVALID_ARGUMENT, "alltoallv: null counts or displacements");
  for (int p = 0; p < world; ++p) {
    if (sc[p] < 0 || sd[p] < 0 || rc[p] < 0 || rd[p] < 0)
      return Status::error(DSB_STATUS_INVALID_ARGUMENT, "alltoallv: negative count or displacement for peer " + std::to_string(p));
    if ((sc[p] > 0 && !send) || (rc[p] > 0 && !recv))
      return Status::error(DSB_STATUS_INVALID_ARGUMENT, "alltoallv: null buffer with a non-zero count for peer " + std::to_string(p));
  }
  return Status::success();
}

class SelfCommunicator final : public Communicator {
 public:
  SelfCommunicator() : Communicator(0, 1, 0, 1) {}
  std::string name() const override { return "self"; }
  Properties info() const override { return {{"library", std::string("none (world of one: host memcpy)")}}; }
  Status alltoallv(const void* send, const int64_t* sc, const int64_t* sd, void* recv, const int64_t* rc,
                   const int64_t* rd, dsb_dtype dtype, void*) override {
    if (Status st = check_counts(1, send, sc, sd, recv, rc, rd); !st.ok()) return st;
    if (sc[0] != rc[0])
      return Status::error(DSB_STATUS_INVALID_ARGUMENT, "alltoallv: rank 0 sends " + std::to_string(sc[0]) +
                                                            " elements to itself but expects " + std::to_string(rc[0]));
    const size_t es = dsb_dtype_size(dtype);
    if (sc[0] > 0) std::memcpy(static_cast<char*>(recv) + rd[0] * es, static_cast<const char*>(send) + sd[0] * es, sc[0] * es);
    return Status::success();
  }
  Status barrier() override { return Status::success(); }
};

// Ranks that are threads of one process (`dsbench run --local-ranks N`): each rank posts where its
// blocks are, every rank copies the blocks addressed to it straight out of its peers' send buffers,
// and a second rendezvous keeps every send buffer alive until all peers have read it. One copy per
// element, as a shared-memory MPI transport makes.
class LocalCommunicator final : public Communicator {
 public:
  LocalCommunicator(LocalGroup& group, const Bootstrap& boot)
      : Communicator(boot.rank(), boot.world_size(), boot.local_rank(), boot.local_size()),
        group_(group),
        peers_(static_cast<size_t>(boot.world_size())) {}
  std::string name() const override { return "local"; }
  Properties info() const override {
    return {{"library", std::string("none (in-process ranks: host memcpy between threads)")}};
  }
  Status alltoallv(const void* send, const int64_t* sc, const int64_t* sd, void* recv, const int64_t* rc,
                   const int64_t* rd, dsb_dtype dtype, void*) override {
    const int w = world_size();
    Status st = check_counts(w, send, sc, sd, recv, rc, rd);
    // A rank with bad arguments still takes part in both rendezvous, so its peers fail instead of waiting.
    const Post mine{st.ok() ? send : nullptr, sc, sd, dsb_dtype_size(dtype), st.ok()};
    if (Status g = group_.all_gather(&mine, peers_.data(), timeout_s()); !g.ok()) return g;
    const size_t es = mine.elem_size;
    for (int p = 0; p < w && st.ok(); ++p) {
      const Post& peer = *static_cast<const Post*>(peers_[static_cast<size_t>(p)]);
      if (!peer.ok) {
        st = Status::error(DSB_STATUS_INVALID_ARGUMENT, "alltoallv: rank " + std::to_string(p) + " has invalid arguments");
      } else if (peer.elem_size != es || peer.counts[rank()] != rc[p]) {
        st = Status::error(DSB_STATUS_INVALID_ARGUMENT,
                           "alltoallv: rank " + std::to_string(p) + " sends " + std::to_string(peer.counts[rank()]) +
                               " elements of " + std::to_string(peer.elem_size) + " bytes to rank " +
                               std::to_string(rank()) + ", which expects " + std::to_string(rc[p]) + " of " +
                               std::to_string(es));
      } else if (rc[p] > 0) {
        std::memcpy(static_cast<char*>(recv) + rd[p] * es,
                    static_cast<const char*>(peer.send) + peer.displs[rank()] * es, static_cast<size_t>(rc[p]) * es);
      }
    }
    if (Status g = group_.all_gather(nullptr, peers_.data(), timeout_s()); !g.ok()) return g;
    return st;
  }
  Status barrier() override { return group_.all_gather(nullptr, peers_.data(), timeout_s()); }

 private:
  struct Post {
    const void* send;
    const int64_t* counts;
    const int64_t* displs;
    size_t elem_size;
    bool ok;
  };
  LocalGroup& group_;
  std::vector<const void*> peers_;  // reused: no allocation inside the timed call
};

#ifdef DSB_HAVE_MPI
std::string mpi_error(int code) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int len = 0;
  MPI_Error_string(code, text, &len);
  return std::string(text, static_cast<size_t>(len));
}

// MPI_Alltoallv (blocking: the tuned algorithms a plain MPI program gets, so dsbench's figures are
// MPI's own; a peer that never arrives is caught by the harness's watchdog, not here).
class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator(MPI_Comm comm, const Bootstrap& boot)
      : Communicator(boot.rank(), boot.world_size(), boot.local_rank(), boot.local_size()), comm_(comm) {}
  ~MpiCommunicator() override {
    for (auto& [size, type] : types_) MPI_Type_free(&type);
    MPI_Comm_free(&comm_);
  }
  std::string name() const override { return "mpi"; }
  Properties info() const override {
    char lib[MPI_MAX_LIBRARY_VERSION_STRING] = {};
    int len = 0;
    MPI_Get_library_version(lib, &len);
    std::string s(lib, static_cast<size_t>(len));
    if (const size_t comma = s.find(','); comma != std::string::npos) s.resize(comma);
    int major = 0, minor = 0;
    MPI_Get_version(&major, &minor);
    return {{"library", s}, {"mpi_standard", std::to_string(major) + "." + std::to_string(minor)}};
  }
  Status alltoallv(const void* send, const int64_t* sc, const int64_t* sd, void* recv, const int64_t* rc,
                   const int64_t* rd, dsb_dtype dtype, void*) override {
    const int w = world_size();
    // Every timed repetition passes the counts of the one before: then the checks and conversions
    // below are skipped, and the timed call is the MPI call (tools: bench/all_to_all_overhead_bench).
    if (!same_as_last(send, sc, sd, recv, rc, rd, dtype)) {
      if (Status st = prepare(w, send, sc, sd, recv, rc, rd, dtype); !st.ok()) return st;
    }
    const std::vector<int>&isc = isc_, &isd = isd_, &irc = irc_, &ird = ird_;
    MPI_Datatype type = type_;
    if (equal_) {
      const int rc_ = MPI_Alltoall(send, isc[0], type, recv, isc[0], type, comm_);
      if (rc_ != MPI_SUCCESS) return Status::error(DSB_STATUS_DEVICE_ERROR, "MPI_Alltoall: " + mpi_error(rc_));
      return Status::success();
    }
    // MPI's send buffer is const in MPI 3; some builds still declare it void*.
    const int rc_ = MPI_Alltoallv(const_cast<void*>(send), isc.data(), isd.data(), type, recv, irc.data(), ird.data(),
                                  type, comm_);
    if (rc_ != MPI_SUCCESS) return Status::error(DSB_STATUS_DEVICE_ERROR, "MPI_Alltoallv: " + mpi_error(rc_));
    return Status::success();
  }
  // On the exchange's own communicator, as a plain MPI benchmark loop would line its repetitions up.
  Status barrier() override {
    const int rc_ = MPI_Barrier(comm_);
    if (rc_ != MPI_SUCCESS) return Status::error(DSB_STATUS_DEVICE_ERROR, "MPI_Barrier: " + mpi_error(rc_));
    return Status::success();
  }

 private:
  bool same_as_last(const void* send, const int64_t* sc, const int64_t* sd, const void* recv, const int64_t* rc,
                    const int64_t* rd, dsb_dtype dtype) const {
    const size_t bytes = static_cast<size_t>(world_size()) * sizeof(int64_t);
    return prepared_ && dtype == last_dtype_ && sc && sd && rc && rd && (send || !sends_) && (recv || !receives_) &&
           std::memcmp(last_.data(), sc, bytes) == 0 &&
           std::memcmp(last_.data() + world_size(), sd, bytes) == 0 &&
           std::memcmp(last_.data() + 2 * world_size(), rc, bytes) == 0 &&
           std::memcmp(last_.data() + 3 * world_size(), rd, bytes) == 0;
  }
  // Checks the counts and turns them into MPI's ints, its element type, and the alltoall-or-v choice.
  Status prepare(int w, const void* send, const int64_t* sc, const int64_t* sd, const void* recv, const int64_t* rc,
                 const int64_t* rd, dsb_dtype dtype) {
    prepared_ = false;
    if (Status st = check_counts(w, send, sc, sd, recv, rc, rd); !st.ok()) return st;
    // MPI counts are int, in elements of a type of the element size.
    isc_.resize(w);
    isd_.resize(w);
    irc_.resize(w);
    ird_.resize(w);
    std::vector<int>&isc = isc_, &isd = isd_, &irc = irc_, &ird = ird_;
    for (int p = 0; p < w; ++p) {
      for (int64_t v : {sc[p], sd[p], rc[p], rd[p]})
        if (v > INT_MAX)
          return Status::error(DSB_STATUS_NOT_SUPPORTED, "alltoallv: a count or displacement of " + std::to_string(v) +
                                                             " elements exceeds MPI's int range");
      isc[p] = static_cast<int>(sc[p]);
      isd[p] = static_cast<int>(sd[p]);
      irc[p] = static_cast<int>(rc[p]);
      ird[p] = static_cast<int>(rd[p]);
    }
    type_ = element_type(dsb_dtype_size(dtype));
    // Equal counts in rank order: MPI_Alltoall, whose tuned algorithms a plain MPI program would get.
    equal_ = true;
    for (int p = 0; p < w && equal_; ++p)
      equal_ = isc[p] == isc[0] && irc[p] == isc[0] && isd[p] == p * isc[0] && ird[p] == p * isc[0];
    last_.resize(4 * static_cast<size_t>(w));
    sends_ = receives_ = false;
    for (int p = 0; p < w; ++p) {
      sends_ = sends_ || sc[p] > 0;
      receives_ = receives_ || rc[p] > 0;
      last_[p] = sc[p];
      last_[w + p] = sd[p];
      last_[2 * w + p] = rc[p];
      last_[3 * w + p] = rd[p];
    }
    last_dtype_ = dtype;
    prepared_ = true;
    return Status::success();
  }

  // A predefined type of the element's size: derived types take Open MPI's slower pack path, which
  // costs half a microsecond per small exchange against a plain MPI program.
  MPI_Datatype element_type(size_t bytes) {
    switch (bytes) {
      case 1: return MPI_UINT8_T;
      case 2: return MPI_UINT16_T;
      case 4: return MPI_UINT32_T;
      case 8: return MPI_UINT64_T;
      default: break;
    }
    for (auto& [size, type] : types_)
      if (size == bytes) return type;
    MPI_Datatype t;
    MPI_Type_contiguous(static_cast<int>(bytes), MPI_BYTE, &t);
    MPI_Type_commit(&t);
    types_.emplace_back(bytes, t);
    return t;
  }
  MPI_Comm comm_;
  std::vector<std::pair<size_t, MPI_Datatype>> types_;
  std::vector<int> isc_, isd_, irc_, ird_;
  // The previous call's counts and displacements (send counts, send displs, recv counts, recv displs)
  // and what prepare() made of them.
  std::vector<int64_t> last_;
  dsb_dtype last_dtype_ = DSB_DTYPE_BF16;
  bool prepared_ = false, equal_ = false, sends_ = false, receives_ = false;
  MPI_Datatype type_ = MPI_BYTE;
};
#endif

}  // namespace

Status make_cpu_communicator(Bootstrap& boot, std::unique_ptr<Communicator>* out) {
#ifdef DSB_HAVE_MPI
  if (const void* world = boot.mpi_comm()) {
    MPI_Comm dup;
    if (const int rc = MPI_Comm_dup(*static_cast<const MPI_Comm*>(world), &dup); rc != MPI_SUCCESS)
      return Status::error(DSB_STATUS_DEVICE_ERROR, "MPI_Comm_dup: " + mpi_error(rc));
    MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN);
    *out = std::make_unique<MpiCommunicator>(dup, boot);
    return Status::success();
  }
#endif
  if (LocalGroup* group = boot.local_group(); group != nullptr && boot.world_size() > 1) {
    *out = std::make_unique<LocalCommunicator>(*group, boot);
    return Status::success();
  }
  if (boot.world_size() == 1) {
    *out = std::make_unique<SelfCommunicator>();
    return Status::success();
  }
  return Status::error(DSB_STATUS_NOT_SUPPORTED,
                       "a world of " + std::to_string(boot.world_size()) + " ranks needs MPI, and this build has none");
}

}  // namespace dsbench::cpu
