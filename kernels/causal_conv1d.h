/* Argument block for the causal conv1d kernels, shared by kernels/cpu and kernels/cuda.
   core/causal_conv1d.c fills it after validating every tensor; kernels trust it.

   B batch, D channels, L sequence length, W width. Logical x is (B, D, L); the layout is given by
   the strides alone (channel-last: x_stride[1] == 1). Strides are in elements. Optional pointers
   are NULL. Dtypes are cc_dtype values; out/dx/dout share x's dtype, final/initial/dinitial
   states share state_dtype, dweight shares weight_dtype, dbias bias_dtype. */
#ifndef CC_KERNELS_CAUSAL_CONV1D_H
#define CC_KERNELS_CAUSAL_CONV1D_H

#include <stdint.h>
#include "dtype.h"

#define CC_CONV_MAX_WIDTH 16   /* widths 1 .. 16 */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cc_conv1d_args {
    int64_t B, D, L, W;
    int x_dtype, weight_dtype, bias_dtype, state_dtype;
    int silu;

    const void *x;              int64_t x_stride[3];               /* (B, D, L) */
    const void *weight;         int64_t weight_stride[2];          /* (D, W) */
    const void *bias;           int64_t bias_stride;               /* (D) */
    const int32_t *seq_idx;     int64_t seq_idx_stride[2];         /* (B, L) */
    const void *initial_states; int64_t initial_states_stride[3];  /* (B, D, W-1) */
    void *out;                  int64_t out_stride[3];             /* (B, D, L) */
    void *final_states;         int64_t final_states_stride[3];    /* (B, D, W-1) */

    /* backward only */
    const void *dout;           int64_t dout_stride[3];            /* (B, D, L) */
    const void *dfinal_states;  int64_t dfinal_states_stride[3];   /* (B, D, W-1) */
    void *dx;                   int64_t dx_stride[3];              /* (B, D, L) */
    void *dweight;              int64_t dweight_stride[2];         /* (D, W) */
    void *dbias;                int64_t dbias_stride;              /* (D) */
    void *dinitial_states;      int64_t dinitial_states_stride[3]; /* (B, D, W-1) */

    /* varlen only: B == 1, the sequence axis packs N sequences; cu_seqlens (N+1), and the
       state tensors are indexed by sequence n instead of batch b. */
    const void *cu_seqlens;     int cu_seqlens_dtype;              /* CC_I32 or CC_I64 */
    int64_t N;
} cc_conv1d_args;

/* Update (decode): x and out (B, D, S); conv_state (pool, D, state_len). */
typedef struct cc_conv1d_update_args {
    int64_t B, D, S, W, state_len;
    int x_dtype, weight_dtype, bias_dtype, state_dtype;
    int silu;
    const void *x;              int64_t x_stride[3];
    const void *weight;         int64_t weight_stride[2];
    const void *bias;           int64_t bias_stride;
    void *out;                  int64_t out_stride[3];
    void *conv_state;           int64_t conv_state_stride[3];
    const int32_t *cache_seqlens;      int64_t cache_seqlens_stride;       /* (B) or NULL */
    const int32_t *conv_state_indices; int64_t conv_state_indices_stride;  /* (B) or NULL */
} cc_conv1d_update_args;

/* varlen_states: x (T, D) packed, states (N, D, state_len). */
typedef struct cc_conv1d_states_args {
    int64_t T, D, N, state_len;
    int x_dtype, state_dtype;
    const void *x;              int64_t x_stride[2];
    const void *cu_seqlens;     int cu_seqlens_dtype;
    void *states;               int64_t states_stride[3];
} cc_conv1d_states_args;

/* ---- the rules every backend shares (semantics: the block at the top of core/causal_conv1d.c) ----
   A row is a batch row b (positions 0..L-1, states indexed by b) or, for varlen, a packed sequence
   n (positions cu_seqlens[n] .. cu_seqlens[n+1]-1 of the single batch row, states indexed by n). */
typedef struct cv_row {
    int64_t b;       /* batch index into x / out / dout / dx / seq_idx */
    int64_t start;   /* first position of the row on the L axis */
    int64_t len;     /* tokens in the row */
    int64_t s;       /* index into the state tensors (initial, final, dinitial, dfinal) */
} cv_row;

CC_HD int64_t cv_num_rows(const cc_conv1d_args *a) { return a->cu_seqlens ? a->N : a->B; }

