/* Reductions on the CUDA device: sum_to, max along a dim, softmax / log-softmax forward and
   backward. One block of kOpsThreads per output (sum_to) or row; each thread walks its strided
   share in order, then a shared-memory tree combines the threads, so results depend on the shape
   only. sum_to with short reductions uses one thread per output instead. */
#include "ops_common.cuh"

using namespace ccops;

namespace {

/* sum_to: x offset and out offset of kept index o; x offset of reduced index r */
__device__ __forceinline__ void kept_offsets(const cc_sum_args &a, int64_t o, int64_t *xo, int64_t *oo)
{
    *xo = 0; *oo = 0;
    for (int d = a.nkeep - 1; d >= 0; d--) {
        int64_t q = o / a.keep_shape[d], k = o - q * a.keep_shape[d];
        *xo += k * a.keep_xstride[d]; *oo += k * a.keep_ostride[d];
        o = q;
    }
}

__device__ __forceinline__ int64_t red_offset(const cc_sum_args &a, int64_t r)
{
    int64_t off = 0;
    for (int d = a.nred - 1; d >= 0; d--) {
        int64_t q = r / a.red_shape[d];
        off += (r - q * a.red_shape[d]) * a.red_xstride[d];
        r = q;
    }
    return off;
}

/* out (nout) = scale * sum over nred positions of x: one block per output */
template <typename T> __global__ void sum_block_kernel(cc_sum_args a, int64_t nout, int64_t nred)
{
    typedef cc_acc_t<T> A;
    __shared__ A red[kOpsThreads];
    const T *x = (const T *)a.x;
    for (int64_t o = blockIdx.x; o < nout; o += gridDim.x) {
        int64_t xo, oo;
        kept_offsets(a, o, &xo, &oo);
        A s = A(0);
        for (int64_t r = threadIdx.x; r < nred; r += blockDim.x) s += cc_load(x + xo + red_offset(a, r));
        s = block_sum(s, red);
        if (threadIdx.x == 0) cc_store((T *)a.out + oo, (A)(a.scale * s));
    }
}

/* the same, one thread per output (short reductions) */
template <typename T> __global__ void sum_thread_kernel(cc_sum_args a, int64_t nout, int64_t nred)
{
    typedef cc_acc_t<T> A;
    const T *x = (const T *)a.x;
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t o = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; o < nout; o += step) {
        int64_t xo, oo;
        kept_offsets(a, o, &xo, &oo);
        A s = A(0);
        for (int64_t r = 0; r < nred; r++) s += cc_load(x + xo + red_offset(a, r));
        cc_store((T *)a.out + oo, (A)(a.scale * s));
    }
}

/* values, indices: one per row; first max wins, a NaN is the max */
template <typename T> __global__ void max_kernel(cc_max_args a)
{
    typedef cc_acc_t<T> A;
    __shared__ A best_v[kOpsThreads];
    __shared__ int64_t best_i[kOpsThreads];
    const T *x = (const T *)a.x.data;
    int t = threadIdx.x;
    for (int64_t r = blockIdx.x; r < a.rows.nrows; r += gridDim.x) {
        int64_t xo = row_offset(a.rows, a.x, r);
        A bv = A(0);
        int64_t bi = -1;
        for (int64_t i = t; i < a.rows.n; i += blockDim.x) {
            A v = cc_load(x + xo + i * a.x.stride);
            if (bi < 0 || (!m_isnan(bv) && (v > bv || m_isnan(v)))) { bv = v; bi = i; }
        }
        best_v[t] = bv; best_i[t] = bi;
        __syncthreads();
        for (int s = kOpsThreads / 2; s > 0; s >>= 1) {
            if (t < s && best_i[t + s] >= 0) {
                A v = best_v[t + s], w = best_v[t];
                int64_t j = best_i[t + s], k = best_i[t];
                bool take = k < 0 || (m_isnan(v) ? (!m_isnan(w) || j < k) : (!m_isnan(w) && (v > w || (v == w && j < k))));
                if (take) { best_v[t] = v; best_i[t] = j; }
            }
            __syncthreads();
        }
        if (t == 0) {
            cc_store((T *)a.values.data + row_offset(a.rows, a.values, r), best_v[0]);
            ((int64_t *)a.indices.data)[row_offset(a.rows, a.indices, r)] = best_i[0];
        }
        __syncthreads();
    }
}

