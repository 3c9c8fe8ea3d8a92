/* dsbench contract: one C parameter struct per operator. The reference, the built-in kernels, the
 * harness and vendor plugins all speak these structs, so none of them depends on another.
 * Conventions: every tensor is dense row-major in the shape given; pointers are device pointers of
 * the backend that runs the kernel (host pointers on the CPU backend); counts are int64_t where they
 * can exceed 2^31 elements. FP8/BF16 tensors hold raw bits. Append fields only at the end. */
#ifndef DSBENCH_OPS_H
#define DSBENCH_OPS_H

#include "dsbench/dtype.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DSB_CONTRACT_VERSION 1

typedef enum dsb_op {
  DSB_OP_INVALID = 0,
  DSB_OP_GEMM_FP8_BLOCKSCALED = 1,
  DSB_OP_GEMM_FP8_GROUPED_CONTIGUOUS = 2,
  DSB_OP_GEMM_FP8_GROUPED_MASKED = 3,
  DSB_OP_MLA_DECODE = 4,
  DSB_OP_MOE_ROUTE = 5,
  DSB_OP_MOE_DISPATCH = 6,
  DSB_OP_MOE_COMBINE = 7,
  DSB_OP_ALL_TO_ALL = 8,
  DSB_OP_MOE_LAYER = 9
} dsb_op;
#define DSB_OP_COUNT 10

/* Canonical names: "gemm_fp8_blockscaled", "mla_decode", ... */
const char* dsb_op_name(dsb_op op);
dsb_op dsb_op_from_name(const char* name);

/* The communicator a multi-rank op runs over (all-to-all, MoE dispatch/combine across ranks): this
 * rank, the world, and the backend's own exchange. Filled by dsbench; a kernel may call `alltoallv`
 * (the backend's library: MPI on the CPU, NCCL on CUDA) or use its own transport, bootstrapped from
 * `rank`/`world_size`. Counts and displacements are in elements of `dtype`, host arrays of
 * world_size. `stream` is the backend's native stream (cudaStream_t, ...; NULL on the CPU). */
typedef struct dsb_comm dsb_comm;
struct dsb_comm {
  int32_t rank, world_size;
  int32_t local_rank, local_size; /* among the ranks on this host */
  void* impl;                     /* the backend's communicator object */
  dsb_status (*alltoallv)(dsb_comm* self, const void* send, const int64_t* send_counts,
                          const int64_t* send_displs, void* recv, const int64_t* recv_counts,
                          const int64_t* recv_displs, dsb_dtype dtype, void* stream);
  const char* (*last_error)(dsb_comm* self); /* text of the last failure; never NULL */
  /* Blocks until the work enqueued on `stream` (exchanges and kernels) has completed, polling so
   * that a peer that never arrives is DSB_STATUS_TIMEOUT, not a hang; NULL stream on the CPU. A kernel
   * that must read exchanged counts on the host (expert-parallel dispatch) calls it. The last field:
   * appended after alltoallv, as new fields always are. */
  dsb_status (*wait)(dsb_comm* self, void* stream);
};

/* ---- FP8 GEMM with fine-grained (DeepSeek-V3) scaling -------------------------------------------
 * D[m,n] = sum_k (A[m,k] * sA[m, k/128]) * (B[n,k] * sB[n/128, k/128]), rounded once to BF16.
 * Both operands K-major ("NT"). k % 128 == 0 always; n and m are free (tails must be handled or
 * refused by supports()). Scales are FP32, or UE8M0 bytes (2^(e-127)) when scale_dtype says so. */
#define DSB_FP8_BLOCK 128

typedef struct dsb_gemm_fp8_blockscaled_params {
  int64_t m, n, k;
  dsb_dtype ab_dtype;    /* FP8 type of a and b (E4M3FN; E4M3FNUZ on gfx94x) */
  dsb_dtype scale_dtype; /* F32 or UE8M0 */
  const void* a;         /* [m, k] ab_dtype */
  const void* scale_a;   /* [m, k/128] scale_dtype: scales a[i, 128j .. 128j+127] */
  const void* b;         /* [n, k] ab_dtype */
  const void* scale_b;   /* [ceil(n/128), k/128] scale_dtype: one per 128x128 block of b */
  void* d;               /* [m, n] BF16 */
} dsb_gemm_fp8_blockscaled_params;

