// Drivers for the three FP8 block-scaled GEMM ops: parse and validate a case's params into a
// GemmFp8Shape. The problem itself (tensors, generation, checks, cost) is gemm_fp8_problem.cpp.
#include <memory>

#include "harness/error.hpp"
#include "harness/op_registry.hpp"
#include "harness/ops/gemm_fp8_problem.hpp"
#include "harness/param_reader.hpp"

namespace dsbench {
namespace {

constexpr int64_t kMaxDim = int64_t{1} << 24;  // far beyond any model shape; catches unit mistakes

void read_common(ParamReader& r, GemmFp8Shape& s) {
  s.n = r.integer("n", 1, kMaxDim);
  s.k = r.integer("k", 1, kMaxDim);
  if (s.k % DSB_FP8_BLOCK != 0)
    DSB_THROW("params.k: " + std::to_string(s.k) + " is not a multiple of " + std::to_string(DSB_FP8_BLOCK));
  s.ab_dtype = r.dtype_or("ab_dtype", DSB_DTYPE_E4M3FN);
  if (!dsb_dtype_is_fp8(s.ab_dtype))
    DSB_THROW(std::string("params.ab_dtype: ") + dsb_dtype_name(s.ab_dtype) + " is not an FP8 type");
  s.scale_dtype = r.dtype_or("scale_dtype", DSB_DTYPE_F32);
  if (s.scale_dtype != DSB_DTYPE_F32 && s.scale_dtype != DSB_DTYPE_UE8M0)
    DSB_THROW(std::string("params.scale_dtype: ") + dsb_dtype_name(s.scale_dtype) + " is not f32 or ue8m0");
}

const std::map<std::string, Tolerance> kGemmTolerance = {
    // rel: the kernel may round to the neighbouring BF16 value (2^-7 apart at worst). abs_rms: the
    // accumulation error of near-cancelled elements, in units of the output RMS; 5e-4 accepts FP32
    // accumulation and tensor-core partial sums promoted to FP32 every 128 K (max error ~2e-4 RMS in
    // docs/examples/accumulation_model.py) while never-promoted ~14-bit accumulation fails 10-75% of
    // elements. cos_diff (~half the squared relative error) catches misapplied scales (~0.5) and
    // narrow accumulation at long K. docs/accuracy.md derives each.
    {"d", Tolerance{0.0, 5e-4, 2.01 / 256, 1e-5}},
};
const char* kCommonHelp = "n, k (k % 128 == 0), ab_dtype (e4m3fn|e5m2|e4m3fnuz|e5m2fnuz|native: the device's E4M3, default e4m3fn), "
                          "scale_dtype (f32|ue8m0, default f32)";

// The three variants share everything but how rows are described: each states only that.
template <dsb_op Op>
class GemmDriver : public OpDriver {
 public:
  dsb_op op() const final { return Op; }
  std::map<std::string, Tolerance> default_tolerances() const final { return kGemmTolerance; }
  std::unique_ptr<Problem> make(const nlohmann::json& params) const final {
    ParamReader r(params);
    GemmFp8Shape s;
    s.op = Op;
    read_rows(r, params, s);
    read_common(r, s);
    r.finish();
    finish_rows(s);
    return make_gemm_fp8_problem(s);
  }

 protected:
  virtual void read_rows(ParamReader& r, const nlohmann::json& params, GemmFp8Shape& s) const = 0;
  virtual void finish_rows(GemmFp8Shape&) const {}
};

class DenseDriver final : public GemmDriver<DSB_OP_GEMM_FP8_BLOCKSCALED> {
 public:
  std::string params_help() const override {
    return std::string("m, ") + kCommonHelp +
           ", inputs (random|accumulation_probe: rows that detect narrow FP8 accumulation; k >= 512, m*n <= 2^20)";
  }

 protected:
  void read_rows(ParamReader& r, const nlohmann::json&, GemmFp8Shape& s) const override {
    s.m = r.integer("m", 1, kMaxDim);
    const nlohmann::json inputs = r.raw("inputs");
    if (inputs.is_null() || inputs == "random") return;
    if (inputs != "accumulation_probe")
      DSB_THROW("params.inputs: " + inputs.dump() + " is not \"random\" or \"accumulation_probe\"");
    s.accumulation_probe = true;
  }
  void finish_rows(GemmFp8Shape& s) const override {
    if (!s.accumulation_probe) return;
    if (s.k < 4 * DSB_FP8_BLOCK)
      DSB_THROW("params.k: the accumulation probe needs at least 4 K-blocks (k >= 512), got " + std::to_string(s.k));
    if (s.m * s.n > (int64_t{1} << 20))
      DSB_THROW("params.m: the accumulation probe is checked in full; m * n = " + std::to_string(s.m * s.n) +
                " exceeds 2^20");
  }
};

class ContiguousDriver final : public GemmDriver<DSB_OP_GEMM_FP8_GROUPED_CONTIGUOUS> {
 public:
  std::string params_help() const override {
    return std::string("num_groups, m_per_group (int or list; rows padded to alignment, default 128, with "
                       "m_indices = -1), ") + kCommonHelp;
  }

 protected:
  void read_rows(ParamReader& r, const nlohmann::json&, GemmFp8Shape& s) const override {
    s.num_groups = static_cast<int32_t>(r.integer("num_groups", 1, 4096));
    s.group_rows = r.per_group("m_per_group", s.num_groups, 0, kMaxDim);
    s.alignment = r.integer_or("alignment", DSB_FP8_BLOCK, 1, 4096);
  }
  void finish_rows(GemmFp8Shape& s) const override {
    s.m = 0;
    for (int64_t rows : s.group_rows) s.m += (rows + s.alignment - 1) / s.alignment * s.alignment;
    if (s.m == 0) DSB_THROW("params.m_per_group: every group is empty");
  }
};

class MaskedDriver final : public GemmDriver<DSB_OP_GEMM_FP8_GROUPED_MASKED> {
 public:
  std::string params_help() const override {
    return std::string("num_groups, m_max, masked_m (int or list, <= m_max), expected_m (hint), ") + kCommonHelp;
  }

 protected:
  void read_rows(ParamReader& r, const nlohmann::json& params, GemmFp8Shape& s) const override {
    s.num_groups = static_cast<int32_t>(r.integer("num_groups", 1, 4096));
    s.m = r.integer("m_max", 1, kMaxDim);
    const nlohmann::json& mm = params.contains("masked_m") ? params.at("masked_m") : nlohmann::json();
    s.group_rows = r.per_group("masked_m", s.num_groups, 0, kMaxDim);
    for (size_t g = 0; g < s.group_rows.size(); ++g)
      if (s.group_rows[g] > s.m)
        DSB_THROW("params.masked_m" + (mm.is_array() ? "[" + std::to_string(g) + "]" : std::string()) + ": " +
                  std::to_string(s.group_rows[g]) + " exceeds m_max " + std::to_string(s.m));
    int64_t sum = 0;
    for (int64_t v : s.group_rows) sum += v;
    s.expected_m = r.integer_or("expected_m", (sum + s.num_groups - 1) / s.num_groups, 0, s.m);
  }
};

}  // namespace

std::unique_ptr<OpDriver> make_gemm_fp8_blockscaled_driver() { return std::make_unique<DenseDriver>(); }
std::unique_ptr<OpDriver> make_gemm_fp8_grouped_contiguous_driver() { return std::make_unique<ContiguousDriver>(); }
std::unique_ptr<OpDriver> make_gemm_fp8_grouped_masked_driver() { return std::make_unique<MaskedDriver>(); }

}  // namespace dsbench
