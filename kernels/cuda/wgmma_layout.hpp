// Layouts of Hopper's asynchronous warpgroup MMA (wgmma), as the PTX ISA defines them, shared by the
// sm_90a GEMM (gemm_fp8_sm90_kernel.cuh) and the SIMT emulator's model of the instruction
// (tests/cuda/emu/simt_emulator.hpp). tests/cuda/gemm_fp8_sm90_emulated_test.cpp pins these
// functions, and the emulator's descriptor and swizzle decoding, to entries of the ISA's tables.
#pragma once

#include <cstdint>

#include "dsbench/numerics/host_device.hpp"

namespace dsbench::cuda {

// Accumulator D of wgmma .m64nNk*, FP32: thread t (0..127 in the warpgroup) holds N/2 values. PTX ISA,
// "Asynchronous Warpgroup Level Matrix Register Fragment", figure "WGMMA .m64nNk32 register fragment
// layout for accumulator matrix D": warp w of the warpgroup owns rows 16w..16w+15; in it, lane l has
// row l/4 (values with bit 1 clear) and row l/4 + 8 (bit 1 set); value i sits in the 8-column group
// i/4, at columns (l%4)*2 and +1 (bit 0).
DSB_HD int wgmma_d_row(int t, int i) { return (t >> 5) * 16 + ((t & 31) >> 2) + 8 * ((i >> 1) & 1); }
DSB_HD int wgmma_d_col(int t, int i) { return (i >> 2) * 8 + (t & 3) * 2 + (i & 1); }

// Shared-memory matrix descriptor (PTX ISA, "Matrix Descriptor Format"): bits 0-13 start address,
// 16-29 leading-dimension byte offset, 32-45 stride-dimension byte offset (all >> 4), 49-51 base
// offset, 62-63 swizzle mode (0 none, 1 128B, 2 64B, 3 32B).
enum WgmmaSwizzle : int { kWgmmaInterleave = 0, kWgmmaSwizzle128B = 1, kWgmmaSwizzle64B = 2, kWgmmaSwizzle32B = 3 };

DSB_HD uint64_t wgmma_make_desc(uint32_t smem_addr, uint32_t lbo_bytes, uint32_t sbo_bytes, int swizzle) {
  return static_cast<uint64_t>((smem_addr >> 4) & 0x3fffu) | (static_cast<uint64_t>((lbo_bytes >> 4) & 0x3fffu) << 16) |
         (static_cast<uint64_t>((sbo_bytes >> 4) & 0x3fffu) << 32) | (static_cast<uint64_t>(swizzle & 3) << 62);
}

}  // namespace dsbench::cuda
