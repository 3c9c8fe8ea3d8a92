// The oracle for MoE dispatch and combine (../shared/DEEPSEEK.md §5, docs/ops/moe_dispatch_combine.md):
// the payload of one delivered row (BF16 copy, or 1x128 FP8 through reference/quantize.hpp), the
// canonical layout arithmetic, and plain serial dispatch/combine kernels over any world size (rows
// travel as int32 records through the communicator's alltoallv). Host pointers only.
#pragma once

#include <cstdint>
#include <vector>

#include "dsbench/ops.h"

namespace dsbench::ref {

constexpr int64_t kMoeRowAlign = 128;  // contiguous layout: each expert's rows padded to a multiple

inline int64_t moe_align(int64_t rows) { return (rows + kMoeRowAlign - 1) / kMoeRowAlign * kMoeRowAlign; }

// Bytes of one row's payload and of its scales (0 for BF16).
int64_t moe_row_bytes(int32_t hidden, dsb_dtype recv_dtype);
int64_t moe_scale_bytes(int32_t hidden, dsb_dtype recv_dtype, dsb_dtype scale_dtype);

// One token's row as dispatch delivers it: BF16 bits copied, or FP8 codes and scales bit-identical to
// quantize_1x128 (scales stored as scale_dtype). x_row: [hidden] BF16 bits.
void moe_dispatch_row(const uint16_t* x_row, int32_t hidden, dsb_dtype recv_dtype, dsb_dtype scale_dtype,
                      void* out_row, void* out_scale);

// Per-pair checks shared by every kernel: "" or why the params cannot run.
const char* moe_dispatch_invalid(const dsb_moe_dispatch_params& p);
const char* moe_combine_invalid(const dsb_moe_combine_params& p);

// Exchanges variable-length int32 records: send_words[p] words from send + send_displs[p] to rank p;
// fills recv_words / recv_displs (host arrays of world_size) and the data at recv (at most
// recv_capacity words, else DSB_STATUS_INVALID_ARGUMENT on every rank). Three alltoallv: the counts,
// whether every rank has room for what it is sent, then the words.
// world_size 1 (comm may be null) copies locally.
dsb_status moe_exchange(dsb_comm* comm, int32_t world_size, const int32_t* send, const int64_t* send_words,
                        const int64_t* send_displs, int32_t* recv, int64_t recv_capacity, int64_t* recv_words,
                        int64_t* recv_displs);

// Plain serial kernels: rows delivered in (source rank, token, slot) order; combine sums in FP64 and
// rounds once to BF16. Return DSB_STATUS_INVALID_ARGUMENT on an expert id out of range, a capacity
// too small, or a recv_src naming a pair that does not exist.
dsb_status moe_dispatch(const dsb_moe_dispatch_params& p);
dsb_status moe_combine(const dsb_moe_combine_params& p);

}  // namespace dsbench::ref
