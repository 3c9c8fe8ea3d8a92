// The CUDA backend without a GPU (this machine, CI) and with one (a lent H100/H200): discovery
// degrades to zero devices with a reason and every CUDA case is not_supported; on a device, memory,
// events, OOM and the naive kernels behave.
#include <gtest/gtest.h>

#include "harness/backend_registry.hpp"
#include "harness/runner.hpp"
#include "harness/suite.hpp"
#include "kernels/cuda/cuda_backend.hpp"

namespace dsbench {
namespace {

TEST(CudaBackend, ReportsWhyItHasNoDeviceInsteadOfFailing) {
  auto b = cuda::make_cuda_backend();
  EXPECT_EQ(b->name(), "cuda");
  if (b->device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  EXPECT_NE(b->unavailable_reason().find("cudaGetDeviceCount"), std::string::npos) << b->unavailable_reason();
  EXPECT_EQ(b->device(0), nullptr);
  const Properties info = b->build_info();
  EXPECT_TRUE(info.count("cuda_runtime"));
  EXPECT_GT(std::get<int64_t>(info.at("cublaslt")), 0);
}

TEST(CudaBackend, MakesEverySmokeCaseNotSupportedWithoutADevice) {
  auto b = cuda::make_cuda_backend();
  if (b->device_count() > 0) GTEST_SKIP() << "a CUDA device is present";
  const Suite smoke = load_suite("smoke");
  RunOptions opts;
  const auto rows = run_suite(smoke, *b, opts, nullptr);
  ASSERT_FALSE(rows.empty());
  int gemm_rows = 0;
  for (const ResultRow& r : rows) {
    EXPECT_EQ(r.disposition, "not_supported") << r.case_id;
    // Ops with CUDA kernels say there is no device; ops without say so instead.
    const bool has_kernels = r.op.rfind("gemm_fp8_", 0) == 0 || r.op == "moe_route" || r.op == "mla_decode" ||
                             r.op == "moe_dispatch" || r.op == "moe_combine" || r.op == "moe_layer";
    gemm_rows += has_kernels;
    EXPECT_NE(r.reason.find(has_kernels ? "no cuda device 0: cudaGetDeviceCount" : "has no kernel for op"), std::string::npos)
        << r.case_id << ": " << r.reason;
  }
  EXPECT_GT(gemm_rows, 0);
}

TEST(CudaDevice, AllocatesCopiesTimesAndRefusesImpossibleAllocations) {
  auto b = cuda::make_cuda_backend();
  if (b->device_count() == 0) GTEST_SKIP() << "no CUDA device: " << b->unavailable_reason();
  Device& d = *b->device(0);
  const Properties p = d.properties();
  EXPECT_GT(std::get<int64_t>(p.at("sm_count")), 0);
  EXPECT_GT(std::get<int64_t>(p.at("l2_cache_bytes")), 0);
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
