/* Argument blocks of the selective scan ops (Mamba's SSM), shared by kernels/cpu and kernels/cuda.
   core/selective_scan.c fills them after validating every tensor; kernels trust them. The
   semantics are the rule block at the top of core/selective_scan.c.

   Bt batch, Di channels, L length, N state size. Strides are in elements; optional pointers are
   NULL; every tensor has its own dtype (cc_dtype). Logical shapes:
     u, delta, z, out, dout, du, ddelta, dz        (Bt, Di, L)
     A, dA                                          (Di, N)
     B, C, dB, dC                                   the 4-d view (Bt, G, N, L), see cc_scan_bc
     D, delta_bias, dD, ddelta_bias                 (Di)
     initial_state, last_state, dlast_state, dinitial_state   (Bt, Di, N)
     seq_idx                                        (Bt, L) i32
   Compute precision: f64 when u is f64, else f32 (the reference kernels always use f64). */
#ifndef CC_KERNELS_SELECTIVE_SCAN_H
#define CC_KERNELS_SELECTIVE_SCAN_H

#include <math.h>
#include <stdint.h>
#include "dtype.h"

#ifdef __cplusplus
extern "C" {
#endif

/* B or C (and its gradient) as a (Bt, G, N, L) view. Variable B (Bt, N, L) is G = 1 with
   stride[1] = 0; grouped (Bt, G, N, L) is itself; time-invariant (Di, N) is G = Di with
   stride[0] = stride[3] = 0 (is_const = 1). Channel c reads group c / (Di / G). The gradient has
   the same kind: dB[b, g, n, t] sums over the channels of group g (variable), dB[c, n] sums over
   b and t (time-invariant). */
typedef struct cc_scan_bc {
    const void *data;  int dtype;  int64_t G;  int is_const;  int64_t stride[4];
    void *grad;        int grad_dtype;         int64_t grad_stride[4];   /* backward only */
} cc_scan_bc;

typedef struct cc_scan_args {
    int64_t Bt, Di, L, N;
    int delta_softplus;
    cc_scan_bc B, C;

    const void *u;              int u_dtype;             int64_t u_stride[3];
    const void *delta;          int delta_dtype;         int64_t delta_stride[3];
    const void *A;              int A_dtype;             int64_t A_stride[2];
    const void *D;              int D_dtype;             int64_t D_stride;
    const void *z;              int z_dtype;             int64_t z_stride[3];
    const void *delta_bias;     int delta_bias_dtype;    int64_t delta_bias_stride;
    const void *initial_state;  int initial_state_dtype; int64_t initial_state_stride[3];
    const int32_t *seq_idx;                              int64_t seq_idx_stride[2];

    /* forward outputs: out in u's dtype; last_state f32 (f64 for f64 u) */
    void *out;                  int out_dtype;           int64_t out_stride[3];
    void *last_state;           int last_state_dtype;    int64_t last_state_stride[3];

    /* backward: dout in, gradients out (each NULL when not wanted); the gradient of a tensor has
       that tensor's dtype (dinitial_state: initial_state's, or f32 / f64 without one) */
    const void *dout;           int dout_dtype;          int64_t dout_stride[3];
    const void *dlast_state;    int dlast_state_dtype;   int64_t dlast_state_stride[3];
    void *du;                   int du_dtype;            int64_t du_stride[3];
    void *ddelta;               int ddelta_dtype;        int64_t ddelta_stride[3];
    void *dA;                   int dA_dtype;            int64_t dA_stride[2];
    void *dD;                   int dD_dtype;            int64_t dD_stride;
    void *dz;                   int dz_dtype;            int64_t dz_stride[3];
    void *ddelta_bias;          int ddelta_bias_dtype;   int64_t ddelta_bias_stride;
    void *dinitial_state;       int dinitial_state_dtype; int64_t dinitial_state_stride[3];
} cc_scan_args;

/* Decode: one token per row. state (pool, Di, N) in place; x, dt, z, out (Bt, Di); B, C as the
   3-d view (Bt, G, N) (G = 1 with stride[1] = 0 for (Bt, N)); A (Di, N); D, dt_bias (Di). Row b
   uses state row state_batch_indices[b] (b without indices); < 0 is a padding row. */
typedef struct cc_scan_update_args {
    int64_t Bt, Di, N, pool;
    int dt_softplus;
    void *state;                int state_dtype;         int64_t state_stride[3];
    const void *x;              int x_dtype;             int64_t x_stride[2];
    const void *dt;             int dt_dtype;            int64_t dt_stride[2];
    const void *A;              int A_dtype;             int64_t A_stride[2];
    const void *B;              int B_dtype;  int64_t B_G; int64_t B_stride[3];
    const void *C;              int C_dtype;  int64_t C_G; int64_t C_stride[3];
    const void *D;              int D_dtype;             int64_t D_stride;
    const void *z;              int z_dtype;             int64_t z_stride[2];
    const void *dt_bias;        int dt_bias_dtype;       int64_t dt_bias_stride;
    const int32_t *state_batch_indices;                  int64_t state_batch_indices_stride;
    void *out;                  int out_dtype;           int64_t out_stride[2];
} cc_scan_update_args;

/* ---- the rules every backend shares ---- */

/* PyTorch's softplus (threshold 20: the identity above it) and its derivative. */
#define CC_SOFTPLUS_THRESHOLD 20.0
CC_HD float ss_softplus_f32(float v) { return v <= 20.0f ? log1pf(expf(v)) : v; }
CC_HD double ss_softplus_f64(double v) { return v <= CC_SOFTPLUS_THRESHOLD ? log1p(exp(v)) : v; }
CC_HD float ss_dsoftplus_f32(float v) { return v <= 20.0f ? 1.0f / (1.0f + expf(-v)) : 1.0f; }
CC_HD double ss_dsoftplus_f64(double v) { return v <= CC_SOFTPLUS_THRESHOLD ? 1.0 / (1.0 + exp(-v)) : 1.0; }

/* Element offset of B or C at (b, channel c, state n, position t). */
CC_HD int64_t ss_bc_at(const cc_scan_bc *m, int64_t Di, int64_t b, int64_t c, int64_t n, int64_t t)
{
    return b * m->stride[0] + (c / (Di / m->G)) * m->stride[1] + n * m->stride[2] + t * m->stride[3];
}

/* The same place in the gradient view. */
CC_HD int64_t ss_bc_grad_at(const cc_scan_bc *m, int64_t Di, int64_t b, int64_t c, int64_t n, int64_t t)
{
    return b * m->grad_stride[0] + (c / (Di / m->G)) * m->grad_stride[1] + n * m->grad_stride[2] + t * m->grad_stride[3];
}

/* What token t does to the state of its row (seq_idx): SS_STEP h = dA*h + dBu; SS_RESET (first
   token of a segment after the first) h = dBu, as a step from h = 0; SS_PAD (seq_idx < 0) leaves
   h as it is and outputs 0. Without seq_idx every token is SS_STEP. */
enum { SS_STEP = 0, SS_RESET = 1, SS_PAD = 2 };

/* The kinds of row b's tokens in order: *seg is the running segment id, which starts at
   seq_idx[b, 0] (the initial state belongs to the first token's segment, as in the conv) and
   follows the last non-padding token. Call with t = 0, 1, ... in turn. */
CC_HD int ss_token_kind(const cc_scan_args *a, int64_t b, int64_t t, int32_t *seg)
{
    if (!a->seq_idx) return SS_STEP;
    int32_t s = a->seq_idx[b * a->seq_idx_stride[0] + t * a->seq_idx_stride[1]];
    if (t == 0) *seg = s;
    if (s < 0) return SS_PAD;
    if (s != *seg) {
        *seg = s;
        return SS_RESET;
    }
    return SS_STEP;
}

/* Each backend provides these; status is cc_status (CPU: CC_OK, or CC_ERR_MEMORY for scratch;
   CUDA: launch errors). *_ref are the plain f64 scalar oracles. */
int cc_cpu_selective_scan_forward(const cc_scan_args *a);
int cc_cpu_selective_scan_backward(const cc_scan_args *a);
int cc_cpu_selective_state_update(const cc_scan_update_args *a);
int cc_cpu_selective_scan_forward_ref(const cc_scan_args *a);
int cc_cpu_selective_scan_backward_ref(const cc_scan_args *a);
int cc_cpu_selective_state_update_ref(const cc_scan_update_args *a);

int cc_cuda_selective_scan_forward(const cc_scan_args *a);
int cc_cuda_selective_scan_backward(const cc_scan_args *a);
int cc_cuda_selective_state_update(const cc_scan_update_args *a);

#ifdef __cplusplus
}

/* softplus and its derivative overloaded on the compute type, for templated kernels */
CC_HDT float ss_softplus(float v) { return ss_softplus_f32(v); }
CC_HDT double ss_softplus(double v) { return ss_softplus_f64(v); }
CC_HDT float ss_dsoftplus(float v) { return ss_dsoftplus_f32(v); }
CC_HDT double ss_dsoftplus(double v) { return ss_dsoftplus_f64(v); }
#endif

#endif
