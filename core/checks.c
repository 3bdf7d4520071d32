/* Argument checks shared by every entry point of core/ (see checks.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "checks.h"
#include "dtype.h"

#define DESC(buf, t) cc_describe(buf, sizeof buf, (t))

cc_status cc_check_present(const char *op, const char *arg, const cc_tensor *t)
{
    if (!t || !t->storage) return cc_error(CC_ERR_ARGUMENT, "%s: %s: expected a tensor, got nil", op, arg);
    return CC_OK;
}

cc_status cc_check_ndim(const char *op, const char *arg, const cc_tensor *t, int ndim)
{
    char d[160];
    if (!t) return cc_error(CC_ERR_ARGUMENT, "%s: %s: expected a tensor with %d dims, got nil", op, arg, ndim);
    if (t->ndim != ndim) return cc_error(CC_ERR_SHAPE, "%s: %s: expected %d dims, got %s", op, arg, ndim, DESC(d, t));
    return CC_OK;
}

cc_status cc_check_shape(const char *op, const char *arg, const cc_tensor *t, int ndim, const int64_t *expected)
{
    int ok = t && t->ndim == ndim;
    for (int i = 0; ok && i < ndim; i++)
        if (expected[i] >= 0 && t->shape[i] != expected[i]) ok = 0;
    if (ok) return CC_OK;
    /* the message only on failure: this runs on every call of every op */
    char want[160], d[160];
    size_t pos = 0;
    want[pos++] = '(';
    for (int i = 0; i < ndim && pos < sizeof want; i++) {
        int n = expected[i] < 0 ? snprintf(want + pos, sizeof want - pos, i ? ", *" : "*")
                                : snprintf(want + pos, sizeof want - pos, i ? ", %lld" : "%lld", (long long)expected[i]);
        if (n > 0) pos += (size_t)n;
    }
    if (pos < sizeof want - 1) want[pos++] = ')';
    want[pos < sizeof want ? pos : sizeof want - 1] = '\0';
    if (!t) return cc_error(CC_ERR_ARGUMENT, "%s: %s: expected a tensor of shape %s, got nil", op, arg, want);
    return cc_error(CC_ERR_SHAPE, "%s: %s: expected shape %s, got %s", op, arg, want, DESC(d, t));
}

cc_status cc_check_shape_as(const char *op, const char *arg, const cc_tensor *t, const char *ref_arg, const cc_tensor *ref)
{
    int same = t->ndim == ref->ndim;
    for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == ref->shape[d];
    if (same) return CC_OK;
    char want[160], got[160];
    return cc_error(CC_ERR_SHAPE, "%s: %s: expected shape %s (as %s), got %s", op, arg,
                    cc_shape_str(want, sizeof want, ref->ndim, ref->shape), ref_arg, DESC(got, t));
}

cc_status cc_check_dtype(const char *op, const char *arg, const cc_tensor *t, unsigned allowed)
{
    if (t && t->dtype >= 0 && t->dtype <= CC_I64 && ((allowed >> t->dtype) & 1u)) return CC_OK;
    /* the message only on failure: this runs on every call of every op */
    char want[80], d[160];
    size_t pos = 0;
    int count = 0, total = 0;
    want[0] = '\0';
    for (int dt = CC_F32; dt <= CC_I64; dt++) total += (allowed >> dt) & 1u;
    for (int dt = CC_F32; dt <= CC_I64; dt++) {
        if (!((allowed >> dt) & 1u)) continue;
        count++;
        const char *sep = count == 1 ? "" : count == total ? " or " : ", ";
        int n = snprintf(want + pos, sizeof want - pos, "%s%s", sep, cc_dtype_name(dt));
        if (n > 0 && pos + (size_t)n < sizeof want) pos += (size_t)n;
    }
    if (!t) return cc_error(CC_ERR_ARGUMENT, "%s: %s: expected a tensor of dtype %s, got nil", op, arg, want);
    return cc_error(CC_ERR_DTYPE, "%s: %s: expected dtype %s, got %s", op, arg, want, DESC(d, t));
}

cc_status cc_check_dtype_as(const char *op, const char *arg, const cc_tensor *t, int dtype, const char *owner)
{
    if (!t || t->dtype == dtype) return CC_OK;
    char d[160];
    return cc_error(CC_ERR_DTYPE, "%s: %s: expected dtype %s (the dtype of %s), got %s", op, arg, cc_dtype_name(dtype), owner,
                    DESC(d, t));
}

cc_status cc_check_dim(const char *op, const cc_tensor *t, int dim)
{
    if (dim >= 0 && dim < t->ndim) return CC_OK;
    char d[160];
    return cc_error(CC_ERR_ARGUMENT, "%s: dim: expected 0 <= dim < %d (0-based) for x %s, got %d", op, t->ndim, DESC(d, t), dim);
}

