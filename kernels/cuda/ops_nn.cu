/* Layer ops on the CUDA device: index_select / index_add, cross entropy, RMS norm.
   index_add gives each thread one position of the non-indexed dims and adds the src rows in
   index order (no atomics, deterministic). Row ops use one block per row with the tree
   reductions of ops_common.cuh; dweight and the mean loss are summed in a fixed order. */
#include "ops_common.cuh"

using namespace ccops;

namespace {

template <typename I> __device__ __forceinline__ int64_t index_at(const cc_index_args &a, int64_t i)
{
    return (int64_t)((const I *)a.index)[i * a.index_stride];
}

/* out (small) [p, i, q] = x (big) [p, index[i], q]; E: an integer type of the element's size */
template <typename E, typename I> __global__ void index_select_kernel(cc_index_args a, int64_t n)
{
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < n; e += step) {
        int64_t r = e, so = 0, bo = 0;
        for (int d = a.ndim - 1; d >= 0; d--) {
            int64_t q = r / a.shape[d], k = r - q * a.shape[d];
            so += k * a.small_stride[d];
            bo += (d == a.dim ? index_at<I>(a, k) : k) * a.big_stride[d];
            r = q;
        }
        ((E *)a.small)[so] = ((const E *)a.big)[bo];
    }
}

/* out (big) [p, index[i], q] += src (small) [p, i, q]: one thread per slice position (p, q) */
template <typename T, typename I> __global__ void index_add_kernel(cc_index_args a, int64_t nslice)
{
    int64_t step = (int64_t)gridDim.x * blockDim.x, ni = a.shape[a.dim];
    for (int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; e < nslice; e += step) {
        int64_t r = e, so = 0, bo = 0;
        for (int d = a.ndim - 1; d >= 0; d--) {
            if (d == a.dim) continue;
            int64_t q = r / a.shape[d], k = r - q * a.shape[d];
            so += k * a.small_stride[d];
            bo += k * a.big_stride[d];
            r = q;
        }
        for (int64_t i = 0; i < ni; i++) {
            T *dst = (T *)a.big + bo + index_at<I>(a, i) * a.big_stride[a.dim];
            cc_store(dst, cc_load(dst) + cc_load((const T *)a.small + so + i * a.small_stride[a.dim]));
        }
    }
}

/* log(sum(exp(row))) of logits row r, shared by every thread of the block */
template <typename T> __device__ cc_acc_t<T> row_lse(const cc_cross_entropy_args &a, int64_t r, cc_acc_t<T> *red)
{
    typedef cc_acc_t<T> A;
    const T *x = (const T *)a.logits + r * a.logits_stride[0];
    A m = -INFINITY, s = A(0);
    for (int64_t c = threadIdx.x; c < a.C; c += blockDim.x) {
        A v = cc_load(x + c * a.logits_stride[1]);
        if (v > m || m_isnan(v)) m = v;
    }
    m = block_max(m, red);
    if (m == A(INFINITY) || m == A(-INFINITY)) return m;
    for (int64_t c = threadIdx.x; c < a.C; c += blockDim.x) s += m_exp(cc_load(x + c * a.logits_stride[1]) - m);
    return m + m_log(block_sum(s, red));
}

template <typename I> __device__ __forceinline__ int64_t target_at(const cc_cross_entropy_args &a, int64_t r)
{
    return (int64_t)((const I *)a.target)[r * a.target_stride];
}

/* rowloss[r] = lse(row) - row[target], 0 for ignored rows */
template <typename T, typename I> __global__ void ce_rows_kernel(cc_cross_entropy_args a, cc_acc_t<T> *rowloss)
{
    typedef cc_acc_t<T> A;
    __shared__ A red[kOpsThreads];
    for (int64_t r = blockIdx.x; r < a.N; r += gridDim.x) {
        int64_t t = target_at<I>(a, r);
        if (t == a.ignore_index) {   /* uniform across the block */
            if (threadIdx.x == 0) rowloss[r] = A(0);
            continue;
        }
        A lse = row_lse<T>(a, r, red);
        if (threadIdx.x == 0)
            rowloss[r] = lse - cc_load((const T *)a.logits + r * a.logits_stride[0] + t * a.logits_stride[1]);
    }
}

/* loss = sum(rowloss) / count (0 when count is 0), one block */
template <typename T> __global__ void ce_mean_kernel(cc_cross_entropy_args a, const cc_acc_t<T> *rowloss)
{
    typedef cc_acc_t<T> A;
    __shared__ A red[kOpsThreads];
    A s = A(0);
    for (int64_t r = threadIdx.x; r < a.N; r += blockDim.x) s += rowloss[r];
    s = block_sum(s, red);
    if (threadIdx.x == 0) cc_store((T *)a.loss, a.count ? s / (A)a.count : A(0));
}

