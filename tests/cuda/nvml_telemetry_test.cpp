// NVML telemetry without a driver: the clock-event reason bits decode to names and to "throttled"
// only for the reasons that hold clocks down; without libnvidia-ml the reading is refused, cleanly.
#include <gtest/gtest.h>

#include "kernels/cuda/cuda_backend.hpp"
#include "kernels/cuda/nvml_telemetry.hpp"

namespace dsbench {
namespace {

TEST(NvmlTelemetry, NamesReasonBitsAndFlagsOnlyThoseThatHoldClocksDown) {
  bool throttled = true;
  EXPECT_EQ(cuda::nvml_throttle_reason_names(0x1 | 0x2, &throttled),
            (std::vector<std::string>{"gpu_idle", "applications_clocks_setting"}));
  EXPECT_FALSE(throttled) << "idle and application clocks are not throttling";
  EXPECT_EQ(cuda::nvml_throttle_reason_names(0x4 | 0x40, &throttled),
            (std::vector<std::string>{"sw_power_cap", "hw_thermal_slowdown"}));
  EXPECT_TRUE(throttled);
  EXPECT_TRUE(cuda::nvml_throttle_reason_names(0, &throttled).empty());
  EXPECT_FALSE(throttled);
}

TEST(NvmlTelemetry, IsRefusedWithTheReasonWhereNvmlCannotBeLoaded) {
  Telemetry t;
  const Status st = cuda::read_nvml_telemetry("00000000:01:00.0", &t);
  if (st.ok()) GTEST_SKIP() << "NVML is present here (a GPU machine)";
  EXPECT_EQ(st.code, DSB_STATUS_NOT_SUPPORTED);
  EXPECT_NE(st.message.find("NVML"), std::string::npos) << st.message;
}

}  // namespace
}  // namespace dsbench
