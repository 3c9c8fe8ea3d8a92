#include "harness/ops/gemm_fp8_problem.hpp"

#include <algorithm>
#include <cstring>
#include <cmath>
#include <set>

#include "dsbench/numerics/bf16.hpp"
#include "harness/error.hpp"
#include "harness/input_gen.hpp"
#include "harness/metrics.hpp"
#include "harness/ops/gemm_fp8_probe.hpp"
#include "harness/rng.hpp"
#include "reference/gemm_fp8_reference.hpp"

namespace dsbench {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

class GemmFp8Problem final : public Problem {
 public:
  explicit GemmFp8Problem(const GemmFp8Shape& s) : s_(s), kb_(s.k / DSB_FP8_BLOCK), nb_(ceil_div(s.n, DSB_FP8_BLOCK)) {
    const int64_t g = s.num_groups;
    rows_ = s.op == DSB_OP_GEMM_FP8_GROUPED_MASKED ? g * s.m : s.m;
    for (int64_t r : s.group_rows) valid_rows_ += r;
    if (s.op == DSB_OP_GEMM_FP8_BLOCKSCALED) valid_rows_ = s.m;
    const bool grouped = s.op != DSB_OP_GEMM_FP8_BLOCKSCALED;
    const std::vector<int64_t> lead = s.op == DSB_OP_GEMM_FP8_GROUPED_MASKED ? std::vector<int64_t>{g, s.m}
                                                                            : std::vector<int64_t>{s.m};
    auto with = [](std::vector<int64_t> v, std::initializer_list<int64_t> tail) { v.insert(v.end(), tail); return v; };
    in_ = {{"a", s.ab_dtype, with(lead, {s.k})},
           {"scale_a", s.scale_dtype, with(lead, {kb_})},
           {"b", s.ab_dtype, grouped ? std::vector<int64_t>{g, s.n, s.k} : std::vector<int64_t>{s.n, s.k}},
           {"scale_b", s.scale_dtype, grouped ? std::vector<int64_t>{g, nb_, kb_} : std::vector<int64_t>{nb_, kb_}}};
    if (s.op == DSB_OP_GEMM_FP8_GROUPED_CONTIGUOUS) in_.push_back({"m_indices", DSB_DTYPE_I32, {s.m}});
    if (s.op == DSB_OP_GEMM_FP8_GROUPED_MASKED) in_.push_back({"masked_m", DSB_DTYPE_I32, {g}});
    out_ = {{"d", DSB_DTYPE_BF16, with(lead, {s.n})}};
  }

  const std::vector<TensorSpec>& inputs() const override { return in_; }
  const std::vector<TensorSpec>& outputs() const override { return out_; }

  void generate(uint64_t seed, TensorMap& t) const override {
    if (s_.accumulation_probe) {
      generate_accumulation_probe(seed, s_.m, s_.n, s_.k, s_.ab_dtype, s_.scale_dtype, t.at("a").as<uint8_t>(),
                                  t.at("scale_a").data.data(), t.at("b").as<uint8_t>(), t.at("scale_b").data.data());
      return;
    }
    const int64_t sb = static_cast<int64_t>(dsb_dtype_size(s_.scale_dtype));
    generate_fp8_matrix(CounterRng(seed, hash_name("a")), {rows_, s_.k, s_.ab_dtype, s_.scale_dtype, false},
                        t.at("a").as<uint8_t>(), t.at("scale_a").data.data());
    for (int32_t g = 0; g < s_.num_groups; ++g) {
      generate_fp8_matrix(CounterRng(seed, hash_name("b") + static_cast<uint64_t>(g)),
                          {s_.n, s_.k, s_.ab_dtype, s_.scale_dtype, true},
                          t.at("b").as<uint8_t>() + g * s_.n * s_.k, t.at("scale_b").data.data() + g * nb_ * kb_ * sb);
    }
    if (s_.op == DSB_OP_GEMM_FP8_GROUPED_CONTIGUOUS) {
      int32_t* mi = t.at("m_indices").as<int32_t>();
      int64_t r = 0;
      for (int32_t g = 0; g < s_.num_groups; ++g) {
        const int64_t padded = ceil_div(s_.group_rows[g], s_.alignment) * s_.alignment;
        for (int64_t i = 0; i < padded; ++i) mi[r++] = i < s_.group_rows[g] ? g : -1;
      }
    }
    if (s_.op == DSB_OP_GEMM_FP8_GROUPED_MASKED)
      for (int32_t g = 0; g < s_.num_groups; ++g) t.at("masked_m").as<int32_t>()[g] = static_cast<int32_t>(s_.group_rows[g]);
  }

