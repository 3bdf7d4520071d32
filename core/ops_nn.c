/* Layer ops for small models: index_select / index_add (embedding and its backward), cross entropy
   and RMS norm, forward and backward. Outputs never overlap inputs. Index and target values are
   0-based and checked (read back from the device for cuda tensors) before anything is written. */
#include "checks.h"
#include "ops.h"
#include "ops_rows.h"

static cc_status run_index(const cc_index_args *a, int device, int add)
{
#ifdef CC_WITH_CUDA
    if (device == CC_CUDA) return (cc_status)(add ? cc_cuda_index_add(a) : cc_cuda_index_select(a));
#endif
    (void)device;
    return (cc_status)(add ? cc_cpu_index_add(a) : cc_cpu_index_select(a));
}

static void index_args(cc_index_args *a, const cc_tensor *small, const cc_tensor *big, int dim, const cc_tensor *index)
{
    a->dtype = small->dtype;
    a->index_dtype = index->dtype;
    a->ndim = small->ndim;
    a->dim = dim;
    for (int d = 0; d < small->ndim; d++) {
        a->shape[d] = small->shape[d];
        a->small_stride[d] = small->stride[d];
        a->big_stride[d] = big->stride[d];
    }
    a->big_dim_size = big->shape[dim];
    a->small = cc_tensor_data(small);
    a->big = cc_tensor_data(big);
    a->index = cc_tensor_data(index);
    a->index_stride = index->stride[0];
}

/* The index pair over a big tensor (x for index_select, out for index_add) and a small one (out,
   src) that has big's shape but len(index) at dim: checks, then the kernel. */
static cc_status index_op(const char *op, int add, const cc_tensor *big, const char *big_name, const cc_tensor *small,
                          const char *small_name, int dim, const cc_tensor *index)
{
    cc_tensor *out = (cc_tensor *)(add ? big : small);   /* the one written */
    const char *out_name = add ? big_name : small_name;
    const cc_tensor *in = add ? small : big;
    const char *in_name = add ? small_name : big_name;
    TRY(cc_check_present(op, big_name, big));
    TRY(cc_check_present(op, small_name, small));
    TRY(cc_check_present(op, "index", index));
    TRY(cc_check_dim(op, big, dim));
    if (add) TRY(cc_check_dtype(op, big_name, big, CC_FLOAT_DTYPES));
    TRY(cc_check_dtype_as(op, small_name, small, big->dtype, big_name));
    TRY(cc_check_dtype(op, "index", index, CC_INDEX_DTYPES));
    TRY(cc_check_ndim(op, "index", index, 1));
    int64_t want[8];
    for (int d = 0; d < big->ndim; d++) want[d] = d == dim ? index->shape[0] : big->shape[d];
    TRY(cc_check_shape(op, small_name, small, big->ndim, want));
    const cc_tensor *ins[2] = { in, index }, *outs[1] = { out };
    const char *in_names[2] = { in_name, "index" }, *out_names[1] = { out_name };
    TRY(cc_check_io(op, 2, ins, in_names, 1, outs, out_names));
    int64_t count;
    TRY(cc_check_index_values(op, "index", index, big->shape[dim], 0, 0, &count));
    cc_index_args a;
    index_args(&a, small, big, dim, index);
    TRY(cc_kernel_status(op, out->device, run_index(&a, out->device, add)));
    cc_tensor_bump_version(out);
    return CC_OK;
}

/* out = x with dim replaced by len(index): out[..., i, ...] = x[..., index[i], ...]; any dtype */
cc_status cc_index_select(cc_tensor *out, const cc_tensor *x, int dim, const cc_tensor *index)
{
    return index_op("index_select", 0, x, "x", out, "out", dim, index);
}

/* out[..., index[i], ...] += src[..., i, ...]; duplicates accumulate (in index order on CPU) */
cc_status cc_index_add(cc_tensor *out, int dim, const cc_tensor *index, const cc_tensor *src)
{
    return index_op("index_add", 1, out, "out", src, "src", dim, index);
}