/* dlogits row = (softmax(row) - onehot(target)) * dloss / count; ignored rows 0 */
template <typename T, typename I> __global__ void ce_backward_kernel(cc_cross_entropy_args a)
{
    typedef cc_acc_t<T> A;
    __shared__ A red[kOpsThreads];
    A g = a.count ? cc_load((const T *)a.dloss) / (A)a.count : A(0);
    for (int64_t r = blockIdx.x; r < a.N; r += gridDim.x) {
        int64_t t = target_at<I>(a, r);
        T *d = (T *)a.dlogits + r * a.dlogits_stride[0];
        if (t == a.ignore_index) {
            for (int64_t c = threadIdx.x; c < a.C; c += blockDim.x) cc_store(d + c * a.dlogits_stride[1], A(0));
            continue;
        }
        A lse = row_lse<T>(a, r, red);
        const T *x = (const T *)a.logits + r * a.logits_stride[0];
        for (int64_t c = threadIdx.x; c < a.C; c += blockDim.x)
            cc_store(d + c * a.dlogits_stride[1], (m_exp(cc_load(x + c * a.logits_stride[1]) - lse) - A(c == t)) * g);
    }
}

/* rstd = 1 / sqrt(mean(x^2) + eps), out = x * rstd * weight, one block per row */
template <typename T> __global__ void rms_forward_kernel(cc_rms_norm_args a)
{
    typedef cc_acc_t<T> A;
    __shared__ A red[kOpsThreads];
    int64_t D = a.rows.n;
    const T *w = (const T *)a.weight;
    for (int64_t r = blockIdx.x; r < a.rows.nrows; r += gridDim.x) {
        const T *x = (const T *)a.x.data + row_offset(a.rows, a.x, r);
        T *out = (T *)a.out.data + row_offset(a.rows, a.out, r);
        A ss = A(0);
        for (int64_t i = threadIdx.x; i < D; i += blockDim.x) { A v = cc_load(x + i * a.x.stride); ss += v * v; }
        ss = block_sum(ss, red);
        A rstd = A(1) / m_sqrt(ss / (A)D + (A)a.eps);
        for (int64_t i = threadIdx.x; i < D; i += blockDim.x)
            cc_store(out + i * a.out.stride, cc_load(x + i * a.x.stride) * rstd * (w ? cc_load(w + i * a.weight_stride) : A(1)));
        if (threadIdx.x == 0 && a.rstd.data) ((A *)a.rstd.data)[row_offset(a.rows, a.rstd, r)] = rstd;
    }
}

/* dx = rstd * g - x * rstd^3 * mean(g * x), g = dout * weight, one block per row */
template <typename T> __global__ void rms_backward_kernel(cc_rms_norm_args a)
{
    typedef cc_acc_t<T> A;
    __shared__ A red[kOpsThreads];
    int64_t D = a.rows.n;
    const T *w = (const T *)a.weight;
    for (int64_t r = blockIdx.x; r < a.rows.nrows; r += gridDim.x) {
        const T *x = (const T *)a.x.data + row_offset(a.rows, a.x, r);
        const T *dout = (const T *)a.dout.data + row_offset(a.rows, a.dout, r);
        T *dx = (T *)a.dx.data + row_offset(a.rows, a.dx, r);
        A rstd = ((const A *)a.rstd.data)[row_offset(a.rows, a.rstd, r)], dot = A(0);
        for (int64_t i = threadIdx.x; i < D; i += blockDim.x)
            dot += cc_load(dout + i * a.dout.stride) * (w ? cc_load(w + i * a.weight_stride) : A(1)) * cc_load(x + i * a.x.stride);
        dot = block_sum(dot, red);
        A c = rstd * rstd * rstd * dot / (A)D;
        for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
            A g = cc_load(dout + i * a.dout.stride) * (w ? cc_load(w + i * a.weight_stride) : A(1));
            cc_store(dx + i * a.dx.stride, rstd * g - cc_load(x + i * a.x.stride) * c);
        }
    }
}

/* dweight[i] = sum over rows (in order) of dout * x * rstd, one thread per i */
template <typename T> __global__ void rms_dweight_kernel(cc_rms_norm_args a)
{
    typedef cc_acc_t<T> A;
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < a.rows.n; i += step) {
        A s = A(0);
        for (int64_t r = 0; r < a.rows.nrows; r++) {
            A rstd = ((const A *)a.rstd.data)[row_offset(a.rows, a.rstd, r)];
            s += cc_load((const T *)a.dout.data + row_offset(a.rows, a.dout, r) + i * a.dout.stride) *
                 cc_load((const T *)a.x.data + row_offset(a.rows, a.x, r) + i * a.x.stride) * rstd;
        }
        cc_store((T *)a.dweight + i * a.dweight_stride, s);
    }
}

