// Where each element of a warp-level mma.sync.m16n8k16 (BF16 in, FP32 accumulate) lives: lane and
// register to (row, column), as the PTX ISA lays the fragments out. The split-KV MLA kernel builds
// every fragment through these functions, and tests/cuda/mma_fragment_test.cpp checks them on the
// host by multiplying matrices through a model of the instruction built on the same maps: a wrong
// index shows there without a GPU.
#pragma once

#include "dsbench/numerics/host_device.hpp"

namespace dsbench::cuda {

// Lanes form 8 groups of 4: group = lane / 4 picks the row (A, C) or column (B), the position in
// the group picks a pair of adjacent columns (A, C) or rows (B).
DSB_HD int mma_group(int lane) { return lane >> 2; }
DSB_HD int mma_pair(int lane) { return (lane & 3) * 2; }

// A: 16 x 16 row-major, 4 registers of two BF16 each (half 0 in the low 16 bits, half 1 above).
// Registers 1 and 3 hold rows 8..15, registers 2 and 3 columns 8..15.
DSB_HD int mma_a_row(int lane, int reg) { return mma_group(lane) + ((reg & 1) ? 8 : 0); }
DSB_HD int mma_a_col(int lane, int reg, int half) { return mma_pair(lane) + half + ((reg & 2) ? 8 : 0); }

// B: 16 (k) x 8 (n), each column's k values adjacent ("col"), 2 registers of two BF16 each.
DSB_HD int mma_b_row(int lane, int reg, int half) { return mma_pair(lane) + half + (reg ? 8 : 0); }
DSB_HD int mma_b_col(int lane) { return mma_group(lane); }

// C/D: 16 x 8 FP32, 4 values per lane: 0, 1 in row `group`, 2, 3 in row `group + 8`.
DSB_HD int mma_c_row(int lane, int e) { return mma_group(lane) + (e >= 2 ? 8 : 0); }
DSB_HD int mma_c_col(int lane, int e) { return mma_pair(lane) + (e & 1); }

}  // namespace dsbench::cuda