/* checks shared by the cross entropy pair; fills the argument block (count from the targets) */
static cc_status cross_entropy_check(const char *op, cc_cross_entropy_args *a, const cc_tensor *logits,
                                     const cc_tensor *target, int64_t ignore_index)
{
    char buf[160];
    TRY(cc_check_dtype(op, "logits", logits, CC_FLOAT_DTYPES));
    if (logits->ndim != 2)
        return cc_error(CC_ERR_SHAPE, "%s: logits: expected shape (N, C), got %s", op, cc_describe(buf, sizeof buf, logits));
    int64_t want[1] = { logits->shape[0] };
    TRY(cc_check_dtype(op, "target", target, CC_INDEX_DTYPES));
    TRY(cc_check_shape(op, "target", target, 1, want));
    a->dtype = logits->dtype;
    a->target_dtype = target->dtype;
    a->N = logits->shape[0];
    a->C = logits->shape[1];
    a->ignore_index = ignore_index;
    a->logits = cc_tensor_data(logits);
    a->logits_stride[0] = logits->stride[0];
    a->logits_stride[1] = logits->stride[1];
    a->target = cc_tensor_data(target);
    a->target_stride = target->stride[0];
    return CC_OK;
}

static cc_status check_scalar(const char *op, const char *arg, const cc_tensor *t, int dtype)
{
    TRY(cc_check_dtype_as(op, arg, t, dtype, "logits"));
    if (cc_tensor_numel(t) == 1) return CC_OK;
    char buf[160];
    return cc_error(CC_ERR_SHAPE, "%s: %s: expected one element (shape () or (1)), got %s", op, arg, cc_describe(buf, sizeof buf, t));
}

/* loss = mean over rows with target != ignore_index of -log_softmax(logits)[target]; 0 when no row counts */
cc_status cc_cross_entropy_forward(cc_tensor *loss, const cc_tensor *logits, const cc_tensor *target, int64_t ignore_index)
{
    const char *op = "cross_entropy_forward";
    TRY(cc_check_present(op, "loss", loss));
    TRY(cc_check_present(op, "logits", logits));
    TRY(cc_check_present(op, "target", target));
    const cc_tensor *ts[3] = { logits, target, loss };
    const char *names[3] = { "logits", "target", "loss" };
    TRY(cc_check_devices(op, 3, ts, names));
    cc_cross_entropy_args a = { 0 };
    TRY(cross_entropy_check(op, &a, logits, target, ignore_index));
    TRY(check_scalar(op, "loss", loss, logits->dtype));
    TRY(cc_check_disjoint(op, "loss", loss, "logits", logits, 0));
    TRY(cc_check_disjoint(op, "loss", loss, "target", target, 0));
    TRY(cc_check_index_values(op, "target", target, a.C, 1, ignore_index, &a.count));
    a.loss = cc_tensor_data(loss);
    int rc;
#ifdef CC_WITH_CUDA
    if (loss->device == CC_CUDA) rc = cc_cuda_cross_entropy_forward(&a);
    else
#endif
    rc = cc_cpu_cross_entropy_forward(&a);
    TRY(cc_kernel_status(op, loss->device, rc));
    cc_tensor_bump_version(loss);
    return CC_OK;
}

