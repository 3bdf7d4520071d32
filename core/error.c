/* Per-thread error messages and the argument checks every op entry point uses. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "internal.h"

/* Long enough for an op name, two argument names and a couple of shapes. */
#define CC_MSG_LEN 1024

static _Thread_local char cc_msg[CC_MSG_LEN];

cc_status cc_error(cc_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cc_msg, sizeof cc_msg, fmt, ap);
    va_end(ap);
    return code;
}

const char *cc_last_error(void) { return cc_msg; }

void cc_clear_error(void) { cc_msg[0] = '\0'; }

/* Appends to buf at *pos, never past len; returns buf. */
static void append(char *buf, size_t len, size_t *pos, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
    if (*pos >= len) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
    va_end(ap);
    if (n > 0) *pos += (size_t)n;
}

static void describe_shape(char *buf, size_t len, size_t *pos, int ndim, const int64_t *shape)
{
    append(buf, len, pos, "(");
    for (int i = 0; i < ndim; i++)
        append(buf, len, pos, i ? ", %lld" : "%lld", (long long)shape[i]);
    append(buf, len, pos, ")");
}

const char *cc_describe(char *buf, size_t len, const cc_tensor *t)
{
    size_t pos = 0;
    if (len == 0) return buf;
    buf[0] = '\0';
    if (!t) {
        append(buf, len, &pos, "nil");
        return buf;
    }
    describe_shape(buf, len, &pos, t->ndim, t->shape);
    append(buf, len, &pos, " %s", cc_dtype_name(t->dtype));
    if (t->device == CC_CUDA) append(buf, len, &pos, " cuda:%d", t->device_index);
    else append(buf, len, &pos, " cpu");
    return buf;
}

cc_status cc_check_ndim(const char *op, const char *arg, const cc_tensor *t, int ndim)
{
    char d[160];
    if (!t) return cc_error(CC_ERR_ARGUMENT, "%s: %s: expected a tensor with %d dims, got nil", op, arg, ndim);
    if (t->ndim != ndim)
        return cc_error(CC_ERR_SHAPE, "%s: %s: expected %d dims, got %s", op, arg, ndim, cc_describe(d, sizeof d, t));
    return CC_OK;
}

cc_status cc_check_shape(const char *op, const char *arg, const cc_tensor *t, int ndim, const int64_t *expected)
{
    char want[160], d[160];
    size_t pos = 0;
    want[0] = '\0';
    append(want, sizeof want, &pos, "(");
    for (int i = 0; i < ndim; i++) {
        if (expected[i] < 0) append(want, sizeof want, &pos, i ? ", *" : "*");
        else append(want, sizeof want, &pos, i ? ", %lld" : "%lld", (long long)expected[i]);
    }
    append(want, sizeof want, &pos, ")");
    if (!t) return cc_error(CC_ERR_ARGUMENT, "%s: %s: expected a tensor of shape %s, got nil", op, arg, want);
    int ok = t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        if (expected[i] >= 0 && t->shape[i] != expected[i]) ok = 0;
    if (!ok)
        return cc_error(CC_ERR_SHAPE, "%s: %s: expected shape %s, got %s", op, arg, want, cc_describe(d, sizeof d, t));
    return CC_OK;
}

cc_status cc_check_dtype(const char *op, const char *arg, const cc_tensor *t, unsigned allowed)
{
    char want[80], d[160];
    size_t pos = 0;
    int count = 0, total = 0;
    want[0] = '\0';
    for (int dt = CC_F32; dt <= CC_I64; dt++) total += (allowed >> dt) & 1u;
    for (int dt = CC_F32; dt <= CC_I64; dt++) {
        if (!((allowed >> dt) & 1u)) continue;
        count++;
        const char *sep = count == 1 ? "" : count == total ? " or " : ", ";
        append(want, sizeof want, &pos, "%s%s", sep, cc_dtype_name(dt));
    }
    if (!t) return cc_error(CC_ERR_ARGUMENT, "%s: %s: expected a tensor of dtype %s, got nil", op, arg, want);
    if (t->dtype < 0 || t->dtype > CC_I64 || !((allowed >> t->dtype) & 1u))
        return cc_error(CC_ERR_DTYPE, "%s: %s: expected dtype %s, got %s", op, arg, want, cc_describe(d, sizeof d, t));
    return CC_OK;
}

static void device_name(char *buf, size_t len, const cc_tensor *t)
{
    if (t->device == CC_CUDA) snprintf(buf, len, "cuda:%d", t->device_index);
    else snprintf(buf, len, "cpu");
}

cc_status cc_check_same_device(const char *op, int n, const cc_tensor *const *ts, const char *const *names)
{
    int first = -1;
    for (int i = 0; i < n; i++) {
        if (!ts[i]) continue;
        if (first < 0) { first = i; continue; }
        if (ts[i]->device != ts[first]->device ||
            (ts[i]->device == CC_CUDA && ts[i]->device_index != ts[first]->device_index)) {
            char a[32], b[32];
            device_name(a, sizeof a, ts[first]);
            device_name(b, sizeof b, ts[i]);
            return cc_error(CC_ERR_DEVICE, "%s: all tensors must be on one device: %s is on %s, %s is on %s",
                            op, names[first], a, names[i], b);
        }
    }
    return CC_OK;
}

cc_status cc_check_no_overlap(const char *op, const char *out_arg, const cc_tensor *out, const char *in_arg, const cc_tensor *in)
{
    if (!out || !in || out->storage != in->storage) return CC_OK;
    if (cc_tensor_numel(out) == 0 || cc_tensor_numel(in) == 0) return CC_OK;
    int64_t olo, ohi, ilo, ihi;
    cc_tensor_extent(out, &olo, &ohi);
    cc_tensor_extent(in, &ilo, &ihi);
    /* byte ranges, since the two views may have different dtypes */
    int64_t os = cc_dtype_size(out->dtype), is = cc_dtype_size(in->dtype);
    int64_t ob = (out->offset + olo) * os, oe = (out->offset + ohi + 1) * os;
    int64_t ib = (in->offset + ilo) * is, ie = (in->offset + ihi + 1) * is;
    if (ob < ie && ib < oe) {
        char a[160], b[160];
        return cc_error(CC_ERR_ARGUMENT, "%s: %s %s overlaps %s %s in memory; pass a separate output",
                        op, out_arg, cc_describe(a, sizeof a, out), in_arg, cc_describe(b, sizeof b, in));
    }
    return CC_OK;
}
