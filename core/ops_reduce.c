/* Reductions: sum_to (sum, mean, keepdim sums and unbroadcasting in backward), max along a dim,
   softmax / log-softmax forward and backward. Outputs never overlap inputs. */
#include "checks.h"
#include "ops.h"
#include "ops_rows.h"

static int run_sum(const cc_sum_args *a, int device)
{
#ifdef CC_WITH_CUDA
    if (device == CC_CUDA) return cc_cuda_sum_to(a);
#endif
    (void)device;
    return cc_get_reference_kernels() ? cc_cpu_sum_to_ref(a) : cc_cpu_sum_to(a);
}

/* appends dim (size, strides) to a group, merging it into the previous dim when contiguous there */
static void group_push(int *n, int64_t *shape, int64_t *s0, int64_t *s1, int64_t size, int64_t t0, int64_t t1)
{
    if (size == 1) return;
    if (*n > 0 && s0[*n - 1] == t0 * size && (!s1 || s1[*n - 1] == t1 * size)) {
        shape[*n - 1] *= size; s0[*n - 1] = t0;
        if (s1) s1[*n - 1] = t1;
        return;
    }
    shape[*n] = size; s0[*n] = t0;
    if (s1) s1[*n] = t1;
    (*n)++;
}

/* out = scale * sum of x over the dims where out (aligned to the right) has size 1 or no dim */
cc_status cc_sum_to(cc_tensor *out, const cc_tensor *x, double scale)
{
    const char *op = "sum_to";
    TRY(cc_check_present(op, "out", out));
    TRY(cc_check_present(op, "x", x));
    const cc_tensor *ts[2] = { x, out };
    const char *names[2] = { "x", "out" };
    TRY(cc_check_devices(op, 2, ts, names));
    TRY(cc_check_dtype(op, "x", x, CC_FLOAT_DTYPES));
    TRY(cc_check_dtype_as(op, "out", out, x->dtype, "x"));
    int lead = x->ndim - out->ndim;
    int fits = lead >= 0;
    for (int d = 0; fits && d < out->ndim; d++)
        fits = out->shape[d] == x->shape[lead + d] || out->shape[d] == 1;
    if (!fits) {
        char ob[160], xb[160];
        return cc_error(CC_ERR_SHAPE, "%s: out: expected a shape that broadcasts to x %s (each dim equal to x's or 1, "
                        "aligned to the right), got %s", op, cc_describe(xb, sizeof xb, x), cc_describe(ob, sizeof ob, out));
    }
    TRY(cc_check_output(op, "out", out));
    TRY(cc_check_disjoint(op, "out", out, "x", x, 0));

    cc_sum_args a = { .dtype = x->dtype, .scale = scale, .out = cc_tensor_data(out), .x = cc_tensor_data(x) };
    for (int d = 0; d < x->ndim; d++) {
        int od = d - lead;
        if (od >= 0 && out->shape[od] == x->shape[d])
            group_push(&a.nkeep, a.keep_shape, a.keep_xstride, a.keep_ostride, x->shape[d], x->stride[d], out->stride[od]);
        else
            group_push(&a.nred, a.red_shape, a.red_xstride, NULL, x->shape[d], x->stride[d], 0);
    }
    TRY(cc_kernel_status(op, out->device, run_sum(&a, out->device)));
    cc_tensor_bump_version(out);
    return CC_OK;
}

/* values, indices (x's shape with size 1 at dim; indices i64) = max of x along dim, first position */
cc_status cc_max_dim(cc_tensor *values, cc_tensor *indices, const cc_tensor *x, int dim)
{
    const char *op = "max_dim";
    TRY(cc_check_present(op, "values", values));
    TRY(cc_check_present(op, "indices", indices));
    TRY(cc_check_present(op, "x", x));
    const cc_tensor *ins[1] = { x }, *outs[2] = { values, indices };
    const char *in_names[1] = { "x" }, *out_names[2] = { "values", "indices" };
    TRY(cc_check_io(op, 1, ins, in_names, 2, outs, out_names));
    TRY(cc_check_dim(op, x, dim));
    TRY(cc_check_dtype(op, "x", x, CC_FLOAT_DTYPES));
    TRY(cc_check_dtype_as(op, "values", values, x->dtype, "x"));
    TRY(cc_check_dtype(op, "indices", indices, 1u << CC_I64));
    char buf[160];
    if (x->shape[dim] == 0)
        return cc_error(CC_ERR_SHAPE, "%s: x: expected a non-empty dim %d, got %s", op, dim, cc_describe(buf, sizeof buf, x));
    int64_t want[8];
    for (int d = 0; d < x->ndim; d++) want[d] = d == dim ? 1 : x->shape[d];
    TRY(cc_check_shape(op, "values", values, x->ndim, want));
    TRY(cc_check_shape(op, "indices", indices, x->ndim, want));

    cc_max_args a = { .dtype = x->dtype };
    ops_rows(&a.rows, x, dim);
    ops_rowptr(&a.values, values, dim, 1);
    ops_rowptr(&a.indices, indices, dim, 1);
    ops_rowptr(&a.x, x, dim, 1);
    int rc;
#ifdef CC_WITH_CUDA
    if (x->device == CC_CUDA) rc = cc_cuda_max_dim(&a);
    else
#endif
    rc = cc_cpu_max_dim(&a);
    TRY(cc_kernel_status(op, x->device, rc));
    cc_tensor_bump_version(values);
    cc_tensor_bump_version(indices);
    cc_index_mark_range(indices, x->shape[dim]);   /* a decode step's embedding lookup reads them unchecked */
    return CC_OK;
}

