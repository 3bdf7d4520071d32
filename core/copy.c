/* Copies, conversions, fills and single-element access: validation and dispatch to
   kernels/cpu/copy.c or kernels/cuda. Crossing devices stages through a contiguous buffer. */
#include <math.h>
#include <string.h>
#include "checks.h"
#include "copy.h"

#define DESC(t, buf) cc_describe(buf, sizeof buf, (t))

static int same_device(const cc_tensor *a, const cc_tensor *b)
{
    return a->device == b->device && (a->device == CC_CPU || a->device_index == b->device_index);
}

static cc_status empty_like(cc_tensor **out, const cc_tensor *x, int dtype, int device, int device_index)
{
    return cc_tensor_empty(out, x->ndim, x->shape, dtype, device, device_index);
}

static cc_status copy_same_device(cc_tensor *dst, const cc_tensor *src)
{
    cc_copy_args a;
    memset(&a, 0, sizeof a);
    a.ndim = dst->ndim;
    memcpy(a.shape, dst->shape, sizeof a.shape);
    a.dst = cc_tensor_data(dst);
    a.dst_dtype = dst->dtype;
    memcpy(a.dst_stride, dst->stride, sizeof a.dst_stride);
    a.src = cc_tensor_data(src);
    a.src_dtype = src->dtype;
    memcpy(a.src_stride, src->stride, sizeof a.src_stride);
    if (dst->device == CC_CPU) return (cc_status)cc_cpu_copy(&a);
#ifdef CC_WITH_CUDA
    return (cc_status)cc_cuda_copy(&a);
#else
    return cc_no_cuda("copy");
#endif
}

static int64_t dense_bytes(const cc_tensor *t) { return cc_tensor_numel(t) * cc_dtype_size(t->dtype); }

/* dst <- src for validated, non-overlapping, non-empty tensors on any devices. */
static cc_status copy_any(cc_tensor *dst, const cc_tensor *src)
{
    if (same_device(dst, src)) return copy_same_device(dst, src);
    cc_status st;
    if (src->device == CC_CUDA) {
        /* to the host in src's dtype, then on from there (to the CPU or another GPU) */
        cc_tensor *dense = NULL, *host = NULL;
        if (!cc_tensor_is_contiguous(src)) {
            if ((st = empty_like(&dense, src, src->dtype, src->device, src->device_index)) ||
                (st = copy_same_device(dense, src))) {
                cc_tensor_free(dense);
                return st;
            }
        }
        const cc_tensor *from = dense ? dense : src;
        if (!(st = empty_like(&host, src, src->dtype, CC_CPU, 0)) &&
            !(st = cc_device_memcpy(cc_tensor_data(host), CC_CPU, cc_tensor_data(from), CC_CUDA, dense_bytes(src))))
            st = copy_any(dst, host);
        cc_tensor_free(dense);
        cc_tensor_free(host);
        return st;
    }
    /* host src: convert on the host to a dense buffer of dst's dtype, then one transfer */
    cc_tensor *host = NULL, *dev = NULL;
    if (!cc_tensor_is_contiguous(src) || src->dtype != dst->dtype) {
        if ((st = empty_like(&host, src, dst->dtype, CC_CPU, 0)) || (st = copy_same_device(host, src))) {
            cc_tensor_free(host);
            return st;
        }
    }
    const cc_tensor *from = host ? host : src;
    if (cc_tensor_is_contiguous(dst)) {
        st = cc_device_memcpy(cc_tensor_data(dst), dst->device, cc_tensor_data(from), CC_CPU, dense_bytes(dst));
    } else if (!(st = empty_like(&dev, dst, dst->dtype, dst->device, dst->device_index)) &&
               !(st = cc_device_memcpy(cc_tensor_data(dev), dst->device, cc_tensor_data(from), CC_CPU, dense_bytes(dst)))) {
        st = copy_same_device(dst, dev);
    }
    cc_tensor_free(host);
    cc_tensor_free(dev);
    return st;
}