cc_status cc_no_cuda(const char *op)
{
    return cc_error(CC_ERR_UNSUPPORTED, "%s: causalconv was built without CUDA (make found no nvcc)", op);
}

static const char *device_name(char *buf, size_t len, const cc_tensor *t)
{
    if (t->device == CC_CUDA) snprintf(buf, len, "cuda:%d", t->device_index);
    else snprintf(buf, len, "cpu");
    return buf;
}

cc_status cc_check_devices(const char *op, int n, const cc_tensor *const *ts, const char *const *names)
{
    int first = -1;
    for (int i = 0; i < n; i++) {
        if (!ts[i]) continue;
        if (first < 0) {
            first = i;
#ifndef CC_WITH_CUDA
            if (ts[i]->device == CC_CUDA) return cc_no_cuda(op);
#endif
            continue;
        }
        if (ts[i]->device != ts[first]->device ||
            (ts[i]->device == CC_CUDA && ts[i]->device_index != ts[first]->device_index)) {
            char a[32], b[32];
            return cc_error(CC_ERR_DEVICE, "%s: %s: expected a tensor on %s (the device of %s; all tensors must be on one device), got one on %s", op, names[i],
                            device_name(a, sizeof a, ts[first]), names[first], device_name(b, sizeof b, ts[i]));
        }
    }
    return CC_OK;
}

/* ---- memory overlap ------------------------------------------------------------------------ */

/* Elements compared at most, per check: past this the check refuses rather than spend the time. */
#define MAX_COMPARED ((int64_t)1 << 27)

/* t's distinct addresses as a view without its stride-0 dims; its element count. */
static int64_t distinct_view(const cc_tensor *t, cc_tensor *v)
{
    *v = *t;
    v->ndim = 0;
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] == 0) return 0;
        if (t->shape[d] == 1 || t->stride[d] == 0) continue;
        v->shape[v->ndim] = t->shape[d];
        v->stride[v->ndim++] = t->stride[d];
        n *= t->shape[d];
    }
    return n;
}

/* Calls visit(ctx, byte offset of the element from the storage base) for every element of t (a
   view from distinct_view); stops at the first visit returning nonzero. */
static int each_element(const cc_tensor *t, int (*visit)(void *ctx, int64_t byte), void *ctx)
{
    int64_t n = cc_tensor_numel(t), es = cc_dtype_size(t->dtype), idx[8] = {0};
    for (int64_t k = 0; k < n; k++) {
        int64_t off = t->offset;
        for (int d = 0; d < t->ndim; d++) off += idx[d] * t->stride[d];
        if (visit(ctx, off * es)) return 1;
        for (int d = t->ndim - 1; d >= 0 && ++idx[d] == t->shape[d]; d--) idx[d] = 0;
    }
    return 0;
}

/* One bit per byte of [lo, hi) of a storage. */
typedef struct bytemap {
    uint8_t *bits;
    int64_t lo, hi, es;   /* es: element size of the tensor being visited */
} bytemap;

static int bytemap_set(void *ctx, int64_t byte)   /* 1 when a byte was already set */
{
    bytemap *m = ctx;
    int hit = 0;
    for (int64_t b = byte; b < byte + m->es; b++) {
        if (b < m->lo || b >= m->hi) continue;
        int64_t i = b - m->lo;
        hit |= (m->bits[i >> 3] >> (i & 7)) & 1;
        m->bits[i >> 3] |= (uint8_t)(1u << (i & 7));
    }
    return hit;
}

static int bytemap_test(void *ctx, int64_t byte)
{
    bytemap *m = ctx;
    for (int64_t b = byte; b < byte + m->es; b++) {
        if (b < m->lo || b >= m->hi) continue;
        int64_t i = b - m->lo;
        if ((m->bits[i >> 3] >> (i & 7)) & 1) return 1;
    }
    return 0;
}

/* Byte range [*lo, *hi) that t's elements occupy in its storage (empty for an empty tensor). */
static void byte_range(const cc_tensor *t, int64_t *lo, int64_t *hi)
{
    int64_t elo, ehi, es = cc_dtype_size(t->dtype);
    cc_tensor_extent(t, &elo, &ehi);
    *lo = (t->offset + elo) * es;
    *hi = cc_tensor_numel(t) ? (t->offset + ehi + 1) * es : *lo;
}

/* 1 when a and b share a byte; b == NULL asks whether two elements of a (which has no stride-0
   dim) share one. -1 when the bitmap could not be allocated, -2 when there are more elements to
   compare than MAX_COMPARED. */
