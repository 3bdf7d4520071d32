/* Argument checks shared by the tensor-op entry points (see ops_check.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ops_check.h"

cc_status ops_require(const char *op, const char *arg, const cc_tensor *t)
{
    if (!t) return cc_error(CC_ERR_ARGUMENT, "%s: %s: expected a tensor, got nil", op, arg);
    return CC_OK;
}

cc_status ops_check_device(const char *op, int n, const cc_tensor *const *ts, const char *const *names)
{
    cc_status st = cc_check_same_device(op, n, ts, names);
    if (st) return st;
#ifndef CC_WITH_CUDA
    for (int i = 0; i < n; i++)
        if (ts[i] && ts[i]->device == CC_CUDA)
            return cc_error(CC_ERR_UNSUPPORTED, "%s: %s: expected a cpu tensor (this build has no CUDA), got cuda", op, names[i]);
#endif
    return CC_OK;
}

cc_status ops_check_dtype_as(const char *op, const char *arg, const cc_tensor *t, int dtype, const char *as)
{
    if (t->dtype == dtype) return CC_OK;
    char buf[160];
    return cc_error(CC_ERR_DTYPE, "%s: %s: expected dtype %s (%s), got %s", op, arg, cc_dtype_name(dtype), as,
                    cc_describe(buf, sizeof buf, t));
}

static void shape_str(char *buf, size_t len, int ndim, const int64_t *v)
{
    size_t k = (size_t)snprintf(buf, len, "(");
    for (int d = 0; d < ndim && k < len; d++)
        k += (size_t)snprintf(buf + k, len - k, d ? ", %lld" : "%lld", (long long)v[d]);
    if (k < len) snprintf(buf + k, len - k, ndim == 1 ? ",)" : ")");
}

cc_status ops_check_shape_as(const char *op, const char *arg, const cc_tensor *t, const char *ref_arg, const cc_tensor *ref)
{
    int same = t->ndim == ref->ndim;
    for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == ref->shape[d];
    if (same) return CC_OK;
    char want[160], got[160];
    shape_str(want, sizeof want, ref->ndim, ref->shape);
    return cc_error(CC_ERR_SHAPE, "%s: %s: expected shape %s (as %s), got %s", op, arg, want, ref_arg,
                    cc_describe(got, sizeof got, t));
}

cc_status ops_check_output(const char *op, const char *arg, const cc_tensor *t)
{
    /* sufficient test: sorted by |stride|, each dim's stride steps past everything the smaller
       dims span. Layouts it rejects that do not overlap are exotic (interleaved strides). */
    int64_t sh[8], st[8];
    int n = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] == 0) return CC_OK;
        if (t->shape[d] == 1) continue;
        sh[n] = t->shape[d]; st[n] = llabs(t->stride[d]); n++;
    }
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && st[j] < st[j - 1]; j--) {
            int64_t a = st[j]; st[j] = st[j - 1]; st[j - 1] = a;
            a = sh[j]; sh[j] = sh[j - 1]; sh[j - 1] = a;
        }
    int64_t span = 0;   /* largest offset the smaller dims reach */
    for (int i = 0; i < n; i++) {
        if (st[i] <= span) {
            char buf[160], strides[160];
            shape_str(strides, sizeof strides, t->ndim, t->stride);
            return cc_error(CC_ERR_ARGUMENT, "%s: %s: expected an output whose elements do not overlap, got %s with strides %s",
                            op, arg, cc_describe(buf, sizeof buf, t), strides);
        }
        span += st[i] * (sh[i] - 1);
    }
    return CC_OK;
}

static int same_view(const cc_tensor *a, const cc_tensor *b)
{
    if (!cc_tensor_same_storage(a, b) || a->offset != b->offset || a->ndim != b->ndim) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d] || (a->shape[d] > 1 && a->stride[d] != b->stride[d])) return 0;
    return 1;
}