/* MoE prefill: rows of a belong to groups (experts) through m_indices; each group's rows are padded
 * (to a multiple of 128 in DeepGEMM's layout; suites may choose another alignment) with rows whose
 * index is -1. Padding rows of d are not written by contract
 * and never checked. */
typedef struct dsb_gemm_fp8_grouped_contiguous_params {
  int64_t m;             /* total rows of a and d, padding included */
  int64_t n, k;
  int32_t num_groups;
  dsb_dtype ab_dtype;
  dsb_dtype scale_dtype;
  const void* a;         /* [m, k] ab_dtype */
  const void* scale_a;   /* [m, k/128] */
  const void* b;         /* [num_groups, n, k] ab_dtype */
  const void* scale_b;   /* [num_groups, ceil(n/128), k/128] */
  const int32_t* m_indices; /* [m] group of each row in [0, num_groups), or -1 for padding */
  void* d;               /* [m, n] BF16 */
} dsb_gemm_fp8_grouped_contiguous_params;

/* MoE decode (CUDA-graph friendly): a fixed [num_groups, m_max, k] buffer, masked_m[g] valid rows per
 * group, read on the device. Rows at or past masked_m[g] are neither computed nor checked. */
typedef struct dsb_gemm_fp8_grouped_masked_params {
  int32_t num_groups;
  int64_t m_max, n, k;
  int64_t expected_m;    /* hint for tiling: typical masked_m; 0 = unknown */
  dsb_dtype ab_dtype;
  dsb_dtype scale_dtype;
  const void* a;         /* [num_groups, m_max, k] ab_dtype */
  const void* scale_a;   /* [num_groups, m_max, k/128] */
  const void* b;         /* [num_groups, n, k] */
  const void* scale_b;   /* [num_groups, ceil(n/128), k/128] */
  const int32_t* masked_m; /* [num_groups], 0 <= masked_m[g] <= m_max (device memory) */
  void* d;               /* [num_groups, m_max, n] BF16 */
} dsb_gemm_fp8_grouped_masked_params;

/* ---- MLA decode (absorbed form over a paged latent cache; FlashMLA's contract) -----------------
 * Value = first d_v dims of each cached key. With causal and s_q > 1, query i of a sequence of length
 * L sees keys 0 .. L - s_q + i. No visible key: out = 0, lse = +inf. */
#define DSB_MLA_FP8_TOKEN_BYTES 656 /* 512 E4M3 + 4 FP32 scales (one per 128) + 64 BF16 RoPE */

typedef struct dsb_mla_decode_params {
  int32_t b, s_q, h_q, h_kv;     /* h_kv = 1 for DeepSeek-V3 */
  int32_t d_qk, d_v;             /* 576, 512 */
  int32_t page_block_size;       /* tokens per page: 64 */
  int32_t num_blocks;            /* physical pages in kv_cache */
  int32_t max_blocks_per_seq;    /* columns of block_table */
  float softmax_scale;
  int32_t causal;                /* 0 or 1 */
  dsb_dtype kv_dtype;            /* BF16, or E4M3FN for the 656-byte token layout */
  const void* q;                 /* [b, s_q, h_q, d_qk] BF16 */
  const void* kv_cache;          /* BF16: [num_blocks, page_block_size, h_kv, d_qk];
                                    E4M3FN: [num_blocks, page_block_size, h_kv, 656] bytes */
  const int32_t* block_table;    /* [b, max_blocks_per_seq] physical page of each logical page */
  const int32_t* cache_seqlens;  /* [b] tokens per sequence */
  void* out;                     /* [b, s_q, h_q, d_v] BF16 */
  float* lse;                    /* [b, h_q, s_q] natural log-sum-exp of scaled scores */
} dsb_mla_decode_params;

/* ---- MoE routing (DeepSeek-V3 gating) -----------------------------------------------------------
 * s = score(logits); selection on s + bias: group score = sum of the top-2 biased scores per group,
 * keep topk_groups groups, then topk experts among them (lower index wins exact ties); weights =
 * unbiased s of the chosen experts, normalised to sum 1 when normalize, times routed_scale. */
typedef enum dsb_moe_scoring { DSB_MOE_SCORING_SIGMOID = 0, DSB_MOE_SCORING_SOFTMAX = 1 } dsb_moe_scoring;