cc_status cc_tensor_copy(cc_tensor *dst, const cc_tensor *src)
{
    char a[160], b[160];
    cc_status st;
    TRY(cc_check_present("copy", "dst", dst));
    TRY(cc_check_present("copy", "src", src));
    int same = dst->ndim == src->ndim;
    for (int i = 0; same && i < dst->ndim; i++) same = dst->shape[i] == src->shape[i];
    if (!same) return cc_error(CC_ERR_SHAPE, "copy: src %s and dst %s: shapes must be equal", DESC(src, a), DESC(dst, b));
    TRY(cc_check_output("copy", "dst", dst));
    if (cc_tensor_numel(dst) == 0) return CC_OK;
    cc_tensor *staged = NULL;
    if (cc_check_disjoint("copy", "dst", dst, "src", src, 0) != CC_OK) {
        cc_clear_error();
        TRY(cc_tensor_clone(&staged, src));
    }
    cc_tensor_bump_version(dst);
    st = copy_any(dst, staged ? staged : src);
    cc_tensor_free(staged);
    return st;
}

cc_status cc_tensor_clone(cc_tensor **out, const cc_tensor *x)
{
    cc_status st;
    if (!out) return cc_error(CC_ERR_ARGUMENT, "clone: out: expected a handle pointer, got NULL");
    *out = NULL;
    TRY(cc_check_present("clone", "x", x));
    cc_tensor *t = NULL;
    TRY(empty_like(&t, x, x->dtype, x->device, x->device_index));
    if (cc_tensor_numel(x) > 0 && (st = copy_any(t, x))) {
        cc_tensor_free(t);
        return st;
    }
    *out = t;
    return CC_OK;
}

cc_status cc_tensor_contiguous(cc_tensor **out, const cc_tensor *x)
{
    if (!out) return cc_error(CC_ERR_ARGUMENT, "contiguous: out: expected a handle pointer, got NULL");
    *out = NULL;
    TRY(cc_check_present("contiguous", "x", x));
    return cc_tensor_is_contiguous(x) ? cc_tensor_alias(out, x) : cc_tensor_clone(out, x);
}

cc_status cc_tensor_to(cc_tensor **out, const cc_tensor *x, int dtype, int device, int device_index)
{
    cc_status st;
    if (!out) return cc_error(CC_ERR_ARGUMENT, "to: out: expected a handle pointer, got NULL");
    *out = NULL;
    TRY(cc_check_present("to", "x", x));
    if (dtype < CC_F32 || dtype > CC_I64) return cc_error(CC_ERR_DTYPE, "to: dtype: expected f32, f64, f16, bf16, i32 or i64, got %d", dtype);
    if (device != CC_CPU && device != CC_CUDA) return cc_error(CC_ERR_DEVICE, "to: device: expected cpu or cuda, got %d", device);
    if (device == CC_CPU) device_index = 0;
    if (dtype == x->dtype && device == x->device && device_index == x->device_index) return cc_tensor_alias(out, x);
    cc_tensor *t = NULL;
    TRY(empty_like(&t, x, dtype, device, device_index));
    if (cc_tensor_numel(x) > 0 && (st = copy_any(t, x))) {
        cc_tensor_free(t);
        return st;
    }
    *out = t;
    return CC_OK;
}

/* Integer dtypes take values whose truncation fits; floats take anything. */
static cc_status check_value(const char *op, const char *arg, const cc_tensor *t, double v)
{
    char d[160];
    int ok = 1;
    if (t->dtype == CC_I32) ok = v > -2147483649.0 && v < 2147483648.0;
    else if (t->dtype == CC_I64) ok = v >= -9223372036854775808.0 && v < 9223372036854775808.0;
    if (!ok) return cc_error(CC_ERR_ARGUMENT, "%s: %s: %g does not fit in %s", op, arg, v, DESC(t, d));
    return CC_OK;
}

static void fill_args(cc_fill_args *a, cc_tensor *dst, double value, double step)
{
    memset(a, 0, sizeof *a);
    a->ndim = dst->ndim;
    memcpy(a->shape, dst->shape, sizeof a->shape);
    a->dst = cc_tensor_data(dst);
    a->dtype = dst->dtype;
    memcpy(a->stride, dst->stride, sizeof a->stride);
    a->value = value;
    a->step = step;
}