CC_HD int64_t cv_cu_at(const cc_conv1d_args *a, int64_t n) { return cc_load_index(a->cu_seqlens, a->cu_seqlens_dtype, n); }

CC_HD cv_row cv_get_row(const cc_conv1d_args *a, int64_t r)
{
    cv_row row;
    if (a->cu_seqlens) {
        row.b = 0;
        row.start = cv_cu_at(a, r);
        row.len = cv_cu_at(a, r + 1) - row.start;
    } else {
        row.b = r;
        row.start = 0;
        row.len = a->L;
    }
    row.s = r;
    return row;
}

/* Segment id of row position p (seq_idx rows are dense, so start == 0). Positions before the row
   (p < 0: initial state or zero padding) belong to the segment of position 0. Without seq_idx a
   row is one segment, id 0; an id < 0 is a padding token. */
CC_HD int32_t cv_seg(const cc_conv1d_args *a, const cv_row *row, int64_t p)
{
    if (!a->seq_idx || row->len == 0) return 0;
    if (p < 0) p = 0;
    return a->seq_idx[row->b * a->seq_idx_stride[0] + p * a->seq_idx_stride[1]];
}

/* Whether final_states takes xe[p] (p = len - (W-1) + j): p lies in the segment of the row's last
   token and that segment is not padding. Always true without seq_idx. */
CC_HD int cv_final_keeps(const cc_conv1d_args *a, const cv_row *row, int64_t p)
{
    if (!a->seq_idx || row->len == 0) return 1;
    int32_t last = cv_seg(a, row, row->len - 1);
    return last >= 0 && cv_seg(a, row, p) == last;
}

/* final_states[row.s, c, j] from the raw inputs (x or initial_states, copied, never computed). */
CC_HD void cv_write_final_state(const cc_conv1d_args *a, const cv_row *row, int64_t c, int64_t j)
{
    int64_t ext = a->W - 1, p = row->len - ext + j;
    const int64_t *fs = a->final_states_stride;
    int64_t di = row->s * fs[0] + c * fs[1] + j * fs[2];
    if (!cv_final_keeps(a, row, p)) {
        cc_zero_element(a->final_states, a->state_dtype, di);
    } else if (p >= 0) {
        int64_t si = row->b * a->x_stride[0] + c * a->x_stride[1] + (row->start + p) * a->x_stride[2];
        cc_copy_element(a->final_states, a->state_dtype, di, a->x, a->x_dtype, si);
    } else if (a->initial_states) {
        const int64_t *is = a->initial_states_stride;
        cc_copy_element(a->final_states, a->state_dtype, di, a->initial_states, a->state_dtype,
                        row->s * is[0] + c * is[1] + (ext + p) * is[2]);
    } else {
        cc_zero_element(a->final_states, a->state_dtype, di);
    }
}

/* Circular-buffer slot of the decode update: a true modulo, so negative cache_seqlens count back
   from the end. */
CC_HD int64_t cv_mod(int64_t v, int64_t m) { return ((v % m) + m) % m; }

/* Each backend provides these; status is cc_status. The CPU ones cannot fail (return CC_OK or
   CC_ERR_MEMORY for scratch); CUDA ones report launch errors. *_ref are the plain scalar oracles. */
int cc_cpu_causal_conv1d_forward(const cc_conv1d_args *a);
int cc_cpu_causal_conv1d_backward(const cc_conv1d_args *a);
int cc_cpu_causal_conv1d_update(const cc_conv1d_update_args *a);
int cc_cpu_causal_conv1d_varlen_states(const cc_conv1d_states_args *a);
int cc_cpu_causal_conv1d_forward_ref(const cc_conv1d_args *a);
int cc_cpu_causal_conv1d_backward_ref(const cc_conv1d_args *a);
int cc_cpu_causal_conv1d_update_ref(const cc_conv1d_update_args *a);
int cc_cpu_causal_conv1d_varlen_states_ref(const cc_conv1d_states_args *a);

int cc_cuda_causal_conv1d_forward(const cc_conv1d_args *a);
int cc_cuda_causal_conv1d_backward(const cc_conv1d_args *a);
int cc_cuda_causal_conv1d_update(const cc_conv1d_update_args *a);
int cc_cuda_causal_conv1d_varlen_states(const cc_conv1d_states_args *a);

#ifdef __cplusplus
}
#endif

#endif
