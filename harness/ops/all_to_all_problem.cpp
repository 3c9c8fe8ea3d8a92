#include "harness/ops/all_to_all_problem.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "dsbench/comm.hpp"
#include "harness/error.hpp"
#include "harness/metrics.hpp"
#include "harness/rng.hpp"

namespace dsbench {
namespace {

uint64_t load_bits(const uint8_t* p, size_t es) {
  uint64_t v = 0;
  std::memcpy(&v, p, es);  // little-endian hosts: the element's own bits in the low bytes
  return v;
}

std::string hex(uint64_t v, size_t es) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%0*llx", static_cast<int>(2 * es), static_cast<unsigned long long>(v));
  return buf;
}

class AllToAllProblem final : public Problem {
 public:
  AllToAllProblem(AllToAllShape shape, const RankContext& ctx) : s_(std::move(shape)), ctx_(ctx) {
    // Blocks are contiguous, in rank order, on both sides.
    const int w = s_.world_size, r = ctx_.rank;
    int64_t so = 0, ro = 0;
    for (int p = 0; p < w; ++p) {
      send_counts_.push_back(s_.counts[static_cast<size_t>(r)][static_cast<size_t>(p)]);
      recv_counts_.push_back(s_.counts[static_cast<size_t>(p)][static_cast<size_t>(r)]);
      send_displs_.push_back(so);
      recv_displs_.push_back(ro);
      so += send_counts_.back();
      ro += recv_counts_.back();
    }
    inputs_ = {{"send", s_.dtype, {so}}};
    outputs_ = {{"recv", s_.dtype, {ro}}};
  }

  const std::vector<TensorSpec>& inputs() const override { return inputs_; }
  const std::vector<TensorSpec>& outputs() const override { return outputs_; }

  void generate(uint64_t seed, TensorMap& inputs) const override {
    seed_ = seed;
    const size_t es = dsb_dtype_size(s_.dtype);
    uint8_t* send = inputs.at("send").data.data();
    for (int p = 0; p < s_.world_size; ++p) {
      const int64_t n = send_counts_[static_cast<size_t>(p)], off = send_displs_[static_cast<size_t>(p)];
#pragma omp parallel for schedule(static)
      for (int64_t i = 0; i < n; ++i) {
        const uint64_t v = all_to_all_element_bits(seed, ctx_.rank, p, i, s_.dtype);
        std::memcpy(send + (off + i) * static_cast<int64_t>(es), &v, es);
      }
    }
  }

  void validate(const TensorMap&) const override {}  // any bits are a valid payload

  std::vector<uint8_t> params(const std::map<std::string, void*>& ptrs) const override {
    dsb_all_to_all_params p{};
    p.rank = ctx_.rank;
    p.world_size = s_.world_size;
    p.dtype = s_.dtype;
    p.send = tensor_ptr(ptrs, "send");
    p.send_counts = send_counts_.data();
    p.send_displs = send_displs_.data();
    p.recv = tensor_ptr(ptrs, "recv");
    p.recv_counts = recv_counts_.data();
    p.recv_displs = recv_displs_.data();
    p.comm = ctx_.comm ? ctx_.comm->c_handle() : nullptr;
    return params_bytes(p);
  }

  std::vector<OutputCheck> reference(const TensorMap&, const VerifyPolicy&, uint64_t) const override {
    OutputCheck c;
    c.output = "recv";
    c.total = outputs_[0].numel();
    c.rule = "every element, bit for bit: element i of the block from rank s is a hash of (seed, s, " +
             std::to_string(ctx_.rank) + ", i)";
    c.custom = [this](const HostTensor& actual, const Tolerance& tol) { return check(actual, tol); };
    return {c};
  }

  double reference_macs() const override { return 0.0; }
  double flops() const override { return 0.0; }
  // What this rank sends (nccl-tests' "size" in the equal case); the merged row restates it per world.
  double bytes() const override { return static_cast<double>(inputs_[0].bytes()); }
  std::string skip_reason() const override { return skip_; }
  Traffic traffic() const override {
    const double es = static_cast<double>(dsb_dtype_size(s_.dtype));
    return {static_cast<double>(inputs_[0].bytes()), static_cast<double>(outputs_[0].bytes()),
            es * static_cast<double>(send_counts_[static_cast<size_t>(ctx_.rank)])};
  }
  void set_skip(std::string why) { skip_ = std::move(why); }

 private:

  OutputAccuracy check(const HostTensor& actual, const Tolerance& tol) const {
    OutputAccuracy a;
    a.output = "recv";
    a.tolerance = tol;
    a.rule = "every element, bit for bit, against f(seed, source rank, " + std::to_string(ctx_.rank) + ", index)";
    a.total = a.checked = outputs_[0].numel();
    const size_t es = dsb_dtype_size(s_.dtype);
    const uint8_t* recv = actual.data.data();
    int64_t bad = 0;
    int first_source = -1;
    int64_t first_index = -1;
    for (int p = 0; p < s_.world_size; ++p) {
      const int64_t n = recv_counts_[static_cast<size_t>(p)], off = recv_displs_[static_cast<size_t>(p)];
      int64_t bad_here = 0;
#pragma omp parallel for schedule(static) reduction(+ : bad_here)
      for (int64_t i = 0; i < n; ++i)
        bad_here += load_bits(recv + (off + i) * static_cast<int64_t>(es), es) !=
                    all_to_all_element_bits(seed_, p, ctx_.rank, i, s_.dtype);
      if (bad_here > 0 && first_source < 0) {
        for (int64_t i = 0; i < n; ++i)
          if (load_bits(recv + (off + i) * static_cast<int64_t>(es), es) !=
              all_to_all_element_bits(seed_, p, ctx_.rank, i, s_.dtype)) {
            first_source = p;
            first_index = i;
            break;
          }
      }
      bad += bad_here;
    }
    a.mismatches = bad;
    a.passed = bad == 0;
    if (bad > 0) {
      const int64_t flat = recv_displs_[static_cast<size_t>(first_source)] + first_index;
      const uint64_t want = all_to_all_element_bits(seed_, first_source, ctx_.rank, first_index, s_.dtype);
      const uint64_t got = load_bits(recv + flat * static_cast<int64_t>(es), es);
      a.worst_index = flat;
      a.worst_coord = {flat};
      // Values for the scorecard's worst element (the bits in `rule` are what counts); a dtype without
      // a decoder (f16) or the NaN poison is recorded as 0.
      auto value = [&](uint64_t bits) {
        uint8_t buf[8] = {};
        std::memcpy(buf, &bits, es);
        try {
          const double v = element_as_double(buf, s_.dtype, 0);
          return std::isfinite(v) ? v : 0.0;
        } catch (const std::exception&) {
          return 0.0;
        }
      };
      a.worst_expected = value(want);
      a.worst_actual = value(got);
      a.rule += "; first wrong: element " + std::to_string(first_index) + " of the block from rank " +
                std::to_string(first_source) + " (expected bits " + hex(want, es) + ", got " + hex(got, es) + ")";
      a.cos_diff = 1.0;  // no partial credit: an exchange is exact or wrong
    }
    return a;
  }

  AllToAllShape s_;
  RankContext ctx_;
  std::vector<int64_t> send_counts_, send_displs_, recv_counts_, recv_displs_;
  std::vector<TensorSpec> inputs_, outputs_;
  mutable uint64_t seed_ = 0;  // the check recomputes what every peer sent from it
  std::string skip_;
};

}  // namespace

int64_t AllToAllShape::sent_by(int r) const {
  int64_t n = 0;
  for (int64_t c : counts[static_cast<size_t>(r)]) n += c;
  return n;
}
int64_t AllToAllShape::received_by(int r) const {
  int64_t n = 0;
  for (const auto& row : counts) n += row[static_cast<size_t>(r)];
  return n;
}
int64_t AllToAllShape::total() const {
  int64_t n = 0;
  for (int r = 0; r < world_size; ++r) n += sent_by(r);
  return n;
}
int64_t AllToAllShape::crossed() const {
  int64_t n = total();
  for (int r = 0; r < world_size; ++r) n -= counts[static_cast<size_t>(r)][static_cast<size_t>(r)];
  return n;
}

uint64_t all_to_all_element_bits(uint64_t seed, int source, int dest, int64_t i, dsb_dtype dtype) {
  const uint64_t key = mix64(seed ^ mix64((static_cast<uint64_t>(source) << 32) | static_cast<uint32_t>(dest)));
  uint64_t v = mix64(key + static_cast<uint64_t>(i));
  switch (dtype) {
    case DSB_DTYPE_BF16: case DSB_DTYPE_F16: return (v & 0xffff) & ~uint64_t{0x4000};      // exponent < max: finite
    case DSB_DTYPE_F32: return (v & 0xffffffffu) & ~uint64_t{0x40000000};
    case DSB_DTYPE_E4M3FN: case DSB_DTYPE_E5M2: return (v & 0xff) & ~uint64_t{0x40};
    case DSB_DTYPE_E4M3FNUZ: case DSB_DTYPE_E5M2FNUZ: case DSB_DTYPE_UE8M0: return (v & 0xff) & ~uint64_t{0x80};
    case DSB_DTYPE_I32: v &= 0xffffffffu; return v == 0xffffffffu ? v ^ 1 : v;  // never the poison
    case DSB_DTYPE_I64: return v == ~uint64_t{0} ? v ^ 1 : v;
    default: return 0;
  }
}

std::unique_ptr<Problem> make_all_to_all_problem(const AllToAllShape& shape, const RankContext& ctx) {
  auto p = std::make_unique<AllToAllProblem>(shape, ctx);
  if (ctx.memory_budget > 0) {
    // Device send + recv, and their host copies (inputs, the output read back).
    const uint64_t need = 2 * (p->inputs()[0].bytes() + p->outputs()[0].bytes());
    if (need > ctx.memory_budget) {
      char why[200];
      std::snprintf(why, sizeof why, "capped by memory: rank %d needs %.2f GiB, more than its share %.2f GiB",
                    ctx.rank, need / 1073741824.0, ctx.memory_budget / 1073741824.0);
      p->set_skip(why);
    }
  }
  return p;
}

}  // namespace dsbench