  void validate(const TensorMap& t) const override {
    // Scales from files: a NaN, infinite, zero or negative scale makes every product meaningless (an
    // all-NaN reference would compare equal to an all-NaN output and "pass").
    for (const char* name : {"scale_a", "scale_b"}) {
      const HostTensor& sc = t.at(name);
      const int64_t n = sc.spec.numel();
      for (int64_t i = 0; i < n; ++i) {
        const double v = element_as_double(sc.data.data(), sc.spec.dtype, i);
        if (!std::isfinite(v) || v <= 0)
          DSB_THROW(std::string(name) + "[" + std::to_string(i) + "]: " + std::to_string(v) +
                    " is not a finite positive scale");
      }
    }
    if (s_.op == DSB_OP_GEMM_FP8_GROUPED_CONTIGUOUS) {
      const int32_t* mi = t.at("m_indices").as<int32_t>();
      for (int64_t r = 0; r < s_.m; ++r)
        if (mi[r] < -1 || mi[r] >= s_.num_groups)
          DSB_THROW("m_indices[" + std::to_string(r) + "]: " + std::to_string(mi[r]) + " is out of range [-1, " +
                    std::to_string(s_.num_groups) + ")");
    }
    if (s_.op == DSB_OP_GEMM_FP8_GROUPED_MASKED) {
      const int32_t* mm = t.at("masked_m").as<int32_t>();
      for (int32_t g = 0; g < s_.num_groups; ++g)
        if (mm[g] < 0 || mm[g] > s_.m)
          DSB_THROW("masked_m[" + std::to_string(g) + "]: " + std::to_string(mm[g]) + " is outside [0, m_max = " +
                    std::to_string(s_.m) + "]");
    }
  }

  std::vector<uint8_t> params(const std::map<std::string, void*>& p) const override {
    auto ptr = [&](const char* name) { return tensor_ptr(p, name); };
    switch (s_.op) {
      case DSB_OP_GEMM_FP8_BLOCKSCALED: {
        dsb_gemm_fp8_blockscaled_params q{s_.m, s_.n, s_.k, s_.ab_dtype, s_.scale_dtype,
                                          ptr("a"), ptr("scale_a"), ptr("b"), ptr("scale_b"), ptr("d")};
        return params_bytes(q);
      }
      case DSB_OP_GEMM_FP8_GROUPED_CONTIGUOUS: {
        dsb_gemm_fp8_grouped_contiguous_params q{s_.m, s_.n, s_.k, s_.num_groups, s_.ab_dtype, s_.scale_dtype,
                                                 ptr("a"), ptr("scale_a"), ptr("b"), ptr("scale_b"),
                                                 static_cast<const int32_t*>(ptr("m_indices")), ptr("d")};
        return params_bytes(q);
      }
      default: {
        dsb_gemm_fp8_grouped_masked_params q{s_.num_groups, s_.m, s_.n, s_.k, s_.expected_m, s_.ab_dtype,
                                             s_.scale_dtype, ptr("a"), ptr("scale_a"), ptr("b"), ptr("scale_b"),
                                             static_cast<const int32_t*>(ptr("masked_m")), ptr("d")};
        return params_bytes(q);
      }
    }
  }

  std::vector<OutputCheck> reference(const TensorMap& t, const VerifyPolicy& policy, uint64_t sample_seed) const override {
    std::map<std::string, void*> host;
    for (const auto& [name, tensor] : t) host[name] = const_cast<uint8_t*>(tensor.data.data());
    const std::vector<uint8_t> pbytes = params(host);
    std::vector<ref::GemmRowView> views(static_cast<size_t>(rows_));
    std::vector<int64_t> valid;
    std::vector<int64_t> group_first;  // first valid row of each group, to sample every group
    int64_t last_group = -1;
    for (int64_t r = 0; r < rows_; ++r) {
      views[r] = row_view(pbytes.data(), r);
      if (!views[r].valid) continue;
      valid.push_back(r);
      const int64_t g = group_of(t, r);
      if (g != last_group) group_first.push_back(r);
      last_group = g;
    }
    OutputCheck c;
    c.output = "d";
    c.total = static_cast<int64_t>(valid.size()) * s_.n;
    std::vector<std::pair<int64_t, int64_t>> cells;  // (row, col)
    const double macs = static_cast<double>(valid.size()) * s_.n * s_.k;
    if (policy.force_full || macs <= policy.full_max_macs || s_.accumulation_probe) {
      c.rule = s_.accumulation_probe ? "full: every element (accumulation probe)" : "full: every valid element";
      for (int64_t r : valid) for (int64_t col = 0; col < s_.n; ++col) cells.push_back({r, col});
    } else {
      c.sampled = true;
      const CounterRng rng(sample_seed, hash_name("gemm-sample"));
      std::set<int64_t> rows(group_first.begin(), group_first.end()), cols{0, s_.n - 1};
      rows.insert(valid.back());
      for (int64_t i = 0; i < policy.sample_rows; ++i) rows.insert(valid[rng.integer(2 * i, 0, valid.size() - 1)]);
      for (int64_t i = 0; i < policy.sample_cols; ++i) cols.insert(rng.integer(2 * i + 1, 0, s_.n - 1));
      for (int64_t r : rows) for (int64_t col = 0; col < s_.n; ++col) cells.push_back({r, col});
      for (int64_t r : valid)
        if (!rows.count(r)) for (int64_t col : cols) cells.push_back({r, col});
      c.rule = "sampled: rows {first, last, first of each group, " + std::to_string(policy.sample_rows) +
               " random} x all columns, plus all valid rows x columns {0, n-1, " + std::to_string(policy.sample_cols) +
               " random}";
    }
    c.index.resize(cells.size());
    c.expected.resize(cells.size());
    const int64_t n_cells = static_cast<int64_t>(cells.size());
#pragma omp parallel for schedule(dynamic, 256)
    for (int64_t i = 0; i < n_cells; ++i) {
      const auto [r, col] = cells[i];
      const double v = ref::gemm_fp8_element(views[r], col, s_.n, s_.k, s_.ab_dtype, s_.scale_dtype);
      c.index[i] = r * s_.n + col;
      c.expected[i] = bf16_to_f32(bf16_from_f64(v));  // the oracle rounds once to BF16
    }
    std::vector<OutputCheck> checks{c};
    restore_checks(checks);
    return checks;
  }