static int share_bytes(const cc_tensor *a, const cc_tensor *b)
{
    int64_t alo, ahi, blo, bhi;
    byte_range(a, &alo, &ahi);
    byte_range(b ? b : a, &blo, &bhi);
    bytemap m = { NULL, alo > blo ? alo : blo, ahi < bhi ? ahi : bhi, cc_dtype_size(a->dtype) };
    if (m.lo >= m.hi) return 0;
    cc_tensor va, vb;
    int64_t n = distinct_view(a, &va) + (b ? distinct_view(b, &vb) : 0);
    if (n > MAX_COMPARED) return -2;
    m.bits = calloc((size_t)((m.hi - m.lo + 7) / 8), 1);
    if (!m.bits) return -1;
    int hit = each_element(&va, bytemap_set, &m);
    if (!hit && b) {
        m.es = cc_dtype_size(b->dtype);
        hit = each_element(&vb, bytemap_test, &m);
    }
    free(m.bits);
    return hit;
}

static cc_status undecided(const char *op, const char *arg, const char *what, int hit)
{
    if (hit == -1) return cc_error(CC_ERR_MEMORY, "%s: %s: out of memory checking %s", op, arg, what);
    return cc_error(CC_ERR_ARGUMENT, "%s: %s: cannot tell %s in reasonable time (more than %lld elements share one "
                    "span of memory); pass a separate, contiguous output", op, arg, what, (long long)MAX_COMPARED);
}

/* Sufficient test for no self-overlap: sorted by |stride|, each dim steps past everything the
   smaller dims span (every ordinary layout passes it; the rest go to the exact test). */
static int surely_self_disjoint(const cc_tensor *t)
{
    int64_t sh[8], st[8];
    int n = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (t->shape[d] == 0) return 1;
        if (t->shape[d] == 1) continue;
        sh[n] = t->shape[d];
        st[n] = llabs(t->stride[d]);
        n++;
    }
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && st[j] < st[j - 1]; j--) {
            int64_t a = st[j]; st[j] = st[j - 1]; st[j - 1] = a;
            a = sh[j]; sh[j] = sh[j - 1]; sh[j - 1] = a;
        }
    int64_t span = 0;   /* largest offset the smaller dims reach */
    for (int i = 0; i < n; i++) {
        if (st[i] <= span) return 0;
        span += st[i] * (sh[i] - 1);
    }
    return 1;
}

cc_status cc_check_output(const char *op, const char *arg, const cc_tensor *t)
{
    if (!t || surely_self_disjoint(t)) return CC_OK;
    int hit = 0;
    for (int d = 0; d < t->ndim; d++) hit |= t->shape[d] > 1 && t->stride[d] == 0;
    if (!hit) hit = share_bytes(t, NULL);
    if (hit < 0) return undecided(op, arg, "whether the output's elements overlap", hit);
    if (!hit) return CC_OK;
    char d[160], s[160];
    return cc_error(CC_ERR_ARGUMENT,
                    "%s: %s: expected an output whose elements do not overlap, got %s with strides %s (an expanded "
                    "view cannot be written; clone() it first)",
                    op, arg, DESC(d, t), cc_shape_str(s, sizeof s, t->ndim, t->stride));
}

static int same_view(const cc_tensor *a, const cc_tensor *b)
{
    if (!cc_tensor_same_storage(a, b) || a->offset != b->offset || a->ndim != b->ndim || a->dtype != b->dtype) return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d] || (a->shape[d] > 1 && a->stride[d] != b->stride[d])) return 0;
    return 1;
}

cc_status cc_check_disjoint(const char *op, const char *out_arg, const cc_tensor *out, const char *in_arg,
                            const cc_tensor *in, int inplace_ok)
{
    if (!out || !in || !cc_tensor_same_storage(out, in)) return CC_OK;
    if (inplace_ok && same_view(out, in)) return CC_OK;
    int hit = share_bytes(out, in);
    if (hit < 0) return undecided(op, out_arg, "whether it overlaps an input", hit);
    if (!hit) return CC_OK;
    char a[160], b[160];
    return cc_error(CC_ERR_ARGUMENT, "%s: %s %s overlaps %s %s in memory; pass a separate output", op, out_arg,
                    DESC(a, out), in_arg, DESC(b, in));
}

cc_status cc_check_io(const char *op, int nin, const cc_tensor *const *ins, const char *const *in_names,
                      int nout, const cc_tensor *const *outs, const char *const *out_names)
{
    const cc_tensor *all[24];
    const char *names[24];
    int n = 0;
    for (int i = 0; i < nin && n < 24; i++) { all[n] = ins[i]; names[n++] = in_names[i]; }
    for (int i = 0; i < nout && n < 24; i++) { all[n] = outs[i]; names[n++] = out_names[i]; }
    TRY(cc_check_devices(op, n, all, names));
    for (int i = 0; i < nout; i++) {
        if (!outs[i]) continue;
        TRY(cc_check_output(op, out_names[i], outs[i]));
        for (int j = 0; j < nin; j++) TRY(cc_check_disjoint(op, out_names[i], outs[i], in_names[j], ins[j], 0));
        for (int j = i + 1; j < nout; j++) TRY(cc_check_disjoint(op, out_names[i], outs[i], out_names[j], outs[j], 0));
    }
    return CC_OK;
}

