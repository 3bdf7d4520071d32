/* Elementwise ops: unary forward/backward and binary, any float dtype, any strides.
   Shapes: every operand has out's shape (Lua expands broadcast operands to stride-0 views first).
   In place: an output may be exactly the same view as an input (same storage, offset, shape and
   strides); any other overlap with an input is an error. */
#include "checks.h"
#include "ops.h"

/* drops size-1 dims and merges dims that are contiguous in every operand, so the kernel walks
   long runs */
static void collapse(cc_pointwise_args *a)
{
    int64_t *st[3] = { a->out_stride, a->in0_stride, a->in1_stride };
    int n = 0;
    for (int d = 0; d < a->ndim; d++) {
        if (a->shape[d] == 1) continue;
        int merge = n > 0;
        for (int t = 0; t < 3 && merge; t++) merge = st[t][n - 1] == st[t][d] * a->shape[d];
        if (merge) {
            a->shape[n - 1] *= a->shape[d];
            for (int t = 0; t < 3; t++) st[t][n - 1] = st[t][d];
        } else {
            a->shape[n] = a->shape[d];
            for (int t = 0; t < 3; t++) st[t][n] = st[t][d];
            n++;
        }
    }
    a->ndim = n;
}

static int run(const cc_pointwise_args *a, int device)
{
#ifdef CC_WITH_CUDA
    if (device == CC_CUDA) return cc_cuda_pointwise(a);
#endif
    (void)device;
    return cc_get_reference_kernels() ? cc_cpu_pointwise_ref(a) : cc_cpu_pointwise(a);
}

static void fill_strides(int64_t *dst, const cc_tensor *t)
{
    for (int d = 0; d < 8; d++) dst[d] = t && d < t->ndim ? t->stride[d] : 0;
}

/* shared checks and launch: out = f(in0[, in1]) */
static cc_status pointwise(const char *op, int kind, int code, double scalar, cc_tensor *out, const char *out_name,
                           const cc_tensor *in0, const char *in0_name, const cc_tensor *in1, const char *in1_name)
{
    TRY(cc_check_present(op, out_name, out));
    TRY(cc_check_present(op, in0_name, in0));
    if (in1_name) TRY(cc_check_present(op, in1_name, in1));
    int nops = kind == CC_PW_BINARY ? CC_BINARY_NE + 1 : CC_UNARY_GELU + 1;
    if (code < 0 || code >= nops)
        return cc_error(CC_ERR_ARGUMENT, "%s: op: expected 0 <= op < %d (%s), got %d", op, nops,
                        kind == CC_PW_BINARY ? "cc_binary_op" : "cc_unary_op", code);
    const cc_tensor *ts[3] = { in0, in1, out };
    const char *names[3] = { in0_name, in1_name, out_name };
    TRY(cc_check_devices(op, 3, ts, names));
    TRY(cc_check_dtype(op, in0_name, in0, CC_FLOAT_DTYPES));
    TRY(cc_check_dtype_as(op, out_name, out, in0->dtype, in0_name));
    if (in1) TRY(cc_check_dtype_as(op, in1_name, in1, in0->dtype, in0_name));
    TRY(cc_check_shape_as(op, in0_name, in0, out_name, out));
    if (in1) TRY(cc_check_shape_as(op, in1_name, in1, out_name, out));
    TRY(cc_check_output(op, out_name, out));
    TRY(cc_check_disjoint(op, out_name, out, in0_name, in0, 1));
    TRY(cc_check_disjoint(op, out_name, out, in1_name, in1, 1));

    cc_pointwise_args a = { .kind = kind, .op = code, .scalar = scalar, .dtype = in0->dtype, .ndim = out->ndim };
    for (int d = 0; d < out->ndim; d++) a.shape[d] = out->shape[d];
    a.out = cc_tensor_data(out); fill_strides(a.out_stride, out);
    a.in0 = cc_tensor_data(in0); fill_strides(a.in0_stride, in0);
    a.in1 = in1 ? cc_tensor_data(in1) : NULL; fill_strides(a.in1_stride, in1);
    collapse(&a);
    TRY(cc_kernel_status(op, out->device, run(&a, out->device)));
    cc_tensor_bump_version(out);
    return CC_OK;
}

cc_status cc_unary_forward(cc_tensor *out, const cc_tensor *x, int op, double scalar)
{
    return pointwise("unary_forward", CC_PW_UNARY, op, scalar, out, "out", x, "x", NULL, NULL);
}

cc_status cc_unary_backward(cc_tensor *dx, const cc_tensor *x, const cc_tensor *dout, int op, double scalar)
{
    return pointwise("unary_backward", CC_PW_UNARY_BACKWARD, op, scalar, dx, "dx", x, "x", dout, "dout");
}

cc_status cc_binary_forward(cc_tensor *out, const cc_tensor *a, const cc_tensor *b, int op)
{
    return pointwise("binary_forward", CC_PW_BINARY, op, 0.0, out, "out", a, "a", b, "b");
}
