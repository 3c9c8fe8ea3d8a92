// "ab_dtype": "native" computes in the FP8 variant the device declares: the runner resolves it per
// device (params_for_device), the FP64 reference computes in that variant, and the row records it.
// An AMD MI300 is played by the CPU device declaring E4M3FNUZ (the CPU kernels compute any variant).
#include <gtest/gtest.h>

#include "harness/runner.hpp"
#include "harness/suite.hpp"
#include "kernels/cpu/cpu_backend.hpp"

namespace dsbench {
namespace {

// The CPU device, declaring another E4M3 variant.
class DeclaringDevice final : public Device {
 public:
  DeclaringDevice(Device& inner, dsb_dtype e4m3) : inner_(inner), e4m3_(e4m3) {}
  std::string name() const override { return inner_.name(); }
  std::string backend() const override { return inner_.backend(); }
  int index() const override { return inner_.index(); }
  Properties properties() const override { return inner_.properties(); }
  dsb_dtype fp8_e4m3() const override { return e4m3_; }
  bool host_accessible() const override { return inner_.host_accessible(); }
  Status allocate(size_t n, std::unique_ptr<Buffer>* out) override { return inner_.allocate(n, out); }
  Status copy_to_device(void* d, const void* s, size_t n) override { return inner_.copy_to_device(d, s, n); }
  Status copy_to_host(void* d, const void* s, size_t n) override { return inner_.copy_to_host(d, s, n); }
  Status fill_bytes(void* d, uint8_t v, size_t n) override { return inner_.fill_bytes(d, v, n); }
  Status create_stream(std::unique_ptr<Stream>* out) override { return inner_.create_stream(out); }
  Status create_event(std::unique_ptr<Event>* out) override { return inner_.create_event(out); }
  Status flush_cache(Stream& s) override { return inner_.flush_cache(s); }
  Status synchronize() override { return inner_.synchronize(); }

 private:
  Device& inner_;
  dsb_dtype e4m3_;
};

TEST(NativeDtype, ResolvesEveryNativeDtypeToTheDevicesE4m3AndNothingElse) {
  auto cpu = cpu::make_cpu_backend();
  DeclaringDevice mi300(*cpu->device(0), DSB_DTYPE_E4M3FNUZ);
  const nlohmann::json in = {{"m", 8}, {"ab_dtype", "native"}, {"kv_dtype", "native"}, {"scale_dtype", "ue8m0"},
                             {"note", "native"}};
  const nlohmann::json out = params_for_device(in, mi300);
  EXPECT_EQ(out["ab_dtype"], "e4m3fnuz");
  EXPECT_EQ(out["kv_dtype"], "e4m3fnuz");
  EXPECT_EQ(out["scale_dtype"], "ue8m0");
  EXPECT_EQ(out["note"], "native") << "only *_dtype keys are dtypes";
  EXPECT_EQ(out["m"], 8);
  EXPECT_EQ(params_for_device(in, *cpu->device(0))["ab_dtype"], "e4m3fn");
}

TEST(NativeDtype, TheReferenceComputesInTheDeclaredVariantAndTheRowRecordsIt) {
  auto cpu = cpu::make_cpu_backend();
  CaseSpec c;
  c.id = "gemm_fp8_blockscaled/m16_n128_k256_native";
  c.op = "gemm_fp8_blockscaled";
  c.params = {{"m", 16}, {"n", 128}, {"k", 256}, {"ab_dtype", "native"}};
  RunOptions opts;
  opts.verify_only = true;
  for (const dsb_dtype declared : {DSB_DTYPE_E4M3FN, DSB_DTYPE_E4M3FNUZ}) {
    DeclaringDevice device(*cpu->device(0), declared);
    std::vector<const Kernel*> kernels;
    for (const Kernel* k : cpu->kernels())
      if (k->op() == DSB_OP_GEMM_FP8_BLOCKSCALED) kernels.push_back(k);
    ASSERT_EQ(kernels.size(), 2u);
    const auto rows = run_case_kernels("test", c, 7, device, kernels, opts);
    ASSERT_EQ(rows.size(), 2u);
    for (const ResultRow& r : rows) {
      EXPECT_EQ(r.disposition, "passed") << r.kernel << ": " << r.reason;
      EXPECT_EQ(r.params["ab_dtype"], dsb_dtype_name(declared)) << r.kernel;
    }
  }
}

}  // namespace
}  // namespace dsbench