template <typename F> int dispatch_bytes(int dtype, F &&f)
{
    int64_t es = cc_dtype_bytes(dtype);
    if (es == 8) return f(uint64_t());
    if (es == 4) return f(uint32_t());
    return f(uint16_t());
}

}  /* namespace */

extern "C" int cc_cuda_index_select(const cc_index_args *a)
{
    int64_t n = 1;
    for (int d = 0; d < a->ndim; d++) n *= a->shape[d];
    if (n == 0) return CC_OK;
    return dispatch_bytes(a->dtype, [&](auto e) {
        typedef decltype(e) E;
        return cc_dispatch_index(a->index_dtype, "index_select", [&](auto i) {
            typedef decltype(i) I;
            CC_LAUNCH((index_select_kernel<E, I>), (unsigned)blocks_for(n), kOpsThreads, 0, *a, n);
            return cc_cuda_launch_status("index_select");
        });
    });
}

extern "C" int cc_cuda_index_add(const cc_index_args *a)
{
    int64_t nslice = 1;
    for (int d = 0; d < a->ndim; d++) nslice *= d == a->dim ? 1 : a->shape[d];
    if (nslice == 0 || a->shape[a->dim] == 0) return CC_OK;
    return cc_dispatch_float(a->dtype, "index_add", [&](auto t) {
        typedef decltype(t) T;
        return cc_dispatch_index(a->index_dtype, "index_add", [&](auto i) {
            typedef decltype(i) I;
            CC_LAUNCH((index_add_kernel<T, I>), (unsigned)blocks_for(nslice), kOpsThreads, 0, *a, nslice);
            return cc_cuda_launch_status("index_add");
        });
    });
}

extern "C" int cc_cuda_cross_entropy_forward(const cc_cross_entropy_args *a)
{
    return cc_dispatch_float(a->dtype, "cross_entropy_forward", [&](auto t) {
        typedef decltype(t) T;
        typedef cc_acc_t<T> A;
        void *rowloss = NULL;
        int st = cc_cuda_alloc(&rowloss, (a->N > 0 ? a->N : 1) * (int64_t)sizeof(A), 0);
        if (st) return st;
        if (a->N > 0)
            st = cc_dispatch_index(a->target_dtype, "cross_entropy_forward", [&](auto i) {
                typedef decltype(i) I;
                CC_LAUNCH((ce_rows_kernel<T, I>), (unsigned)grid_for_rows(a->N), kOpsThreads, 0, *a, (A *)rowloss);
                return cc_cuda_launch_status("cross_entropy_forward");
            });
        if (st == CC_OK) {
            CC_LAUNCH(ce_mean_kernel<T>, 1, kOpsThreads, 0, *a, (const A *)rowloss);
            st = cc_cuda_launch_status("cross_entropy_forward");
        }
        cc_cuda_free(rowloss, 0);
        return st;
    });
}

extern "C" int cc_cuda_cross_entropy_backward(const cc_cross_entropy_args *a)
{
    if (a->N == 0) return CC_OK;
    return cc_dispatch_float(a->dtype, "cross_entropy_backward", [&](auto t) {
        typedef decltype(t) T;
        return cc_dispatch_index(a->target_dtype, "cross_entropy_backward", [&](auto i) {
            typedef decltype(i) I;
            CC_LAUNCH((ce_backward_kernel<T, I>), (unsigned)grid_for_rows(a->N), kOpsThreads, 0, *a);
            return cc_cuda_launch_status("cross_entropy_backward");
        });
    });
}

extern "C" int cc_cuda_rms_norm_forward(const cc_rms_norm_args *a)
{
    if (a->rows.nrows == 0) return CC_OK;
    return cc_dispatch_float(a->dtype, "rms_norm_forward", [&](auto t) {
        typedef decltype(t) T;
        CC_LAUNCH(rms_forward_kernel<T>, (unsigned)grid_for_rows(a->rows.nrows), kOpsThreads, 0, *a);
        return cc_cuda_launch_status("rms_norm_forward");
    });
}

extern "C" int cc_cuda_rms_norm_backward(const cc_rms_norm_args *a)
{
    return cc_dispatch_float(a->dtype, "rms_norm_backward", [&](auto t) {
        typedef decltype(t) T;
        if (a->rows.nrows > 0) {
            CC_LAUNCH(rms_backward_kernel<T>, (unsigned)grid_for_rows(a->rows.nrows), kOpsThreads, 0, *a);
            int st = cc_cuda_launch_status("rms_norm_backward");
            if (st) return st;
        }
        if (!a->dweight) return (int)CC_OK;
        CC_LAUNCH(rms_dweight_kernel<T>, (unsigned)blocks_for(a->rows.n), kOpsThreads, 0, *a);
        return cc_cuda_launch_status("rms_norm_backward");
    });
}
