/* Tensor handles, refcounted storage and views. Views only change metadata (offset, shape,
   strides) and take a reference on the storage, so a view may outlive its base. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "checks.h"

static int64_t live_storages;   /* atomics: handles may be freed from any thread */
static int64_t live_tensors;

int64_t cc_live_storages(void) { return __atomic_load_n(&live_storages, __ATOMIC_RELAXED); }
int64_t cc_live_tensors(void) { return __atomic_load_n(&live_tensors, __ATOMIC_RELAXED); }

#define DESC(t) cc_describe(desc, sizeof desc, (t))

static cc_tensor *handle_new(void)
{
    cc_tensor *t = calloc(1, sizeof *t);
    if (t) __atomic_add_fetch(&live_tensors, 1, __ATOMIC_RELAXED);
    return t;
}

static void storage_release(cc_storage *s)
{
    if (!s) return;
    if (__atomic_sub_fetch(&s->refcount, 1, __ATOMIC_ACQ_REL) != 0) return;
    cc_device_free(s->data, s->bytes, s->device, s->device_index);
    free(s);
    __atomic_sub_fetch(&live_storages, 1, __ATOMIC_RELAXED);
}

static int valid_dtype(int dtype) { return dtype >= CC_F32 && dtype <= CC_I64; }

/* Every tensor's sizes multiply to an int64 (zero sizes counted as 1, so the strides of an empty
   tensor fit too): numel and every offset computed from the shape stay exact. */
static cc_status check_numel(const char *op, int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        if (__builtin_mul_overflow(n, shape[i] > 0 ? shape[i] : 1, &n)) {
            char want[160];
            return cc_error(CC_ERR_SHAPE, "%s: shape %s: the product of the sizes overflows int64", op,
                            cc_shape_str(want, sizeof want, ndim, shape));
        }
    return CC_OK;
}

cc_status cc_tensor_empty(cc_tensor **out, int ndim, const int64_t *shape, int dtype, int device, int device_index)
{
    if (!out) return cc_error(CC_ERR_ARGUMENT, "empty: out: expected a handle pointer, got NULL");
    *out = NULL;
    if (ndim < 0 || ndim > 8) return cc_error(CC_ERR_ARGUMENT, "empty: ndim: expected 0 to 8 dims, got %d", ndim);
    if (ndim > 0 && !shape) return cc_error(CC_ERR_ARGUMENT, "empty: shape: expected %d sizes, got NULL", ndim);
    if (!valid_dtype(dtype)) return cc_error(CC_ERR_DTYPE, "empty: dtype: expected f32, f64, f16, bf16, i32 or i64, got %d", dtype);
    if (device != CC_CPU && device != CC_CUDA) return cc_error(CC_ERR_DEVICE, "empty: device: expected cpu or cuda, got %d", device);
    if (device == CC_CUDA && device_index < 0)
        return cc_error(CC_ERR_DEVICE, "empty: device index: expected >= 0, got %d", device_index);
    int64_t bytes = cc_dtype_size(dtype);
    for (int i = 0; i < ndim; i++)
        if (shape[i] < 0) return cc_error(CC_ERR_SHAPE, "empty: shape: sizes must be >= 0, got %lld at position %d",
                                          (long long)shape[i], i);
    TRY(check_numel("empty", ndim, shape));
    int empty = 0;
    for (int i = 0; i < ndim; i++) empty |= shape[i] == 0;
    for (int i = 0; i < ndim && !empty; i++)
        if (__builtin_mul_overflow(bytes, shape[i], &bytes))
            return cc_error(CC_ERR_MEMORY, "empty: shape: the byte size of this %s tensor overflows int64", cc_dtype_name(dtype));
    if (empty) bytes = 0;

    cc_storage *s = calloc(1, sizeof *s);
    cc_tensor *t = handle_new();
    if (!s || !t) {
        free(s);
        if (t) cc_tensor_free(t);
        return cc_error(CC_ERR_MEMORY, "empty: out of memory for the tensor handle");
    }
    if (device == CC_CPU) device_index = 0;
    cc_status st = cc_device_alloc(&s->data, bytes, device, device_index);
    if (st != CC_OK) {
        free(s);
        cc_tensor_free(t);
        return st;
    }
    s->bytes = bytes;
    s->device = device;
    s->device_index = device_index;
    s->refcount = 1;
    static uint64_t next_serial;
    s->serial = __atomic_add_fetch(&next_serial, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&live_storages, 1, __ATOMIC_RELAXED);

    t->storage = s;
    t->ndim = ndim;
    t->dtype = dtype;
    t->device = device;
    t->device_index = device_index;
    int64_t stride = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t->shape[i] = shape[i];
        t->stride[i] = stride;
        stride *= shape[i] ? shape[i] : 1;
    }
    *out = t;
    return CC_OK;
}