/* ---- index values -------------------------------------------------------------------------- */

cc_status cc_host_view(const char *op, const char *arg, const cc_tensor *t, cc_tensor **h)
{
    cc_status st = t->device == CC_CPU ? cc_tensor_alias(h, t) : cc_tensor_to(h, t, t->dtype, CC_CPU, 0);
    if (st != CC_OK) return cc_error(st, "%s: %s: cannot read the values: %s", op, arg, cc_last_error());
    return CC_OK;
}

cc_status cc_check_index_values(const char *op, const char *arg, const cc_tensor *index, int64_t hi,
                                int has_ignore, int64_t ignore, int64_t *count)
{
    TRY(cc_check_ndim(op, arg, index, 1));
    TRY(cc_check_dtype(op, arg, index, CC_INDEX_DTYPES));
    *count = 0;
    if (index->shape[0] == 0) return CC_OK;
    if (!has_ignore && cc_index_checked(index, CC_INDEX_RANGE, hi, 0)) {
        *count = index->shape[0];
        return CC_OK;
    }
    cc_tensor *h = NULL;
    TRY(cc_host_view(op, arg, index, &h));
    const void *base = cc_tensor_data(h);
    cc_status st = CC_OK;
    for (int64_t i = 0; i < index->shape[0] && st == CC_OK; i++) {
        int64_t v = cc_load_index(base, h->dtype, i * h->stride[0]);
        if (has_ignore && v == ignore) continue;
        if (v < 0 || v >= hi) {
            if (has_ignore)
                st = cc_error(CC_ERR_ARGUMENT, "%s: %s: expected values in [0, %lld) (0-based) or ignore_index %lld, got %lld at position %lld",
                              op, arg, (long long)hi, (long long)ignore, (long long)v, (long long)i);
            else
                st = cc_error(CC_ERR_ARGUMENT, "%s: %s: expected values in [0, %lld) (0-based), got %lld at position %lld",
                              op, arg, (long long)hi, (long long)v, (long long)i);
        }
        else (*count)++;
    }
    cc_tensor_free(h);
    if (st == CC_OK && !has_ignore) cc_index_mark_checked(index, CC_INDEX_RANGE, hi, 0);
    return st;
}

cc_status cc_kernel_status(const char *op, int device, int st)
{
    if (st == CC_OK) return CC_OK;
    if (device == CC_CPU) return cc_error((cc_status)st, "%s: out of host memory for kernel scratch buffers", op);
    return (cc_status)st;
}

cc_status cc_check_state_rows(const char *op, const char *arg, const cc_tensor *indices, int64_t B, int64_t pool,
                              const char *pool_owner)
{
    if (cc_index_checked(indices, CC_INDEX_STATE_ROWS, B, pool)) return CC_OK;
    cc_tensor *h = NULL;
    TRY(cc_host_view(op, arg, indices, &h));
    int64_t *owner = malloc((size_t)(pool > 0 ? pool : 1) * sizeof *owner);
    cc_status st = owner ? CC_OK : cc_error(CC_ERR_MEMORY, "%s: out of memory checking %s", op, arg);
    for (int64_t i = 0; st == CC_OK && i < pool; i++) owner[i] = -1;
    const void *v = cc_tensor_data(h);
    for (int64_t b = 0; st == CC_OK && b < B; b++) {
        int64_t i = cc_load_index(v, h->dtype, b * h->stride[0]);
        if (i >= pool)
            st = cc_error(CC_ERR_ARGUMENT,
                          "%s: %s: expected values < %lld (%s's first dim) or < 0 for padding, got %lld at 0-based position %lld",
                          op, arg, (long long)pool, pool_owner, (long long)i, (long long)b);
        else if (i >= 0 && owner[i] >= 0)
            st = cc_error(CC_ERR_ARGUMENT, "%s: %s: expected distinct state rows, got %lld at 0-based positions %lld and %lld",
                          op, arg, (long long)i, (long long)owner[i], (long long)b);
        else if (i >= 0)
            owner[i] = b;
    }
    free(owner);
    cc_tensor_free(h);
    if (st == CC_OK) cc_index_mark_checked(indices, CC_INDEX_STATE_ROWS, B, pool);
    return st;
}