/* dlogits = (softmax(logits) - onehot(target)) * dloss / count; 0 on ignored rows */
cc_status cc_cross_entropy_backward(cc_tensor *dlogits, const cc_tensor *logits, const cc_tensor *target,
                                    const cc_tensor *dloss, int64_t ignore_index)
{
    const char *op = "cross_entropy_backward";
    TRY(cc_check_present(op, "dlogits", dlogits));
    TRY(cc_check_present(op, "logits", logits));
    TRY(cc_check_present(op, "target", target));
    TRY(cc_check_present(op, "dloss", dloss));
    const cc_tensor *ts[4] = { logits, target, dloss, dlogits };
    const char *names[4] = { "logits", "target", "dloss", "dlogits" };
    TRY(cc_check_devices(op, 4, ts, names));
    cc_cross_entropy_args a = { 0 };
    TRY(cross_entropy_check(op, &a, logits, target, ignore_index));
    TRY(check_scalar(op, "dloss", dloss, logits->dtype));
    TRY(cc_check_dtype_as(op, "dlogits", dlogits, logits->dtype, "logits"));
    TRY(cc_check_shape_as(op, "dlogits", dlogits, "logits", logits));
    TRY(cc_check_output(op, "dlogits", dlogits));
    TRY(cc_check_disjoint(op, "dlogits", dlogits, "logits", logits, 0));
    TRY(cc_check_disjoint(op, "dlogits", dlogits, "target", target, 0));
    TRY(cc_check_disjoint(op, "dlogits", dlogits, "dloss", dloss, 0));
    TRY(cc_check_index_values(op, "target", target, a.C, 1, ignore_index, &a.count));
    a.dloss = cc_tensor_data(dloss);
    a.dlogits = cc_tensor_data(dlogits);
    a.dlogits_stride[0] = dlogits->stride[0];
    a.dlogits_stride[1] = dlogits->stride[1];
    int rc;
#ifdef CC_WITH_CUDA
    if (dlogits->device == CC_CUDA) rc = cc_cuda_cross_entropy_backward(&a);
    else
#endif
    rc = cc_cpu_cross_entropy_backward(&a);
    TRY(cc_kernel_status(op, dlogits->device, rc));
    cc_tensor_bump_version(dlogits);
    return CC_OK;
}

/* x (..., D): checks of x, weight (D) and rstd (...) shared by the rms_norm pair */
static cc_status rms_check(const char *op, const cc_tensor *x, const cc_tensor *weight, const cc_tensor *rstd, int rstd_required)
{
    char buf[160];
    TRY(cc_check_dtype(op, "x", x, CC_FLOAT_DTYPES));
    if (x->ndim < 1 || x->shape[x->ndim - 1] == 0)
        return cc_error(CC_ERR_SHAPE, "%s: x: expected shape (..., D) with D >= 1, got %s", op, cc_describe(buf, sizeof buf, x));
    int64_t D = x->shape[x->ndim - 1];
    if (weight) {
        TRY(cc_check_dtype_as(op, "weight", weight, x->dtype, "x"));
        TRY(cc_check_shape(op, "weight", weight, 1, &D));
    }
    if (rstd || rstd_required) {
        TRY(cc_check_present(op, "rstd", rstd));
        TRY(cc_check_dtype_as(op, "rstd", rstd, x->dtype == CC_F64 ? CC_F64 : CC_F32, "f64 for f64 x, else f32"));
        TRY(cc_check_shape(op, "rstd", rstd, x->ndim - 1, x->shape));
    }
    return CC_OK;
}

static void rms_args(cc_rms_norm_args *a, const cc_tensor *x, const cc_tensor *weight, const cc_tensor *rstd)
{
    int last = x->ndim - 1;
    a->dtype = x->dtype;
    a->rstd_dtype = x->dtype == CC_F64 ? CC_F64 : CC_F32;
    ops_rows(&a->rows, x, last);
    ops_rowptr(&a->x, x, last, 1);
    ops_rowptr(&a->rstd, rstd, last, 0);
    a->weight = weight ? cc_tensor_data(weight) : NULL;
    a->weight_stride = weight ? weight->stride[0] : 0;
}