void cc_tensor_free(cc_tensor *t)
{
    if (!t) return;
    storage_release(t->storage);
    free(t);
    __atomic_sub_fetch(&live_tensors, 1, __ATOMIC_RELAXED);
}

void *cc_tensor_data(const cc_tensor *t)
{
    if (!t || !t->storage || !t->storage->data) return NULL;
    return (char *)t->storage->data + t->offset * cc_dtype_size(t->dtype);
}

int64_t cc_tensor_numel(const cc_tensor *t)
{
    if (!t) return 0;
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

int cc_tensor_is_contiguous(const cc_tensor *t)
{
    if (!t) return 0;
    if (cc_tensor_numel(t) == 0) return 1;
    int64_t expected = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] == 1) continue;          /* the stride of a size-1 dim is never used */
        if (t->stride[i] != expected) return 0;
        expected *= t->shape[i];
    }
    return 1;
}

int64_t cc_tensor_storage_bytes(const cc_tensor *t) { return t && t->storage ? t->storage->bytes : 0; }

int64_t cc_tensor_version(const cc_tensor *t)
{
    return t && t->storage ? __atomic_load_n(&t->storage->version, __ATOMIC_RELAXED) : 0;
}

void cc_tensor_bump_version(cc_tensor *t)
{
    if (t && t->storage) __atomic_add_fetch(&t->storage->version, 1, __ATOMIC_RELAXED);
}

int cc_tensor_same_storage(const cc_tensor *a, const cc_tensor *b)
{
    return a && b && a->storage && a->storage == b->storage;
}

void cc_tensor_extent(const cc_tensor *t, int64_t *lo, int64_t *hi)
{
    *lo = 0;
    *hi = 0;
    if (cc_tensor_numel(t) == 0) return;
    for (int i = 0; i < t->ndim; i++) {
        int64_t reach = (t->shape[i] - 1) * t->stride[i];
        if (reach < 0) *lo += reach;
        else *hi += reach;
    }
}

/* ---- views ------------------------------------------------------------------------------- */

/* A new handle on x's storage with the given geometry (already validated). */
static cc_status make_view(cc_tensor **out, const cc_tensor *x, const char *op, int ndim,
                           const int64_t *shape, const int64_t *stride, int64_t offset)
{
    cc_tensor *t = handle_new();
    if (!t) return cc_error(CC_ERR_MEMORY, "%s: out of memory for the tensor handle", op);
    *t = *x;
    t->ndim = ndim;
    t->offset = offset;
    for (int i = 0; i < 8; i++) {
        t->shape[i] = i < ndim ? shape[i] : 0;
        t->stride[i] = i < ndim ? stride[i] : 0;
    }
    __atomic_add_fetch(&t->storage->refcount, 1, __ATOMIC_RELAXED);
    *out = t;
    return CC_OK;
}

/* Common entry checks: out and x present. */
static cc_status view_args(cc_tensor **out, const cc_tensor *x, const char *op)
{
    if (!out) return cc_error(CC_ERR_ARGUMENT, "%s: out: expected a handle pointer, got NULL", op);
    *out = NULL;
    if (!x || !x->storage) return cc_error(CC_ERR_ARGUMENT, "%s: x: expected a tensor, got nil", op);
    return CC_OK;
}

static cc_status check_dim(const char *op, const char *arg, const cc_tensor *x, int dim, int limit)
{
    char desc[160];
    if (dim < 0 || dim >= limit)
        return cc_error(CC_ERR_ARGUMENT, "%s: %s: expected 0 <= %s < %d, got %d for x %s", op, arg, arg, limit, dim, DESC(x));
    return CC_OK;
}

cc_status cc_tensor_alias(cc_tensor **out, const cc_tensor *x)
{
    TRY(view_args(out, x, "alias"));
    return make_view(out, x, "alias", x->ndim, x->shape, x->stride, x->offset);
}