static int run_softmax(const cc_softmax_args *a, int device, int backward)
{
#ifdef CC_WITH_CUDA
    if (device == CC_CUDA) return backward ? cc_cuda_softmax_backward(a) : cc_cuda_softmax_forward(a);
#endif
    (void)device;
    if (cc_get_reference_kernels()) return backward ? cc_cpu_softmax_backward_ref(a) : cc_cpu_softmax_forward_ref(a);
    return backward ? cc_cpu_softmax_backward(a) : cc_cpu_softmax_forward(a);
}

/* checks shared by forward (o = out, i0 = x) and backward (o = dx, i0 = out, i1 = dout) */
static cc_status softmax_check(const char *op, const cc_tensor *o, const char *on, const cc_tensor *i0, const char *i0n,
                               const cc_tensor *i1, const char *i1n, int dim)
{
    TRY(cc_check_present(op, on, o));
    TRY(cc_check_present(op, i0n, i0));
    if (i1n) TRY(cc_check_present(op, i1n, i1));
    const cc_tensor *ts[3] = { i0, i1, o };
    const char *names[3] = { i0n, i1n, on };
    TRY(cc_check_devices(op, 3, ts, names));
    TRY(cc_check_dim(op, i0, dim));
    TRY(cc_check_dtype(op, i0n, i0, CC_FLOAT_DTYPES));
    TRY(cc_check_dtype_as(op, on, o, i0->dtype, i0n));
    if (i1) TRY(cc_check_dtype_as(op, i1n, i1, i0->dtype, i0n));
    TRY(cc_check_shape_as(op, on, o, i0n, i0));
    if (i1) TRY(cc_check_shape_as(op, i1n, i1, i0n, i0));
    TRY(cc_check_output(op, on, o));
    TRY(cc_check_disjoint(op, on, o, i0n, i0, 0));
    return cc_check_disjoint(op, on, o, i1n, i1, 0);
}

cc_status cc_softmax_forward(cc_tensor *out, const cc_tensor *x, int dim, int log)
{
    const char *op = log ? "log_softmax_forward" : "softmax_forward";
    TRY(softmax_check(op, out, "out", x, "x", NULL, NULL, dim));
    cc_softmax_args a = { .dtype = x->dtype, .log = log != 0 };
    ops_rows(&a.rows, x, dim);
    ops_rowptr(&a.out, out, dim, 1);
    ops_rowptr(&a.x, x, dim, 1);
    TRY(cc_kernel_status(op, x->device, run_softmax(&a, x->device, 0)));
    cc_tensor_bump_version(out);
    return CC_OK;
}

cc_status cc_softmax_backward(cc_tensor *dx, const cc_tensor *out, const cc_tensor *dout, int dim, int log)
{
    const char *op = log ? "log_softmax_backward" : "softmax_backward";
    TRY(softmax_check(op, dx, "dx", out, "out", dout, "dout", dim));
    cc_softmax_args a = { .dtype = out->dtype, .log = log != 0 };
    ops_rows(&a.rows, out, dim);
    ops_rowptr(&a.dx, dx, dim, 1);
    ops_rowptr(&a.out, out, dim, 1);
    ops_rowptr(&a.dout, dout, dim, 1);
    TRY(cc_kernel_status(op, out->device, run_softmax(&a, out->device, 1)));
    cc_tensor_bump_version(dx);
    return CC_OK;
}
