// The HIP backend without an AMD GPU (this machine, CI) and with one: discovery degrades to zero
// devices with the runtime's reason and every HIP case is not_supported; the FP8 family comes from
// gcnArchName and the kernels refuse the other family; on a device, memory, events and OOM behave
// (label gpu: skipped without a device).
#include <gtest/gtest.h>

#include <set>

#include "tests/common/question_device.hpp"
#include "dsbench/kernel.hpp"
#include "harness/runner.hpp"
#include "harness/suite.hpp"
#include "kernels/hip/hip_backend.hpp"

namespace dsbench {
namespace {

TEST(HipBackend, ReportsWhyItHasNoDeviceInsteadOfFailing) {
  auto b = hip::make_hip_backend();
  EXPECT_EQ(b->name(), "hip");
  if (b->device_count() > 0) GTEST_SKIP() << "a HIP device is present";
  EXPECT_NE(b->unavailable_reason().find("hipGetDeviceCount"), std::string::npos) << b->unavailable_reason();
  EXPECT_EQ(b->device(0), nullptr);
  EXPECT_EQ(b->device(-1), nullptr);
  const Properties info = b->build_info();
  ASSERT_TRUE(info.count("hip_runtime"));
  EXPECT_NE(std::get<std::string>(info.at("hip_architectures")).find("gfx"), std::string::npos);
  EXPECT_TRUE(info.count("hipblaslt"));
  EXPECT_TRUE(info.count("rccl"));
}

TEST(HipBackend, ListsItsKernelsUnderTheHipPrefix) {
  auto b = hip::make_hip_backend();
  std::set<std::string> ids;
  for (const Kernel* k : b->kernels()) ids.insert(k->id());
  const std::set<std::string> expected = {
      "hip.gemm_fp8_blockscaled.naive", "hip.gemm_fp8_grouped_contiguous.naive", "hip.gemm_fp8_grouped_masked.naive",
      "hip.gemm_fp8_blockscaled.hipblaslt", "hip.all_to_all.library", "hip.moe_route.warp", "hip.mla_decode.naive", "hip.moe_dispatch.permute", "hip.moe_combine.gather",
      "hip.moe_layer.chained_naive"};
  EXPECT_EQ(ids, expected);
}

TEST(HipBackend, MakesEverySmokeCaseNotSupportedWithoutADevice) {
  auto b = hip::make_hip_backend();
  if (b->device_count() > 0) GTEST_SKIP() << "a HIP device is present";
  const Suite smoke = load_suite("smoke");
  RunOptions opts;
  const auto rows = run_suite(smoke, *b, opts, nullptr);
  ASSERT_FALSE(rows.empty());
  int with_kernels = 0;
  for (const ResultRow& r : rows) {
    EXPECT_EQ(r.disposition, "not_supported") << r.case_id << " " << r.kernel;
    EXPECT_EQ(r.backend, "hip");
    const bool has_kernels = r.op.rfind("gemm_fp8_", 0) == 0 || r.op == "moe_route" || r.op == "mla_decode" ||
                             r.op == "moe_dispatch" || r.op == "moe_combine" || r.op == "moe_layer";
    with_kernels += has_kernels;
    if (has_kernels) {
      EXPECT_EQ(r.kernel.rfind("hip.", 0), 0u) << r.kernel;
    }
    EXPECT_NE(r.reason.find(has_kernels ? "no hip device 0: hipGetDeviceCount" : "has no kernel for op"), std::string::npos)
        << r.case_id << ": " << r.reason;
  }
  EXPECT_GT(with_kernels, 0);
}

TEST(HipFp8, Gfx94xComputesInFnuzAndEverythingElseInOcp) {
  for (const char* arch : {"gfx940", "gfx941", "gfx942", "gfx942:sramecc+:xnack-", "gfx940:xnack+"})
    EXPECT_EQ(hip::fp8_e4m3_for_arch(arch), DSB_DTYPE_E4M3FNUZ) << arch;
  for (const char* arch : {"gfx950", "gfx950:sramecc+:xnack-", "gfx90a", "gfx90a:sramecc+:xnack-", "gfx908", "gfx1100",
                           "gfx1201", "gfx9400", "", "gfx94"})
    EXPECT_EQ(hip::fp8_e4m3_for_arch(arch), DSB_DTYPE_E4M3FN) << arch;
}

// A device that exists only to be asked questions, computing in the given E4M3 variant.
class FakeDevice final : public QuestionDevice {
 public:
  FakeDevice(std::string backend, dsb_dtype e4m3) : QuestionDevice(std::move(backend), "fake"), e4m3_(e4m3) {}
  dsb_dtype fp8_e4m3() const override { return e4m3_; }