typedef struct dsb_moe_route_params {
  int32_t num_tokens, num_experts, num_groups, topk_groups, topk;
  dsb_moe_scoring scoring;
  int32_t normalize;             /* 1 for DeepSeek-V3 */
  float routed_scale;            /* 2.5 for DeepSeek-V3 */
  const float* logits;           /* [num_tokens, num_experts] F32 */
  const float* bias;             /* [num_experts] F32 correction bias (selection only) */
  int32_t* topk_idx;             /* [num_tokens, topk] */
  float* topk_weights;           /* [num_tokens, topk] */
} dsb_moe_route_params;

/* ---- MoE dispatch / combine (DeepEP's contract) -------------------------------------------------
 * Experts are split evenly over ranks: rank r owns [r*E/W, (r+1)*E/W). Every (token, slot) pair with
 * topk_idx >= 0 is delivered exactly once to its expert's rank. Row order within an expert is
 * implementation-defined; recv_src names each row's source so checks are order-independent. */
typedef enum dsb_moe_layout {
  DSB_MOE_LAYOUT_CONTIGUOUS = 0, /* rows grouped per local expert, each padded to 128 (m_indices) */
  DSB_MOE_LAYOUT_MASKED = 1      /* [local_experts, recv_capacity, hidden] with recv_count */
} dsb_moe_layout;

typedef struct dsb_moe_dispatch_params {
  int32_t num_tokens, hidden, num_experts, topk;
  int32_t rank, world_size;
  dsb_moe_layout layout;
  dsb_dtype recv_dtype;          /* BF16, or an FP8 type quantised 1x128 (bit-identical to the reference) */
  dsb_dtype scale_dtype;         /* F32 or UE8M0, for FP8 recv_dtype */
  int64_t recv_capacity;         /* contiguous: rows of recv_x; masked: rows per local expert */
  const void* x;                 /* [num_tokens, hidden] BF16 */
  const int32_t* topk_idx;       /* [num_tokens, topk], -1 = unused slot */
  void* recv_x;                  /* contiguous [recv_capacity, hidden]; masked [local, recv_capacity, hidden] */
  void* recv_scale;              /* same rows x [hidden/128] scale_dtype (FP8 only) */
  int32_t* recv_src;             /* same rows x 3: (source rank, token, slot); -1s on padding rows */
  int32_t* recv_m_indices;       /* contiguous: [recv_capacity] local expert per row, -1 padding */
  int32_t* recv_count;           /* [local_experts] rows delivered per local expert */
  int64_t* num_recv_rows;        /* [1] contiguous: rows used, padding included */
  dsb_comm* comm;
  /* Layout of this rank's own tokens (DeepEP's get_dispatch_layout), written by dispatch: */
  int32_t* num_tokens_per_rank;   /* [world_size] tokens with at least one expert on rank r */
  int32_t* num_tokens_per_expert; /* [num_experts] (token, slot) pairs routed to expert e */
  int32_t* is_token_in_rank;      /* [num_tokens, world_size] 1 if the token has an expert on rank r, else 0 */
} dsb_moe_dispatch_params;

typedef struct dsb_moe_combine_params {
  int32_t num_tokens, hidden, num_experts, topk;
  int32_t rank, world_size;
  dsb_moe_layout layout;
  int64_t recv_capacity;
  const void* expert_out;        /* BF16, rows laid out as dispatch's recv_x */
  const int32_t* recv_src;       /* dispatch's recv_src: the handle that routes rows home */
  const int32_t* recv_count;     /* dispatch's recv_count */
  const float* topk_weights;     /* [num_tokens, topk] on the source rank */
  void* out;                     /* [num_tokens, hidden] BF16: sum_j w[t,j] * y[t,j] in FP32 */
  dsb_comm* comm;
} dsb_moe_combine_params;

/* ---- All-to-all (alltoallv; alltoall is the equal-count case) ---------------------------------- */
typedef struct dsb_all_to_all_params {
  int32_t rank, world_size;
  dsb_dtype dtype;
  const void* send;
  const int64_t* send_counts;    /* host [world_size] elements to each peer */
  const int64_t* send_displs;    /* host [world_size] element offsets into send */
  void* recv;
  const int64_t* recv_counts;    /* host [world_size] */
  const int64_t* recv_displs;    /* host [world_size] */
  dsb_comm* comm;
} dsb_all_to_all_params;

