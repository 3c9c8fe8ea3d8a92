// The numerics probe of the two FP8 families a GPU may compute in (docs/numerics.md): OCP E4M3FN /
// E5M2 (NVIDIA, gfx950) against AMD's E4M3FNUZ / E5M2FNUZ (gfx94x, MI300). The same bits mean half
// as much in FNUZ, E4M3 tops out at 240 instead of 448, and FNUZ has one NaN code (0x80, which is -0
// in OCP). A backend declaring the wrong family fails exactly these facts.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "dsbench/numerics/fp8.hpp"

namespace dsbench {
namespace {

float largest_finite(dsb_dtype t) {
  float m = 0.0f;
  for (int c = 0; c < 256; ++c) {
    const float v = fp8_decode(static_cast<uint8_t>(c), t);
    if (std::isfinite(v)) m = std::max(m, v);
  }
  return m;
}

std::vector<int> nan_codes(dsb_dtype t) {
  std::vector<int> v;
  for (int c = 0; c < 256; ++c)
    if (std::isnan(fp8_decode(static_cast<uint8_t>(c), t))) v.push_back(c);
  return v;
}

TEST(Fp8VariantProbe, E4m3TopsOutAt240InFnuzAnd448InOcp) {
  EXPECT_EQ(largest_finite(DSB_DTYPE_E4M3FNUZ), 240.0f);
  EXPECT_EQ(largest_finite(DSB_DTYPE_E4M3FN), 448.0f);
  EXPECT_EQ(largest_finite(DSB_DTYPE_E5M2FNUZ), 57344.0f);
  EXPECT_EQ(largest_finite(DSB_DTYPE_E5M2), 57344.0f);
  // 448 (and 300) saturate to FNUZ's 240; OCP keeps 448.
  EXPECT_EQ(fp8_encode(448.0f, DSB_DTYPE_E4M3FNUZ), 0x7f);
  EXPECT_EQ(fp8_decode(fp8_encode(300.0f, DSB_DTYPE_E4M3FNUZ), DSB_DTYPE_E4M3FNUZ), 240.0f);
  EXPECT_EQ(fp8_decode(fp8_encode(448.0f, DSB_DTYPE_E4M3FN), DSB_DTYPE_E4M3FN), 448.0f);
}

TEST(Fp8VariantProbe, FnuzHasTheSingleNanCode0x80WhichIsNegativeZeroInOcp) {
  EXPECT_EQ(nan_codes(DSB_DTYPE_E4M3FNUZ), std::vector<int>{0x80});
  EXPECT_EQ(nan_codes(DSB_DTYPE_E5M2FNUZ), std::vector<int>{0x80});
  EXPECT_EQ(nan_codes(DSB_DTYPE_E4M3FN), (std::vector<int>{0x7f, 0xff}));
  EXPECT_EQ(nan_codes(DSB_DTYPE_E5M2), (std::vector<int>{0x7d, 0x7e, 0x7f, 0xfd, 0xfe, 0xff}));
  const float ocp = fp8_decode(0x80, DSB_DTYPE_E4M3FN);
  EXPECT_EQ(ocp, 0.0f);
  EXPECT_TRUE(std::signbit(ocp));
  EXPECT_EQ(fp8_encode(-0.0f, DSB_DTYPE_E4M3FNUZ), 0x00) << "FNUZ has no negative zero";
  EXPECT_EQ(fp8_encode(NAN, DSB_DTYPE_E4M3FNUZ), 0x80);
}

TEST(Fp8VariantProbe, TheSameBitsMeanHalfAsMuchInFnuz) {
  // Bias 8 instead of 7 (16 instead of 15): every positive code finite in both halves, subnormals too.
  for (int c = 0x01; c <= 0x7e; ++c)
    EXPECT_EQ(fp8_decode(static_cast<uint8_t>(c), DSB_DTYPE_E4M3FNUZ), fp8_decode(static_cast<uint8_t>(c), DSB_DTYPE_E4M3FN) / 2)
        << c;
  for (int c = 0x01; c <= 0x7b; ++c)
    EXPECT_EQ(fp8_decode(static_cast<uint8_t>(c), DSB_DTYPE_E5M2FNUZ), fp8_decode(static_cast<uint8_t>(c), DSB_DTYPE_E5M2) / 2)
        << c;
  EXPECT_EQ(fp8_decode(0x40, DSB_DTYPE_E4M3FN), 2.0f);
  EXPECT_EQ(fp8_decode(0x40, DSB_DTYPE_E4M3FNUZ), 1.0f);
  // 0x7f: the OCP NaN is FNUZ's largest value.
  EXPECT_TRUE(std::isnan(fp8_decode(0x7f, DSB_DTYPE_E4M3FN)));
  EXPECT_EQ(fp8_decode(0x7f, DSB_DTYPE_E4M3FNUZ), 240.0f);
}

}  // namespace
}  // namespace dsbench
