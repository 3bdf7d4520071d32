/* Argument blocks for the tensor ops under autograd (core/ops_*.c fills them after validating
   every tensor; kernels/cpu and kernels/cuda trust them). Strides in elements; pointers address
   element 0 of each view. Every float operand of one call shares `dtype`; index tensors are
   CC_I32 or CC_I64 as `index_dtype` says. Kernels return cc_status values. */
#ifndef CC_KERNELS_OPS_H
#define CC_KERNELS_OPS_H

#include <stdint.h>
#include "dtype.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- elementwise: out = f(in0[, in1]) over one shape (dims already collapsed by core) ---- */
enum { CC_PW_UNARY = 0, CC_PW_UNARY_BACKWARD = 1, CC_PW_BINARY = 2 };
typedef struct cc_pointwise_args {
    int kind;                     /* CC_PW_*: in0 = x, in1 = dout (unary backward) or a, b (binary) */
    int op;                       /* cc_unary_op or cc_binary_op */
    double scalar;
    int dtype;
    int ndim;                     /* 0 = one element */
    int64_t shape[8];
    void *out;        int64_t out_stride[8];
    const void *in0;  int64_t in0_stride[8];
    const void *in1;  int64_t in1_stride[8];
} cc_pointwise_args;

/* ---- sum_to: out[k] = scale * sum_r x[k, r]; dims split into kept (k) and reduced (r) ---- */
typedef struct cc_sum_args {
    int dtype;
    double scale;
    int nkeep;   int64_t keep_shape[8]; int64_t keep_xstride[8]; int64_t keep_ostride[8];
    int nred;    int64_t red_shape[8];  int64_t red_xstride[8];
    void *out;
    const void *x;
} cc_sum_args;

/* ---- row ops: rows of n elements along one dim; the other dims form `shape` (nrows rows) ---- */
typedef struct cc_rows {
    int64_t nrows, n;
    int ndim;                     /* dims of the row grid */
    int64_t shape[8];
} cc_rows;
typedef struct cc_rowptr {        /* one tensor seen as rows */
    void *data;
    int64_t stride;               /* along the row */
    int64_t outer[8];             /* per row-grid dim */
} cc_rowptr;

/* max_dim: values (dtype) and indices (i64) have one element per row. */
typedef struct cc_max_args {
    int dtype;
    cc_rows rows;
    cc_rowptr values, indices, x;
} cc_max_args;

/* softmax forward: out, x; backward: dx, out (the forward's output), dout. */
typedef struct cc_softmax_args {
    int dtype;
    int log;
    cc_rows rows;
    cc_rowptr out, x, dx, dout;
} cc_softmax_args;

/* rms_norm: rows of D = n along x's last dim; rstd has one element per row in rstd_dtype
   (f32, or f64 for f64 x); weight (D) and dweight (D) may be NULL. */
typedef struct cc_rms_norm_args {
    int dtype, rstd_dtype;
    double eps;
    cc_rows rows;
    cc_rowptr x, out, rstd, dout, dx;
    const void *weight;  int64_t weight_stride;
    void *dweight;       int64_t dweight_stride;
} cc_rms_norm_args;

/* ---- matmul: out (batch..., M, N) = a (batch..., M, K) @ b (batch..., K, N) ---- */
typedef struct cc_matmul_args {
    int dtype;
    int64_t M, N, K;
    int nbatch;                   /* batch dims, shape shared by all three */
    int64_t batch_shape[8];
    const void *a;  int64_t a_bstride[8]; int64_t a_stride[2];
    const void *b;  int64_t b_bstride[8]; int64_t b_stride[2];
    void *out;      int64_t out_bstride[8]; int64_t out_stride[2];
} cc_matmul_args;

/* ---- index ops, seen as (P, I, Q) index grids: the dims before `dim`, the indexed dim, the
   dims after it, each kept as N-d shapes so any strides work.
   index_select: out[p, i, q] = x[p, index[i], q]     (out has I = len(index))
   index_add:    out[p, index[i], q] += src[p, i, q]  (src has I = len(index))
   `big` is the large tensor (x, or out for index_add); `small` the one indexed by i. ---- */
typedef struct cc_index_args {
    int dtype;
    int index_dtype;
    int ndim;                     /* of both tensors */
    int dim;
    int64_t shape[8];             /* small's shape: shape[dim] = len(index) */
    int64_t big_dim_size;         /* big's size along dim (index values are below it) */
    void *small; int64_t small_stride[8];
    void *big;   int64_t big_stride[8];
    const void *index; int64_t index_stride;
} cc_index_args;

/* ---- cross entropy: logits (N, C), target (N); loss and dloss one element each.
   `count` = number of rows whose target != ignore_index (core counts it while validating). ---- */
typedef struct cc_cross_entropy_args {
    int dtype, target_dtype;
    int64_t N, C;
    int64_t ignore_index;
    int64_t count;
    const void *logits;  int64_t logits_stride[2];
    const void *target;  int64_t target_stride;
    void *loss;
    const void *dloss;
    void *dlogits;       int64_t dlogits_stride[2];
} cc_cross_entropy_args;

int cc_cpu_pointwise(const cc_pointwise_args *a);
int cc_cpu_pointwise_ref(const cc_pointwise_args *a);
int cc_cpu_sum_to(const cc_sum_args *a);
int cc_cpu_sum_to_ref(const cc_sum_args *a);
int cc_cpu_max_dim(const cc_max_args *a);
int cc_cpu_softmax_forward(const cc_softmax_args *a);
int cc_cpu_softmax_forward_ref(const cc_softmax_args *a);
int cc_cpu_softmax_backward(const cc_softmax_args *a);
int cc_cpu_softmax_backward_ref(const cc_softmax_args *a);
int cc_cpu_matmul(const cc_matmul_args *a);
int cc_cpu_matmul_ref(const cc_matmul_args *a);
int cc_cpu_index_select(const cc_index_args *a);
int cc_cpu_index_add(const cc_index_args *a);
int cc_cpu_cross_entropy_forward(const cc_cross_entropy_args *a);
int cc_cpu_cross_entropy_backward(const cc_cross_entropy_args *a);
int cc_cpu_rms_norm_forward(const cc_rms_norm_args *a);
int cc_cpu_rms_norm_backward(const cc_rms_norm_args *a);
int cc_cpu_rms_norm_backward_ref(const cc_rms_norm_args *a);

int cc_cuda_pointwise(const cc_pointwise_args *a);
int cc_cuda_sum_to(const cc_sum_args *a);
int cc_cuda_max_dim(const cc_max_args *a);
int cc_cuda_softmax_forward(const cc_softmax_args *a);
int cc_cuda_softmax_backward(const cc_softmax_args *a);
int cc_cuda_matmul(const cc_matmul_args *a);
int cc_cuda_index_select(const cc_index_args *a);
int cc_cuda_index_add(const cc_index_args *a);
int cc_cuda_cross_entropy_forward(const cc_cross_entropy_args *a);
int cc_cuda_cross_entropy_backward(const cc_cross_entropy_args *a);
int cc_cuda_rms_norm_forward(const cc_rms_norm_args *a);
int cc_cuda_rms_norm_backward(const cc_rms_norm_args *a);

#ifdef __cplusplus
}
#endif

#endif