cc_status cc_tensor_fill(cc_tensor *dst, double value)
{
    TRY(cc_check_present("fill", "dst", dst));
    TRY(check_value("fill", "value", dst, value));
    if (cc_tensor_numel(dst) == 0) return CC_OK;
    cc_fill_args a;
    fill_args(&a, dst, value, 0);
    cc_tensor_bump_version(dst);
    if (dst->device == CC_CPU) return (cc_status)cc_cpu_fill(&a);
#ifdef CC_WITH_CUDA
    return (cc_status)cc_cuda_fill(&a);
#else
    return cc_no_cuda("fill");
#endif
}

cc_status cc_tensor_arange(cc_tensor *dst, double start, double step)
{
    TRY(cc_check_present("arange", "dst", dst));
    TRY(cc_check_ndim("arange", "dst", dst, 1));
    TRY(cc_check_output("arange", "dst", dst));
    int64_t n = dst->shape[0];
    if (n == 0) return CC_OK;
    TRY(check_value("arange", "start", dst, start));
    TRY(check_value("arange", "start + (n - 1) * step", dst, start + (double)(n - 1) * step));
    cc_fill_args a;
    fill_args(&a, dst, start, step);
    cc_tensor_bump_version(dst);
    if (dst->device == CC_CPU) return (cc_status)cc_cpu_arange(&a);
#ifdef CC_WITH_CUDA
    return (cc_status)cc_cuda_arange(&a);
#else
    return cc_no_cuda("arange");
#endif
}

/* Address of x[index] after checking every index against its size. */
static cc_status element(const char *op, const cc_tensor *x, const int64_t *index, char **ptr)
{
    char d[160];
    TRY(cc_check_present(op, "x", x));
    if (x->ndim > 0 && !index) return cc_error(CC_ERR_ARGUMENT, "%s: index: expected %d entries for x %s, got NULL", op, x->ndim, DESC(x, d));
    int64_t off = 0;
    for (int i = 0; i < x->ndim; i++) {
        if (index[i] < 0 || index[i] >= x->shape[i])
            return cc_error(CC_ERR_ARGUMENT, "%s: index: entry %d is %lld, expected 0 <= i < %lld for x %s",
                            op, i, (long long)index[i], (long long)x->shape[i], DESC(x, d));
        off += index[i] * x->stride[i];
    }
    *ptr = (char *)cc_tensor_data(x) + off * cc_dtype_size(x->dtype);
    return CC_OK;
}

/* One element between a double and dtype, by the CPU copy kernel's conversion rules. */
static void convert_scalar(void *dst, int dst_dtype, const void *src, int src_dtype)
{
    cc_copy_args a;
    memset(&a, 0, sizeof a);
    a.dst = dst;
    a.dst_dtype = dst_dtype;
    a.src = src;
    a.src_dtype = src_dtype;
    cc_cpu_copy(&a);
}

cc_status cc_tensor_get(const cc_tensor *x, const int64_t *index, double *value)
{
    char *p;
    if (!value) return cc_error(CC_ERR_ARGUMENT, "get: value: expected a pointer, got NULL");
    TRY(element("get", x, index, &p));
    unsigned char bytes[8];
    TRY(cc_device_memcpy(bytes, CC_CPU, p, x->device, cc_dtype_size(x->dtype)));
    convert_scalar(value, CC_F64, bytes, x->dtype);
    return CC_OK;
}

cc_status cc_tensor_set(cc_tensor *x, const int64_t *index, double value)
{
    char *p;
    TRY(element("set", x, index, &p));
    TRY(check_value("set", "value", x, value));
    unsigned char bytes[8];
    convert_scalar(bytes, x->dtype, &value, CC_F64);
    cc_tensor_bump_version(x);
    return cc_device_memcpy(p, x->device, bytes, CC_CPU, cc_dtype_size(x->dtype));
}