cc_status cc_tensor_transpose(cc_tensor **out, const cc_tensor *x, int dim0, int dim1)
{
    TRY(view_args(out, x, "transpose"));
    TRY(check_dim("transpose", "dim0", x, dim0, x->ndim));
    TRY(check_dim("transpose", "dim1", x, dim1, x->ndim));
    int64_t shape[8], stride[8];
    memcpy(shape, x->shape, sizeof shape);
    memcpy(stride, x->stride, sizeof stride);
    shape[dim0] = x->shape[dim1];
    stride[dim0] = x->stride[dim1];
    shape[dim1] = x->shape[dim0];
    stride[dim1] = x->stride[dim0];
    return make_view(out, x, "transpose", x->ndim, shape, stride, x->offset);
}

cc_status cc_tensor_permute(cc_tensor **out, const cc_tensor *x, int ndim, const int *dims)
{
    char desc[160];
    TRY(view_args(out, x, "permute"));
    if (ndim != x->ndim || (ndim > 0 && !dims))
        return cc_error(CC_ERR_ARGUMENT, "permute: dims: expected %d entries for x %s, got %d", x->ndim, DESC(x), dims ? ndim : 0);
    int seen[8] = { 0 };
    int64_t shape[8], stride[8];
    for (int i = 0; i < ndim; i++) {
        if (dims[i] < 0 || dims[i] >= ndim)
            return cc_error(CC_ERR_ARGUMENT, "permute: dims: entry %d is %d, expected 0 <= d < %d for x %s", i, dims[i], ndim, DESC(x));
        if (seen[dims[i]]++)
            return cc_error(CC_ERR_ARGUMENT, "permute: dims: %d appears twice, expected a permutation of 0..%d", dims[i], ndim - 1);
        shape[i] = x->shape[dims[i]];
        stride[i] = x->stride[dims[i]];
    }
    return make_view(out, x, "permute", ndim, shape, stride, x->offset);
}

cc_status cc_tensor_narrow(cc_tensor **out, const cc_tensor *x, int dim, int64_t start, int64_t length)
{
    char desc[160];
    TRY(view_args(out, x, "narrow"));
    TRY(check_dim("narrow", "dim", x, dim, x->ndim));
    int64_t size = x->shape[dim];
    if (start < 0 || start > size)
        return cc_error(CC_ERR_ARGUMENT, "narrow: start: expected 0 <= start <= %lld (the size of that dim), got %lld for x %s",
                        (long long)size, (long long)start, DESC(x));
    if (length < 0 || length > size - start)
        return cc_error(CC_ERR_ARGUMENT, "narrow: start + length = %lld + %lld exceeds the size %lld of that dim of x %s",
                        (long long)start, (long long)length, (long long)size, DESC(x));
    int64_t shape[8];
    memcpy(shape, x->shape, sizeof shape);
    shape[dim] = length;
    return make_view(out, x, "narrow", x->ndim, shape, x->stride, x->offset + start * x->stride[dim]);
}

cc_status cc_tensor_select(cc_tensor **out, const cc_tensor *x, int dim, int64_t index)
{
    char desc[160];
    TRY(view_args(out, x, "select"));
    TRY(check_dim("select", "dim", x, dim, x->ndim));
    if (index < 0 || index >= x->shape[dim])
        return cc_error(CC_ERR_ARGUMENT, "select: index: expected 0 <= index < %lld (the size of that dim), got %lld for x %s",
                        (long long)x->shape[dim], (long long)index, DESC(x));
    int64_t shape[8], stride[8];
    for (int i = 0, j = 0; i < x->ndim; i++) {
        if (i == dim) continue;
        shape[j] = x->shape[i];
        stride[j++] = x->stride[i];
    }
    return make_view(out, x, "select", x->ndim - 1, shape, stride, x->offset + index * x->stride[dim]);
}

/* Strides for viewing (oshape, ostride) as nshape without copying: walk both shapes from the
   right in chunks of dims that are contiguous among themselves in x; each new dim must fall
   inside one chunk. Returns 0 when no such strides exist. Both numels are equal and > 0. */
static int view_strides(int ond, const int64_t *oshape, const int64_t *ostride, int nnd, const int64_t *nshape, int64_t *nstride)
{
    if (ond == 0) {                             /* one element: any strides do */
        int64_t s = 1;
        for (int i = nnd - 1; i >= 0; i--) { nstride[i] = s; s *= nshape[i]; }
        return 1;
    }
    int vd = nnd - 1;
    int64_t chunk_stride = ostride[ond - 1], tnumel = 1, vnumel = 1;
    for (int td = ond - 1; td >= 0; td--) {
        tnumel *= oshape[td];
        int chunk_ends = td == 0 || (oshape[td - 1] != 1 && ostride[td - 1] != tnumel * chunk_stride);
        if (!chunk_ends) continue;
        while (vd >= 0 && (vnumel < tnumel || nshape[vd] == 1)) {
            nstride[vd] = vnumel * chunk_stride;
            vnumel *= nshape[vd];
            vd--;
        }
        if (vnumel != tnumel) return 0;
        if (td > 0) {
            chunk_stride = ostride[td - 1];
            tnumel = 1;
            vnumel = 1;
        }
    }
    return vd == -1;
}