/* out = x * rstd * weight, rstd = 1 / sqrt(mean(x^2, last dim) + eps); weight and rstd may be NULL */
cc_status cc_rms_norm_forward(cc_tensor *out, cc_tensor *rstd, const cc_tensor *x, const cc_tensor *weight, double eps)
{
    const char *op = "rms_norm_forward";
    TRY(cc_check_present(op, "out", out));
    TRY(cc_check_present(op, "x", x));
    const cc_tensor *ins[2] = { x, weight }, *outs[2] = { out, rstd };
    const char *in_names[2] = { "x", "weight" }, *out_names[2] = { "out", "rstd" };
    TRY(cc_check_devices(op, 2, ins, in_names));
    TRY(rms_check(op, x, weight, rstd, 0));
    if (!(eps >= 0.0)) return cc_error(CC_ERR_ARGUMENT, "%s: eps: expected a value >= 0, got %g", op, eps);
    TRY(cc_check_dtype_as(op, "out", out, x->dtype, "x"));
    TRY(cc_check_shape_as(op, "out", out, "x", x));
    TRY(cc_check_io(op, 2, ins, in_names, 2, outs, out_names));

    cc_rms_norm_args a = { .eps = eps };
    rms_args(&a, x, weight, rstd);
    ops_rowptr(&a.out, out, x->ndim - 1, 1);
    int rc;
#ifdef CC_WITH_CUDA
    if (x->device == CC_CUDA) rc = cc_cuda_rms_norm_forward(&a);
    else
#endif
    rc = cc_cpu_rms_norm_forward(&a);
    TRY(cc_kernel_status(op, x->device, rc));
    cc_tensor_bump_version(out);
    cc_tensor_bump_version(rstd);
    return CC_OK;
}

/* dx (and dweight, when given: overwritten) from x, weight, the forward's rstd and dout */
cc_status cc_rms_norm_backward(cc_tensor *dx, cc_tensor *dweight, const cc_tensor *x, const cc_tensor *weight,
                               const cc_tensor *rstd, const cc_tensor *dout)
{
    const char *op = "rms_norm_backward";
    TRY(cc_check_present(op, "dx", dx));
    TRY(cc_check_present(op, "x", x));
    TRY(cc_check_present(op, "dout", dout));
    const cc_tensor *ins[4] = { x, weight, rstd, dout }, *outs[2] = { dx, dweight };
    const char *in_names[4] = { "x", "weight", "rstd", "dout" }, *out_names[2] = { "dx", "dweight" };
    TRY(cc_check_devices(op, 4, ins, in_names));
    TRY(rms_check(op, x, weight, rstd, 1));
    TRY(cc_check_dtype_as(op, "dout", dout, x->dtype, "x"));
    TRY(cc_check_shape_as(op, "dout", dout, "x", x));
    TRY(cc_check_dtype_as(op, "dx", dx, x->dtype, "x"));
    TRY(cc_check_shape_as(op, "dx", dx, "x", x));
    if (dweight) {
        int64_t D = x->shape[x->ndim - 1];
        TRY(cc_check_dtype_as(op, "dweight", dweight, x->dtype, "x"));
        TRY(cc_check_shape(op, "dweight", dweight, 1, &D));
    }
    TRY(cc_check_io(op, 4, ins, in_names, 2, outs, out_names));

    cc_rms_norm_args a = { 0 };
    rms_args(&a, x, weight, rstd);
    ops_rowptr(&a.dout, dout, x->ndim - 1, 1);
    ops_rowptr(&a.dx, dx, x->ndim - 1, 1);
    a.dweight = dweight ? cc_tensor_data(dweight) : NULL;
    a.dweight_stride = dweight ? dweight->stride[0] : 0;
    int rc;
#ifdef CC_WITH_CUDA
    if (x->device == CC_CUDA) rc = cc_cuda_rms_norm_backward(&a);
    else
#endif
    rc = cc_get_reference_kernels() ? cc_cpu_rms_norm_backward_ref(&a) : cc_cpu_rms_norm_backward(&a);
    TRY(cc_kernel_status(op, x->device, rc));
    cc_tensor_bump_version(dx);
    cc_tensor_bump_version(dweight);
    return CC_OK;
}