/* out row = softmax or log_softmax of x row */
template <typename T> __global__ void softmax_kernel(cc_softmax_args a)
{
    typedef cc_acc_t<T> A;
    __shared__ A red[kOpsThreads];
    const T *x = (const T *)a.x.data;
    T *out = (T *)a.out.data;
    int64_t n = a.rows.n;
    for (int64_t r = blockIdx.x; r < a.rows.nrows; r += gridDim.x) {
        const T *xr = x + row_offset(a.rows, a.x, r);
        T *yr = out + row_offset(a.rows, a.out, r);
        A m = -INFINITY;
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
            A v = cc_load(xr + i * a.x.stride);
            if (v > m || m_isnan(v)) m = v;
        }
        m = block_max(m, red);
        A s = A(0);
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += m_exp(cc_load(xr + i * a.x.stride) - m);
        s = block_sum(s, red);
        A ls = m_log(s);
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
            A v = cc_load(xr + i * a.x.stride) - m;
            cc_store(yr + i * a.out.stride, a.log ? v - ls : m_exp(v) / s);
        }
    }
}

/* dx row from the forward's output y and dy: softmax y * (dy - sum(dy * y)); log dy - exp(y) * sum(dy) */
template <typename T> __global__ void softmax_backward_kernel(cc_softmax_args a)
{
    typedef cc_acc_t<T> A;
    __shared__ A red[kOpsThreads];
    int64_t n = a.rows.n;
    for (int64_t r = blockIdx.x; r < a.rows.nrows; r += gridDim.x) {
        const T *y = (const T *)a.out.data + row_offset(a.rows, a.out, r);
        const T *g = (const T *)a.dout.data + row_offset(a.rows, a.dout, r);
        T *dx = (T *)a.dx.data + row_offset(a.rows, a.dx, r);
        A s = A(0);
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
            A gi = cc_load(g + i * a.dout.stride);
            s += a.log ? gi : gi * cc_load(y + i * a.out.stride);
        }
        s = block_sum(s, red);
        for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
            A yi = cc_load(y + i * a.out.stride), gi = cc_load(g + i * a.dout.stride);
            cc_store(dx + i * a.dx.stride, a.log ? gi - m_exp(yi) * s : yi * (gi - s));
        }
    }
}

}  /* namespace */

extern "C" int cc_cuda_sum_to(const cc_sum_args *a)
{
    int64_t nout = 1, nred = 1;
    for (int d = 0; d < a->nkeep; d++) nout *= a->keep_shape[d];
    for (int d = 0; d < a->nred; d++) nred *= a->red_shape[d];
    if (nout == 0) return CC_OK;
    return cc_dispatch_float(a->dtype, "sum_to", [&](auto t) {
        typedef decltype(t) T;
        if (nred < 64)
            CC_LAUNCH(sum_thread_kernel<T>, (unsigned)blocks_for(nout), kOpsThreads, 0, *a, nout, nred);
        else
            CC_LAUNCH(sum_block_kernel<T>, (unsigned)grid_for_rows(nout), kOpsThreads, 0, *a, nout, nred);
        return cc_cuda_launch_status("sum_to");
    });
}

extern "C" int cc_cuda_max_dim(const cc_max_args *a)
{
    if (a->rows.nrows == 0) return CC_OK;
    return cc_dispatch_float(a->dtype, "max_dim", [&](auto t) {
        typedef decltype(t) T;
        CC_LAUNCH(max_kernel<T>, (unsigned)grid_for_rows(a->rows.nrows), kOpsThreads, 0, *a);
        return cc_cuda_launch_status("max_dim");
    });
}

extern "C" int cc_cuda_softmax_forward(const cc_softmax_args *a)
{
    if (a->rows.nrows == 0 || a->rows.n == 0) return CC_OK;
    return cc_dispatch_float(a->dtype, "softmax_forward", [&](auto t) {
        typedef decltype(t) T;
        CC_LAUNCH(softmax_kernel<T>, (unsigned)grid_for_rows(a->rows.nrows), kOpsThreads, 0, *a);
        return cc_cuda_launch_status("softmax_forward");
    });
}

extern "C" int cc_cuda_softmax_backward(const cc_softmax_args *a)
{
    if (a->rows.nrows == 0 || a->rows.n == 0) return CC_OK;
    return cc_dispatch_float(a->dtype, "softmax_backward", [&](auto t) {
        typedef decltype(t) T;
        CC_LAUNCH(softmax_backward_kernel<T>, (unsigned)grid_for_rows(a->rows.nrows), kOpsThreads, 0, *a);
        return cc_cuda_launch_status("softmax_backward");
    });
}