cc_status ops_check_disjoint(const char *op, const char *out_arg, const cc_tensor *out,
                             const char *in_arg, const cc_tensor *in, int inplace_ok)
{
    if (!out || !in) return CC_OK;
    if (inplace_ok && same_view(out, in)) return CC_OK;
    return cc_check_no_overlap(op, out_arg, out, in_arg, in);
}

cc_status ops_check_dim(const char *op, const cc_tensor *t, int dim)
{
    if (dim >= 0 && dim < t->ndim) return CC_OK;
    char buf[160];
    return cc_error(CC_ERR_ARGUMENT, "%s: dim: expected 0 <= dim < %d (0-based) for x %s, got %d", op, t->ndim,
                    cc_describe(buf, sizeof buf, t), dim);
}

cc_status ops_check_index_values(const char *op, const char *arg, const cc_tensor *index, int64_t hi,
                                 int has_ignore, int64_t ignore, int64_t *count)
{
    char buf[160];
    if (index->ndim != 1)
        return cc_error(CC_ERR_SHAPE, "%s: %s: expected a 1-D tensor, got %s", op, arg, cc_describe(buf, sizeof buf, index));
    cc_status st = cc_check_dtype(op, arg, index, CC_INDEX_DTYPES);
    if (st) return st;
    int64_t n = index->shape[0], es = cc_dtype_size(index->dtype), lo, top;
    *count = 0;
    if (n == 0) return CC_OK;
    cc_tensor_extent(index, &lo, &top);
    const char *base = (const char *)cc_tensor_data(index) + lo * es;
    void *host = NULL;
    if (index->device != CC_CPU) {   /* values live on the device: bring the spanned bytes over */
        host = malloc((size_t)((top - lo + 1) * es));
        if (!host) return cc_error(CC_ERR_MEMORY, "%s: %s: out of host memory reading %lld index values", op, arg, (long long)n);
        st = cc_device_memcpy(host, CC_CPU, base, index->device, (top - lo + 1) * es);
        if (st) { free(host); return st; }
        base = host;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t at = i * index->stride[0] - lo;
        int64_t v = index->dtype == CC_I32 ? (int64_t)((const int32_t *)base)[at] : ((const int64_t *)base)[at];
        if (has_ignore && v == ignore) continue;
        if (v < 0 || v >= hi) {
            free(host);
            if (has_ignore)
                return cc_error(CC_ERR_ARGUMENT, "%s: %s: expected values in [0, %lld) (0-based) or ignore_index %lld, got %lld at position %lld",
                                op, arg, (long long)hi, (long long)ignore, (long long)v, (long long)i);
            return cc_error(CC_ERR_ARGUMENT, "%s: %s: expected values in [0, %lld) (0-based), got %lld at position %lld",
                            op, arg, (long long)hi, (long long)v, (long long)i);
        }
        (*count)++;
    }
    free(host);
    return CC_OK;
}

void ops_rows(cc_rows *rows, const cc_tensor *t, int dim)
{
    rows->ndim = 0;
    rows->nrows = 1;
    rows->n = t->shape[dim];
    for (int d = 0; d < t->ndim; d++) {
        if (d == dim) continue;
        rows->shape[rows->ndim++] = t->shape[d];
        rows->nrows *= t->shape[d];
    }
}

void ops_rowptr(cc_rowptr *p, const cc_tensor *t, int dim, int t_has_dim)
{
    memset(p, 0, sizeof *p);
    if (!t) return;
    p->data = cc_tensor_data(t);
    int k = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (t_has_dim && d == dim) { p->stride = t->stride[d]; continue; }
        p->outer[k++] = t->stride[d];
    }
}

cc_status ops_done(const char *op, int device, int st, cc_tensor *out0, cc_tensor *out1)
{
    if (st) {
        /* CUDA launchers set their own message */
        if (device == CC_CPU) return cc_error((cc_status)st, "%s: out of host memory for scratch buffers", op);
        return (cc_status)st;
    }
    if (out0) cc_tensor_bump_version(out0);
    if (out1) cc_tensor_bump_version(out1);
    return CC_OK;
}
