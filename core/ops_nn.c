/* Layer ops for small models: index_select / index_add (embedding and its backward), cross entropy
   and RMS norm, forward and backward. Outputs never overlap inputs. Index and target values are
   0-based and checked (read back from the device for cuda tensors) before anything is written. */
#include "ops_check.h"

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

/* out = x with dim replaced by len(index): out[..., i, ...] = x[..., index[i], ...]; any dtype */
cc_status cc_index_select(cc_tensor *out, const cc_tensor *x, int dim, const cc_tensor *index)
{
    const char *op = "index_select";
    cc_status st;
    if ((st = ops_require(op, "out", out)) || (st = ops_require(op, "x", x)) || (st = ops_require(op, "index", index))) return st;
    const cc_tensor *ts[3] = { out, x, index };
    const char *names[3] = { "out", "x", "index" };
    if ((st = ops_check_device(op, 3, ts, names))) return st;
    if ((st = ops_check_dim(op, x, dim))) return st;
    if ((st = cc_check_dtype(op, "index", index, CC_INDEX_DTYPES))) return st;
    if ((st = cc_check_ndim(op, "index", index, 1))) return st;
    if ((st = ops_check_dtype_as(op, "out", out, x->dtype, "x"))) return st;
    int64_t want[8];
    for (int d = 0; d < x->ndim; d++) want[d] = d == dim ? index->shape[0] : x->shape[d];
    if ((st = cc_check_shape(op, "out", out, x->ndim, want))) return st;
    if ((st = ops_check_output(op, "out", out))) return st;
    if ((st = ops_check_disjoint(op, "out", out, "x", x, 0)) || (st = ops_check_disjoint(op, "out", out, "index", index, 0)))
        return st;
    int64_t count;
    if ((st = ops_check_index_values(op, "index", index, x->shape[dim], 0, 0, &count))) return st;
    cc_index_args a;
    index_args(&a, out, x, dim, index);
    return ops_done(op, out->device, run_index(&a, out->device, 0), out, NULL);
}

/* out[..., index[i], ...] += src[..., i, ...]; duplicates accumulate (in index order on CPU) */
cc_status cc_index_add(cc_tensor *out, int dim, const cc_tensor *index, const cc_tensor *src)
{
    const char *op = "index_add";
    cc_status st;
    if ((st = ops_require(op, "out", out)) || (st = ops_require(op, "index", index)) || (st = ops_require(op, "src", src))) return st;
    const cc_tensor *ts[3] = { out, index, src };
    const char *names[3] = { "out", "index", "src" };
    if ((st = ops_check_device(op, 3, ts, names))) return st;
    if ((st = ops_check_dim(op, out, dim))) return st;
    if ((st = cc_check_dtype(op, "out", out, CC_FLOAT_DTYPES))) return st;
    if ((st = ops_check_dtype_as(op, "src", src, out->dtype, "out"))) return st;
    if ((st = cc_check_dtype(op, "index", index, CC_INDEX_DTYPES))) return st;
    if ((st = cc_check_ndim(op, "index", index, 1))) return st;
    int64_t want[8];
    for (int d = 0; d < out->ndim; d++) want[d] = d == dim ? index->shape[0] : out->shape[d];
    if ((st = cc_check_shape(op, "src", src, out->ndim, want))) return st;
    if ((st = ops_check_output(op, "out", out))) return st;
    if ((st = ops_check_disjoint(op, "out", out, "src", src, 0)) || (st = ops_check_disjoint(op, "out", out, "index", index, 0)))
        return st;
    int64_t count;
    if ((st = ops_check_index_values(op, "index", index, out->shape[dim], 0, 0, &count))) return st;
    cc_index_args a;
    index_args(&a, src, out, dim, index);
    return ops_done(op, out->device, run_index(&a, out->device, 1), out, NULL);
}

/* checks shared by the cross entropy pair; fills the argument block (count from the targets) */
static cc_status cross_entropy_check(const char *op, cc_cross_entropy_args *a, const cc_tensor *logits,
                                     const cc_tensor *target, int64_t ignore_index)
{
    cc_status st;
    char buf[160];
    if ((st = cc_check_dtype(op, "logits", logits, CC_FLOAT_DTYPES))) return st;
    if (logits->ndim != 2)
        return cc_error(CC_ERR_SHAPE, "%s: logits: expected shape (N, C), got %s", op, cc_describe(buf, sizeof buf, logits));
    int64_t want[1] = { logits->shape[0] };
    if ((st = cc_check_dtype(op, "target", target, CC_INDEX_DTYPES))) return st;
    if ((st = cc_check_shape(op, "target", target, 1, want))) return st;
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
    cc_status st = ops_check_dtype_as(op, arg, t, dtype, "logits");
    if (st) return st;
    if (cc_tensor_numel(t) == 1) return CC_OK;
    char buf[160];
    return cc_error(CC_ERR_SHAPE, "%s: %s: expected one element (shape () or (1)), got %s", op, arg, cc_describe(buf, sizeof buf, t));
}