cc_status cc_tensor_view(cc_tensor **out, const cc_tensor *x, int ndim, const int64_t *shape)
{
    char desc[160], want[160];
    TRY(view_args(out, x, "view"));
    if (ndim < 0 || ndim > 8) return cc_error(CC_ERR_ARGUMENT, "view: shape: expected 0 to 8 sizes, got %d", ndim);
    if (ndim > 0 && !shape) return cc_error(CC_ERR_ARGUMENT, "view: shape: expected %d sizes, got NULL", ndim);
    int64_t nshape[8], nstride[8];
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < ndim; i++) {
        nshape[i] = shape[i];
        if (shape[i] == -1) {
            if (infer >= 0) return cc_error(CC_ERR_ARGUMENT, "view: shape: only one size may be -1, got two");
            infer = i;
        } else if (shape[i] < 0) {
            cc_shape_str(want, sizeof want, ndim, shape);
            return cc_error(CC_ERR_ARGUMENT, "view: shape: sizes must be >= 0 (or one -1), got %s", want);
        } else if (__builtin_mul_overflow(known, shape[i], &known)) {
            cc_shape_str(want, sizeof want, ndim, shape);
            return cc_error(CC_ERR_SHAPE, "view: shape %s has more elements than int64 holds", want);
        }
    }
    int64_t numel = cc_tensor_numel(x);
    if (infer >= 0) {
        if (known == 0 || numel % known != 0) {
            cc_shape_str(want, sizeof want, ndim, shape);
            return cc_error(CC_ERR_SHAPE, "view: shape %s cannot hold the %lld elements of x %s", want, (long long)numel, DESC(x));
        }
        nshape[infer] = numel / known;
        known = numel;
    }
    if (known != numel) {
        cc_shape_str(want, sizeof want, ndim, nshape);
        return cc_error(CC_ERR_SHAPE, "view: shape %s has %lld elements, x %s has %lld",
                        want, (long long)known, DESC(x), (long long)numel);
    }
    if (numel == 0) {                           /* nothing is addressed: contiguous strides */
        int64_t s = 1;
        for (int i = ndim - 1; i >= 0; i--) { nstride[i] = s; s *= nshape[i] ? nshape[i] : 1; }
    } else if (!view_strides(x->ndim, x->shape, x->stride, ndim, nshape, nstride)) {
        char strides[160];
        cc_shape_str(want, sizeof want, ndim, nshape);
        cc_shape_str(strides, sizeof strides, x->ndim, x->stride);
        return cc_error(CC_ERR_SHAPE, "view: shape %s is not compatible with the strides %s of x %s: a new dim would span "
                        "dims of x that are not contiguous with each other; call contiguous() first (or reshape)",
                        want, strides, DESC(x));
    }
    return make_view(out, x, "view", ndim, nshape, nstride, x->offset);
}

cc_status cc_tensor_expand(cc_tensor **out, const cc_tensor *x, int ndim, const int64_t *shape)
{
    char desc[160], want[160];
    TRY(view_args(out, x, "expand"));
    if (ndim < x->ndim || ndim > 8)
        return cc_error(CC_ERR_ARGUMENT, "expand: shape: expected %d to 8 sizes for x %s, got %d", x->ndim, DESC(x), ndim);
    if (ndim > 0 && !shape) return cc_error(CC_ERR_ARGUMENT, "expand: shape: expected %d sizes, got NULL", ndim);
    int lead = ndim - x->ndim;
    int64_t nshape[8], nstride[8];
    for (int i = 0; i < ndim; i++) {
        if (i < lead) {
            if (shape[i] < 0) {
                cc_shape_str(want, sizeof want, ndim, shape);
                return cc_error(CC_ERR_ARGUMENT, "expand: shape %s: a new leading size must be >= 0 (-1 only keeps an existing size)", want);
            }
            nshape[i] = shape[i];
            nstride[i] = 0;
            continue;
        }
        int64_t have = x->shape[i - lead];
        if (shape[i] == -1 || shape[i] == have) {
            nshape[i] = have;
            nstride[i] = x->stride[i - lead];
        } else if (have == 1 && shape[i] >= 0) {
            nshape[i] = shape[i];
            nstride[i] = 0;
        } else {
            cc_shape_str(want, sizeof want, ndim, shape);
            return cc_error(CC_ERR_SHAPE, "expand: x %s cannot expand to %s: size %lld is not 1 and differs from %lld",
                            DESC(x), want, (long long)have, (long long)shape[i]);
        }
    }
    TRY(check_numel("expand", ndim, nshape));
    return make_view(out, x, "expand", ndim, nshape, nstride, x->offset);
}