/* ---- MoE layer (composite: DeepSeek-V3's routed experts plus the shared expert) ----------------
 * Per token of this rank: route (as moe_route) -> x quantised 1x128 to ab_dtype and dispatched (as
 * moe_dispatch) -> for each routed expert e: gu = BF16(FP8 GEMM of x by w13[e]) [2*intermediate]
 * (rows 0..I-1 gate, I..2I-1 up), h = SiLU(gate) * up in FP32 from the BF16 values, quantised 1x128,
 * y = BF16(FP8 GEMM of h by w2[e]) [hidden] -> combine (as moe_combine): routed = BF16(sum_j w_j * y_j
 * in FP32) on the source rank. The shared expert runs the same chain on every token's quantised x
 * with ws13 / ws2 (no routing, weight 1): shared = BF16(...). out = BF16(routed + shared).
 * Experts are split evenly over ranks (rank r holds [r*E/W, (r+1)*E/W)); the shared expert is on
 * every rank. hidden and intermediate are multiples of 128 (1x128 and 128x128 blocks). */
typedef enum dsb_moe_layer_stage {
  DSB_MOE_LAYER_ALL = 0,           /* the whole layer: what a run without stages does */
  DSB_MOE_LAYER_ROUTE = 1,         /* logits, bias -> topk_idx, topk_weights */
  DSB_MOE_LAYER_DISPATCH = 2,      /* quantise x 1x128, deliver (token, expert) rows to the experts' ranks */
  DSB_MOE_LAYER_GEMM_GATE_UP = 3,  /* grouped FP8 GEMM by w13 */
  DSB_MOE_LAYER_ACT_QUANT = 4,     /* SiLU(gate) * up, quantised 1x128 */
  DSB_MOE_LAYER_GEMM_DOWN = 5,     /* grouped FP8 GEMM by w2 */
  DSB_MOE_LAYER_SHARED = 6,        /* the shared expert on every token */
  DSB_MOE_LAYER_COMBINE = 7        /* weighted sum back on the source rank, plus the shared expert -> out */
} dsb_moe_layer_stage;
#define DSB_MOE_LAYER_STAGE_COUNT 8

typedef struct dsb_moe_layer_params {
  int32_t num_tokens, hidden, intermediate; /* tokens on this rank; 7168; moe_intermediate_size 2048 */
  int32_t shared_intermediate;   /* the shared expert's intermediate size; 0 = no shared expert */
  int32_t num_experts, num_groups, topk_groups, topk;
  dsb_moe_scoring scoring;
  int32_t normalize;
  float routed_scale;
  int32_t rank, world_size;
  dsb_moe_layout layout;         /* how the dispatched rows feed the grouped GEMMs */
  dsb_dtype ab_dtype;            /* FP8 type of activations and weights */
  dsb_dtype scale_dtype;         /* F32 or UE8M0, for activation and weight scales alike */
  int64_t recv_capacity;         /* as moe_dispatch: contiguous rows, or rows per local expert (masked) */
  /* DSB_MOE_LAYER_ALL, or one stage alone over what the last whole run left in the same workspace
   * (for per-stage times). A kernel without stages returns DSB_STATUS_NOT_SUPPORTED for a stage. */
  int32_t stage;
  const void* x;                 /* [num_tokens, hidden] BF16 */
  const float* logits;           /* [num_tokens, num_experts] F32: the gate's output */
  const float* bias;             /* [num_experts] F32 correction bias */
  const void* w13;               /* [local_experts, 2*intermediate, hidden] ab_dtype */
  const void* w13_scale;         /* [local_experts, 2*intermediate/128, hidden/128] */
  const void* w2;                /* [local_experts, hidden, intermediate] ab_dtype */
  const void* w2_scale;          /* [local_experts, hidden/128, intermediate/128] */
  const void* ws13;              /* [2*shared_intermediate, hidden] ab_dtype (unused when 0) */
  const void* ws13_scale;        /* [2*shared_intermediate/128, hidden/128] */
  const void* ws2;               /* [hidden, shared_intermediate] ab_dtype */
  const void* ws2_scale;         /* [hidden/128, shared_intermediate/128] */
  int32_t* topk_idx;             /* [num_tokens, topk] output of the route stage */
  float* topk_weights;           /* [num_tokens, topk] */
  void* out;                     /* [num_tokens, hidden] BF16 */
  dsb_comm* comm;
} dsb_moe_layer_params;

#ifdef __cplusplus
}
#endif
#endif /* DSBENCH_OPS_H */