/* loss = mean over rows with target != ignore_index of -log_softmax(logits)[target]; 0 when no row counts */
cc_status cc_cross_entropy_forward(cc_tensor *loss, const cc_tensor *logits, const cc_tensor *target, int64_t ignore_index)
{
    const char *op = "cross_entropy_forward";
    cc_status st;
    if ((st = ops_require(op, "loss", loss)) || (st = ops_require(op, "logits", logits)) ||
        (st = ops_require(op, "target", target)))
        return st;
    const cc_tensor *ts[3] = { loss, logits, target };
    const char *names[3] = { "loss", "logits", "target" };
    if ((st = ops_check_device(op, 3, ts, names))) return st;
    cc_cross_entropy_args a = { 0 };
    if ((st = cross_entropy_check(op, &a, logits, target, ignore_index))) return st;
    if ((st = check_scalar(op, "loss", loss, logits->dtype))) return st;
    if ((st = ops_check_disjoint(op, "loss", loss, "logits", logits, 0)) ||
        (st = ops_check_disjoint(op, "loss", loss, "target", target, 0)))
        return st;
    if ((st = ops_check_index_values(op, "target", target, a.C, 1, ignore_index, &a.count))) return st;
    a.loss = cc_tensor_data(loss);
    int rc;
#ifdef CC_WITH_CUDA
    if (loss->device == CC_CUDA) rc = cc_cuda_cross_entropy_forward(&a);
    else
#endif
    rc = cc_cpu_cross_entropy_forward(&a);
    return ops_done(op, loss->device, rc, loss, NULL);
}

/* dlogits = (softmax(logits) - onehot(target)) * dloss / count; 0 on ignored rows */
cc_status cc_cross_entropy_backward(cc_tensor *dlogits, const cc_tensor *logits, const cc_tensor *target,
                                    const cc_tensor *dloss, int64_t ignore_index)
{
    const char *op = "cross_entropy_backward";
    cc_status st;
    if ((st = ops_require(op, "dlogits", dlogits)) || (st = ops_require(op, "logits", logits)) ||
        (st = ops_require(op, "target", target)) || (st = ops_require(op, "dloss", dloss)))
        return st;
    const cc_tensor *ts[4] = { dlogits, logits, target, dloss };
    const char *names[4] = { "dlogits", "logits", "target", "dloss" };
    if ((st = ops_check_device(op, 4, ts, names))) return st;
    cc_cross_entropy_args a = { 0 };
    if ((st = cross_entropy_check(op, &a, logits, target, ignore_index))) return st;
    if ((st = check_scalar(op, "dloss", dloss, logits->dtype))) return st;
    if ((st = ops_check_dtype_as(op, "dlogits", dlogits, logits->dtype, "logits"))) return st;
    if ((st = ops_check_shape_as(op, "dlogits", dlogits, "logits", logits))) return st;
    if ((st = ops_check_output(op, "dlogits", dlogits))) return st;
    if ((st = ops_check_disjoint(op, "dlogits", dlogits, "logits", logits, 0)) ||
        (st = ops_check_disjoint(op, "dlogits", dlogits, "target", target, 0)) ||
        (st = ops_check_disjoint(op, "dlogits", dlogits, "dloss", dloss, 0)))
        return st;
    if ((st = ops_check_index_values(op, "target", target, a.C, 1, ignore_index, &a.count))) return st;
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
    return ops_done(op, dlogits->device, rc, dlogits, NULL);
}