 private:
  dsb_dtype e4m3_;
};

// supports() of a GEMM kernel for operands of type ab (the struct of the kernel's op, zero otherwise).
Support gemm_support(const Kernel& k, dsb_dtype ab, const Device& d) {
  dsb_gemm_fp8_blockscaled_params dense{};
  dsb_gemm_fp8_grouped_contiguous_params contiguous{};
  dsb_gemm_fp8_grouped_masked_params masked{};
  dense.ab_dtype = contiguous.ab_dtype = masked.ab_dtype = ab;
  switch (k.op()) {
    case DSB_OP_GEMM_FP8_BLOCKSCALED: return k.supports(&dense, d);
    case DSB_OP_GEMM_FP8_GROUPED_CONTIGUOUS: return k.supports(&contiguous, d);
    default: return k.supports(&masked, d);
  }
}

TEST(HipKernels, RefuseTheFp8FamilyTheDeviceDoesNotComputeIn) {
  auto b = hip::make_hip_backend();
  const FakeDevice mi300("hip", DSB_DTYPE_E4M3FNUZ), mi355("hip", DSB_DTYPE_E4M3FN), cpu("cpu", DSB_DTYPE_E4M3FN);
  int naive = 0;
  for (const Kernel* k : b->kernels()) {
    if (k->id().find(".naive") == std::string::npos || k->op() == DSB_OP_MLA_DECODE) continue;  // the FP8 GEMMs
    ++naive;
    EXPECT_TRUE(gemm_support(*k, DSB_DTYPE_E4M3FNUZ, mi300).ok) << k->id();
    EXPECT_TRUE(gemm_support(*k, DSB_DTYPE_E5M2FNUZ, mi300).ok) << k->id();
    const Support ocp_on_fnuz = gemm_support(*k, DSB_DTYPE_E4M3FN, mi300);
    EXPECT_FALSE(ocp_on_fnuz.ok) << k->id();
    EXPECT_NE(ocp_on_fnuz.reason.find("e4m3fn operands: this hip device computes in FNUZ FP8"), std::string::npos)
        << ocp_on_fnuz.reason;
    EXPECT_FALSE(gemm_support(*k, DSB_DTYPE_E5M2, mi300).ok) << k->id();

    EXPECT_TRUE(gemm_support(*k, DSB_DTYPE_E4M3FN, mi355).ok) << k->id();
    EXPECT_TRUE(gemm_support(*k, DSB_DTYPE_E5M2, mi355).ok) << k->id();
    const Support fnuz_on_ocp = gemm_support(*k, DSB_DTYPE_E4M3FNUZ, mi355);
    EXPECT_FALSE(fnuz_on_ocp.ok);
    EXPECT_NE(fnuz_on_ocp.reason.find("computes in OCP FP8"), std::string::npos) << fnuz_on_ocp.reason;

    const Support elsewhere = gemm_support(*k, DSB_DTYPE_E4M3FN, cpu);
    EXPECT_FALSE(elsewhere.ok);
    EXPECT_EQ(elsewhere.reason, "needs a hip device");
  }
  EXPECT_EQ(naive, 3);
}

TEST(HipKernels, SayWhyTheVendorLibraryGemmDoesNotRun) {
  auto b = hip::make_hip_backend();
  const FakeDevice mi300("hip", DSB_DTYPE_E4M3FNUZ);
  const Kernel* lt = nullptr;
  for (const Kernel* k : b->kernels())
    if (k->id() == "hip.gemm_fp8_blockscaled.hipblaslt") lt = k;
  ASSERT_NE(lt, nullptr);
  const Support s = gemm_support(*lt, DSB_DTYPE_E4M3FNUZ, mi300);
  EXPECT_FALSE(s.ok);
  EXPECT_NE(s.reason.find("hipBLASLt"), std::string::npos) << s.reason;
}

TEST(HipKernels, MoeRouteRefusesWhatOneLogicalWarpCannotHold) {
  auto b = hip::make_hip_backend();
  const FakeDevice mi300("hip", DSB_DTYPE_E4M3FNUZ);
  const Kernel* route = nullptr;
  for (const Kernel* k : b->kernels())
    if (k->id() == "hip.moe_route.warp") route = k;
  ASSERT_NE(route, nullptr);
  dsb_moe_route_params p{};
  p.num_tokens = 128;
  p.num_experts = 256;
  p.num_groups = 8;
  p.topk_groups = 4;
  p.topk = 8;
  p.scoring = DSB_MOE_SCORING_SIGMOID;
  EXPECT_TRUE(route->supports(&p, mi300).ok) << route->supports(&p, mi300).reason;
  p.num_groups = 4;  // 64 experts per group: more than the 32 lanes of the logical warp, also on wave64
  const Support wide = route->supports(&p, mi300);
  EXPECT_FALSE(wide.ok);
  EXPECT_NE(wide.reason.find("64 experts per group"), std::string::npos) << wide.reason;
}

TEST(HipDevice, AllocatesCopiesTimesAndRefusesImpossibleAllocations) {
  auto b = hip::make_hip_backend();
  if (b->device_count() == 0) GTEST_SKIP() << "no HIP device: " << b->unavailable_reason();
  Device& d = *b->device(0);
  const Properties p = d.properties();
  const std::string arch = std::get<std::string>(p.at("gcn_arch_name"));
  EXPECT_EQ(d.fp8_e4m3(), hip::fp8_e4m3_for_arch(arch));
  EXPECT_EQ(std::get<double>(p.at("fp8_e4m3_max")), d.fp8_e4m3() == DSB_DTYPE_E4M3FNUZ ? 240.0 : 448.0);
  const int64_t wave = std::get<int64_t>(p.at("wave_size"));
  EXPECT_TRUE(wave == 32 || wave == 64) << wave;
  EXPECT_GT(std::get<int64_t>(p.at("compute_unit_count")), 0);
  std::unique_ptr<Buffer> buf;
  ASSERT_TRUE(d.allocate(4096, &buf).ok());
  std::vector<uint8_t> in(4096), out(4096, 0);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<uint8_t>(i * 7 + 1);
  ASSERT_TRUE(d.copy_to_device(buf->data(), in.data(), in.size()).ok());
  ASSERT_TRUE(d.copy_to_host(out.data(), buf->data(), out.size()).ok());
  EXPECT_EQ(in, out);
  ASSERT_TRUE(d.fill_bytes(buf->data(), 0xab, 4096).ok());
  ASSERT_TRUE(d.copy_to_host(out.data(), buf->data(), out.size()).ok());
  EXPECT_EQ(out[4095], 0xab);
  std::unique_ptr<Stream> s;
  std::unique_ptr<Event> e0, e1;
  ASSERT_TRUE(d.create_stream(&s).ok());
  ASSERT_TRUE(d.create_event(&e0).ok());
  ASSERT_TRUE(d.create_event(&e1).ok());
  ASSERT_TRUE(e0->record(*s).ok());
  ASSERT_TRUE(d.flush_cache(*s).ok());
  ASSERT_TRUE(e1->record(*s).ok());
  ASSERT_TRUE(e1->synchronize().ok());
  double ms = -1;
  ASSERT_TRUE(e1->elapsed_ms(*e0, &ms).ok());
  EXPECT_GT(ms, 0.0);
  std::unique_ptr<Buffer> huge;
  const Status oom = d.allocate(size_t{1} << 50, &huge);  // 1 PiB
  EXPECT_EQ(oom.code, DSB_STATUS_OUT_OF_MEMORY) << oom.message;
  EXPECT_TRUE(d.allocate(4096, &buf).ok()) << "the failed allocation must not poison the context";
}

}  // namespace
}  // namespace dsbench