cc_status cc_tensor_unsqueeze(cc_tensor **out, const cc_tensor *x, int dim)
{
    char desc[160];
    TRY(view_args(out, x, "unsqueeze"));
    if (x->ndim >= 8) return cc_error(CC_ERR_SHAPE, "unsqueeze: x %s already has the maximum of 8 dims", DESC(x));
    TRY(check_dim("unsqueeze", "dim", x, dim, x->ndim + 1));
    int64_t shape[8], stride[8];
    for (int i = 0, j = 0; i <= x->ndim; i++) {
        if (i == dim) {
            shape[i] = 1;
            stride[i] = dim < x->ndim ? x->shape[dim] * x->stride[dim] : 1;
        } else {
            shape[i] = x->shape[j];
            stride[i] = x->stride[j++];
        }
    }
    return make_view(out, x, "unsqueeze", x->ndim + 1, shape, stride, x->offset);
}

cc_status cc_tensor_squeeze(cc_tensor **out, const cc_tensor *x, int dim)
{
    TRY(view_args(out, x, "squeeze"));
    if (dim != -1) TRY(check_dim("squeeze", "dim", x, dim, x->ndim));
    int64_t shape[8], stride[8];
    int n = 0;
    for (int i = 0; i < x->ndim; i++) {
        int drop = x->shape[i] == 1 && (dim == -1 || dim == i);   /* a size other than 1 stays, as in PyTorch */
        if (drop) continue;
        shape[n] = x->shape[i];
        stride[n++] = x->stride[i];
    }
    return make_view(out, x, "squeeze", n, shape, stride, x->offset);
}

cc_status cc_tensor_as_strided(cc_tensor **out, const cc_tensor *x, int ndim, const int64_t *shape, const int64_t *stride, int64_t offset)
{
    char desc[160], a[160], b[160];
    TRY(view_args(out, x, "as_strided"));
    if (ndim < 0 || ndim > 8) return cc_error(CC_ERR_ARGUMENT, "as_strided: shape: expected 0 to 8 sizes, got %d", ndim);
    if (ndim > 0 && (!shape || !stride)) return cc_error(CC_ERR_ARGUMENT, "as_strided: shape and stride: expected %d entries each, got NULL", ndim);
    if (offset < 0) return cc_error(CC_ERR_ARGUMENT, "as_strided: offset: expected >= 0, got %lld", (long long)offset);
    int64_t hi = offset, numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || stride[i] < 0) {
            cc_shape_str(a, sizeof a, ndim, shape);
            cc_shape_str(b, sizeof b, ndim, stride);
            return cc_error(CC_ERR_ARGUMENT, "as_strided: shape %s and stride %s: entries must be >= 0", a, b);
        }
        numel *= shape[i] ? 1 : 0;
    }
    int64_t size = cc_dtype_size(x->dtype), elems = x->storage->bytes / size;
    if (numel) {
        int overflow = 0;
        for (int i = 0; i < ndim; i++) {
            int64_t reach;
            overflow |= __builtin_mul_overflow(shape[i] - 1, stride[i], &reach);
            overflow |= __builtin_add_overflow(hi, reach, &hi);
        }
        if (overflow || hi >= elems) {
            cc_shape_str(a, sizeof a, ndim, shape);
            cc_shape_str(b, sizeof b, ndim, stride);
            return cc_error(CC_ERR_SHAPE, "as_strided: shape %s, stride %s and offset %lld reach element %s%lld, but the storage of x %s "
                            "holds %lld elements", a, b, (long long)offset, overflow ? "beyond " : "", (long long)hi, DESC(x), (long long)elems);
        }
    }
    TRY(check_numel("as_strided", ndim, shape));
    return make_view(out, x, "as_strided", ndim, shape, stride, offset);
}