/* x (..., D): checks of x, weight (D) and rstd (...) shared by the rms_norm pair */
static cc_status rms_check(const char *op, const cc_tensor *x, const cc_tensor *weight, const cc_tensor *rstd, int rstd_required)
{
    cc_status st;
    char buf[160];
    if ((st = cc_check_dtype(op, "x", x, CC_FLOAT_DTYPES))) return st;
    if (x->ndim < 1 || x->shape[x->ndim - 1] == 0)
        return cc_error(CC_ERR_SHAPE, "%s: x: expected shape (..., D) with D >= 1, got %s", op, cc_describe(buf, sizeof buf, x));
    int64_t D = x->shape[x->ndim - 1];
    if (weight) {
        if ((st = ops_check_dtype_as(op, "weight", weight, x->dtype, "x"))) return st;
        if ((st = cc_check_shape(op, "weight", weight, 1, &D))) return st;
    }
    if (rstd || rstd_required) {
        if ((st = ops_require(op, "rstd", rstd))) return st;
        if ((st = ops_check_dtype_as(op, "rstd", rstd, x->dtype == CC_F64 ? CC_F64 : CC_F32, "f64 for f64 x, else f32"))) return st;
        if ((st = cc_check_shape(op, "rstd", rstd, x->ndim - 1, x->shape))) return st;
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
    cc_status st;
    if ((st = ops_require(op, "out", out)) || (st = ops_require(op, "x", x))) return st;
    const cc_tensor *ts[4] = { out, rstd, x, weight };
    const char *names[4] = { "out", "rstd", "x", "weight" };
    if ((st = ops_check_device(op, 4, ts, names))) return st;
    if ((st = rms_check(op, x, weight, rstd, 0))) return st;
    if (!(eps >= 0.0)) return cc_error(CC_ERR_ARGUMENT, "%s: eps: expected a value >= 0, got %g", op, eps);
    if ((st = ops_check_dtype_as(op, "out", out, x->dtype, "x"))) return st;
    if ((st = ops_check_shape_as(op, "out", out, "x", x))) return st;
    if ((st = ops_check_output(op, "out", out))) return st;
    if (rstd && (st = ops_check_output(op, "rstd", rstd))) return st;
    const cc_tensor *outs[2] = { out, rstd };
    const char *onames[2] = { "out", "rstd" };
    const cc_tensor *ins[3] = { x, weight, out };
    const char *inames[3] = { "x", "weight", "out" };
    for (int o = 0; o < 2; o++)
        for (int i = 0; i < 2 + o; i++)
            if ((st = ops_check_disjoint(op, onames[o], outs[o], inames[i], ins[i], 0))) return st;

    cc_rms_norm_args a = { .eps = eps };
    rms_args(&a, x, weight, rstd);
    ops_rowptr(&a.out, out, x->ndim - 1, 1);
    int rc;
#ifdef CC_WITH_CUDA
    if (x->device == CC_CUDA) rc = cc_cuda_rms_norm_forward(&a);
    else
#endif
    rc = cc_cpu_rms_norm_forward(&a);
    return ops_done(op, x->device, rc, out, rstd);
}

/* dx (and dweight, when given: overwritten) from x, weight, the forward's rstd and dout */
cc_status cc_rms_norm_backward(cc_tensor *dx, cc_tensor *dweight, const cc_tensor *x, const cc_tensor *weight,
                               const cc_tensor *rstd, const cc_tensor *dout)
{
    const char *op = "rms_norm_backward";
    cc_status st;
    if ((st = ops_require(op, "dx", dx)) || (st = ops_require(op, "x", x)) || (st = ops_require(op, "dout", dout))) return st;
    const cc_tensor *ts[6] = { dx, dweight, x, weight, rstd, dout };
    const char *names[6] = { "dx", "dweight", "x", "weight", "rstd", "dout" };
    if ((st = ops_check_device(op, 6, ts, names))) return st;
    if ((st = rms_check(op, x, weight, rstd, 1))) return st;
    if ((st = ops_check_dtype_as(op, "dout", dout, x->dtype, "x")) || (st = ops_check_shape_as(op, "dout", dout, "x", x))) return st;
    if ((st = ops_check_dtype_as(op, "dx", dx, x->dtype, "x")) || (st = ops_check_shape_as(op, "dx", dx, "x", x))) return st;
    if (dweight) {
        int64_t D = x->shape[x->ndim - 1];
        if ((st = ops_check_dtype_as(op, "dweight", dweight, x->dtype, "x"))) return st;
        if ((st = cc_check_shape(op, "dweight", dweight, 1, &D))) return st;
        if ((st = ops_check_output(op, "dweight", dweight))) return st;
    }
    if ((st = ops_check_output(op, "dx", dx))) return st;
    const cc_tensor *outs[2] = { dx, dweight };
    const char *onames[2] = { "dx", "dweight" };
    const cc_tensor *ins[5] = { x, weight, rstd, dout, dx };
    const char *inames[5] = { "x", "weight", "rstd", "dout", "dx" };
    for (int o = 0; o < 2; o++)
        for (int i = 0; i < 4 + o; i++)
            if ((st = ops_check_disjoint(op, onames[o], outs[o], inames[i], ins[i], 0))) return st;

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
    return ops_done(op, x->device, rc, dx, dweight);
}