  // The probe's closure wraps only the index/expected lists, so cached checks get it back.
  bool custom_checks_restorable() const override { return true; }
  void restore_checks(std::vector<OutputCheck>& checks) const override {
    if (!s_.accumulation_probe) return;
    for (OutputCheck& c : checks) {
      if (c.output != "d") continue;
      OutputCheck plain = c;
      plain.custom = nullptr;  // the closure compares the lists themselves, never itself
      // The usual comparison, plus what the surviving rows say about the kernel's accumulator.
      c.custom = [plain = std::move(plain), m = s_.m, n = s_.n](const HostTensor& actual, const Tolerance& tol) {
        OutputAccuracy acc = compare_output(plain, tol, actual);
        std::vector<double> got(plain.index.size());
        for (size_t i = 0; i < got.size(); ++i) got[i] = element_as_double(actual.data.data(), DSB_DTYPE_BF16, plain.index[i]);
        acc.findings = accumulation_probe_findings(m, n, plain.expected.data(), got.data());
        return acc;
      };
    }
  }

  double reference_macs() const override { return static_cast<double>(valid_rows_) * s_.n * s_.k; }
  double flops() const override { return 2.0 * reference_macs(); }
  double bytes() const override {
    const double sb = static_cast<double>(dsb_dtype_size(s_.scale_dtype));
    const double a = static_cast<double>(valid_rows_) * (s_.k + kb_ * sb);
    const double b = static_cast<double>(s_.num_groups) * (s_.n * s_.k + nb_ * kb_ * sb);
    const double d = 2.0 * valid_rows_ * s_.n;
    const double idx = s_.op == DSB_OP_GEMM_FP8_GROUPED_CONTIGUOUS ? 4.0 * s_.m
                     : s_.op == DSB_OP_GEMM_FP8_GROUPED_MASKED ? 4.0 * s_.num_groups : 0.0;
    return a + b + d + idx;
  }

 private:
  ref::GemmRowView row_view(const uint8_t* pbytes, int64_t r) const {
    switch (s_.op) {
      case DSB_OP_GEMM_FP8_BLOCKSCALED:
        return ref::gemm_row_view(*reinterpret_cast<const dsb_gemm_fp8_blockscaled_params*>(pbytes), r);
      case DSB_OP_GEMM_FP8_GROUPED_CONTIGUOUS:
        return ref::gemm_row_view(*reinterpret_cast<const dsb_gemm_fp8_grouped_contiguous_params*>(pbytes), r);
      default:
        return ref::gemm_row_view(*reinterpret_cast<const dsb_gemm_fp8_grouped_masked_params*>(pbytes), r);
    }
  }
  int64_t group_of(const TensorMap& t, int64_t r) const {
    if (s_.op == DSB_OP_GEMM_FP8_GROUPED_CONTIGUOUS) return t.at("m_indices").as<int32_t>()[r];
    if (s_.op == DSB_OP_GEMM_FP8_GROUPED_MASKED) return r / s_.m;
    return 0;
  }

  GemmFp8Shape s_;
  int64_t kb_, nb_, rows_ = 0, valid_rows_ = 0;
  std::vector<TensorSpec> in_, out_;
};

}  // namespace

std::unique_ptr<Problem> make_gemm_fp8_problem(const GemmFp8Shape& shape) {
  return std::make_unique<GemmFp8Problem>(shape);
}

}  // namespace dsbench
