/* Argument block for the causal conv1d kernels, shared by kernels/cpu and kernels/cuda.
   core/causal_conv1d.c fills it after validating every tensor; kernels trust it.

   B batch, D channels, L sequence length, W width. Logical x is (B, D, L); the layout is given by
   the strides alone (channel-last: x_stride[1] == 1). Strides are in elements. Optional pointers
   are NULL. Dtypes are cc_dtype values; out/dx/dout share x's dtype, final/initial/dinitial
   states share state_dtype, dweight shares weight_dtype, dbias bias_dtype. */
#ifndef CC_KERNELS_CAUSAL_CONV1D_H
#define CC_KERNELS_CAUSAL_CONV1D_H

#include <stdint.h>

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
