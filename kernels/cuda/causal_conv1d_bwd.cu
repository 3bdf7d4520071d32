/* Causal depthwise conv1d backward on CUDA (dense and varlen).

   gz[t] = dout[t] (times silu'(pre[t]) with pre recomputed from x), 0 on padding tokens.
   dx[p] = sum_k w[k] gz[p+W-1-k] over t in p's segment, plus dfinal for the last W-1 positions.
   dweight/dbias are reduced without atomics: every block writes its partial sums to a workspace
   ws[P][D][W+1] (slot W is the bias), and a second kernel sums the P partials in a fixed order, so
   the result is bit-identical run to run whatever a->deterministic says.

   Paths:
   - generic: dx one thread per element (gz recomputed per tap), dweight one block per
     (channel, split of the B*L positions); any strides, any width, every feature.
   - dinitial_states: a small kernel over (row, D, W-1). */
#include "causal_conv1d_common.cuh"
#include "cuda_backend.h"

/* gz at row position t (0 <= t < len) */
template <int DT> CV_DEV typename cv_t<DT>::A cv_gz(const cc_conv1d_args &a, const cv_row &row, int64_t c, int64_t t)
{
    typedef typename cv_t<DT>::A A;
    if (cv_seg(a, row, t) < 0) return (A)0;
    A g = cv_cvt<DT>(((const typename cv_t<DT>::S *)a.dout)[row.b * a.dout_stride[0] + c * a.dout_stride[1] +
                                                            (row.start + t) * a.dout_stride[2]]);
    if (a.silu) g *= cv_dsilu(cv_pre<DT>(a, row, c, t));
    return g;
}

/* d loss / d xe[p], -(W-1) <= p < len: the taps of p's segment plus the dfinal pass-through */
template <int DT> CV_DEV typename cv_t<DT>::A cv_dxe(const cc_conv1d_args &a, const cv_row &row, int64_t c, int64_t p)
{
    typedef typename cv_t<DT>::A A;
    const int64_t ext = a.W - 1;
    int32_t sp = cv_seg(a, row, p);
    A g = (A)0;
    int64_t j = p - (row.len - ext);
    if (a.dfinal_states && j >= 0 && cv_final_keeps(a, row, p)) {
        const int64_t *fs = a.dfinal_states_stride;
        g = cv_ld<A>(a.dfinal_states, a.state_dtype, row.s * fs[0] + c * fs[1] + j * fs[2]);
    }
    for (int64_t k = 0; k < a.W; k++) {
        int64_t t = p + ext - k;
        if (t >= 0 && t < row.len && cv_seg(a, row, t) == sp)
            g += cv_ld<A>(a.weight, a.weight_dtype, c * a.weight_stride[0] + k * a.weight_stride[1]) * cv_gz<DT>(a, row, c, t);
    }
    return g;
}

/* dx (B, D, L); one thread per element */
template <int DT>
__global__ void cv_bwd_dx_generic_kernel(const cc_conv1d_args a, int chan_fast)
{
    typedef typename cv_t<DT>::S S;
    const int64_t D = a.D, L = a.L;
    CV_GRID_STRIDE(i, a.B * D * L) {
        int64_t b, c, t;
        if (chan_fast) { c = i % D; int64_t q = i / D; t = q % L; b = q / L; }
        else           { t = i % L; int64_t q = i / L; c = q % D; b = q / D; }
        cv_row row;
        if (!cv_row_of(a, b, t, row)) continue;
        ((S *)a.dx)[b * a.dx_stride[0] + c * a.dx_stride[1] + t * a.dx_stride[2]] =
            cv_pack<DT>(cv_dxe<DT>(a, row, c, t - row.start));
    }
}

/* dinitial_states (rows, D, W-1) */
template <int DT>
__global__ void cv_bwd_dinit_kernel(const cc_conv1d_args a)
{
    typedef typename cv_t<DT>::A A;
    const int64_t ext = a.W - 1, D = a.D, R = a.cu_seqlens ? a.N : a.B;
    const int64_t *ds = a.dinitial_states_stride;
    CV_GRID_STRIDE(i, R * D * ext) {
        int64_t c = i % D, q = i / D, j = q % ext, r = q / ext;
        cv_row row = cv_get_row(a, r);
        cv_st<A>(a.dinitial_states, a.state_dtype, row.s * ds[0] + c * ds[1] + j * ds[2], cv_dxe<DT>(a, row, c, j - ext));
    }
}

/* ws[P][D][W+1] partial dweight/dbias: block (c, s) of grid (D * P) sums split s of the B*L
   positions of channel c, reduced over the block in a fixed tree order. */
template <int DT>
__global__ void cv_bwd_dw_generic_kernel(const cc_conv1d_args a, typename cv_t<DT>::A *ws, int64_t P)
{
    typedef typename cv_t<DT>::A A;
    CC_DYNAMIC_SMEM(A, red);
    const int64_t W = a.W, total = a.B * a.L, per = (total + P - 1) / P;
    const int64_t c = (int64_t)blockIdx.x % a.D, s = (int64_t)blockIdx.x / a.D;
    A dw[CV_MAX_W + 1];
    for (int k = 0; k <= CV_MAX_W; k++) dw[k] = (A)0;
    int64_t end = (s + 1) * per < total ? (s + 1) * per : total;
    for (int64_t i = s * per + threadIdx.x; i < end; i += blockDim.x) {
        int64_t b = i / a.L, t = i % a.L;
        cv_row row;
        if (!cv_row_of(a, b, t, row)) continue;
        int64_t tr = t - row.start;
        A g = cv_gz<DT>(a, row, c, tr);
        int32_t st = cv_seg(a, row, tr);
        dw[W] += g;
        for (int64_t k = 0; k < W; k++) {
            int64_t p = tr - (W - 1) + k;
            if (cv_seg(a, row, p) == st) dw[k] += g * cv_xe<DT>(a, row, c, p);
        }
    }
    for (int64_t k = 0; k <= W; k++) {
        red[threadIdx.x] = dw[k];
        __syncthreads();
        for (unsigned h = blockDim.x / 2; h > 0; h >>= 1) {
            if (threadIdx.x < h) red[threadIdx.x] += red[threadIdx.x + h];
            __syncthreads();
        }
        if (threadIdx.x == 0) ws[(s * a.D + c) * (W + 1) + k] = red[0];
        __syncthreads();
    }
}

/* dweight (D, W), dbias (D) from ws[P][D][W+1], summed over P in order; one thread per (c, k) */
template <class A>
__global__ void cv_bwd_dw_reduce_kernel(const cc_conv1d_args a, const A *ws, int64_t P)
{
    const int64_t W1 = a.W + 1;
    CV_GRID_STRIDE(i, a.D * W1) {
        int64_t c = i / W1, k = i % W1;
        A sum = (A)0;
        for (int64_t s = 0; s < P; s++) sum += ws[s * a.D * W1 + i];
        if (k < a.W)
            cv_st<A>(a.dweight, a.weight_dtype, c * a.dweight_stride[0] + k * a.dweight_stride[1], sum);
        else if (a.dbias)
            cv_st<A>(a.dbias, a.bias_dtype, c * a.dbias_stride, sum);
    }
}

template <int DT>
static int cv_bwd(const cc_conv1d_args *a)
{
    typedef typename cv_t<DT>::A A;
    const int threads = 256;
    const int64_t D = a->D, W1 = a->W + 1, R = a->cu_seqlens ? a->N : a->B;
    int chan_fast = a->x_stride[1] == 1 && a->x_stride[2] != 1;
    int64_t total = a->B * a->L;

    /* enough blocks to fill the device, each with a few hundred positions at least */
    int64_t P = (1024 + D - 1) / D;
    int64_t pmax = (total + 511) / 512;
    if (P > pmax) P = pmax;
    if (P < 1) P = 1;

    void *ws = NULL;
    if (cc_cuda_alloc(&ws, P * D * W1 * (int64_t)sizeof(A), 0) != CC_OK) return CC_ERR_MEMORY;

    if (a->B * D * a->L > 0)
        CC_LAUNCH(cv_bwd_dx_generic_kernel<DT>, cv_blocks(a->B * D * a->L, threads), threads, 0, *a, chan_fast);
    if (a->dinitial_states && R * D * (a->W - 1) > 0)
        CC_LAUNCH(cv_bwd_dinit_kernel<DT>, cv_blocks(R * D * (a->W - 1), threads), threads, 0, *a);
    const int rthreads = 128;
    CC_LAUNCH(cv_bwd_dw_generic_kernel<DT>, (unsigned)(D * P), rthreads, rthreads * sizeof(A), *a, (A *)ws, P);
    CC_LAUNCH(cv_bwd_dw_reduce_kernel<A>, cv_blocks(D * W1, threads), threads, 0, *a, (const A *)ws, P);
    int st = cc_cuda_launch_status("causal_conv1d_backward");
    cc_cuda_free(ws, 0);
    return st;
}

extern "C" int cc_cuda_causal_conv1d_backward(const cc_conv1d_args *a)
{
    if (a->D == 0) return cc_cuda_launch_status("causal_conv1d_backward");
    int st = CC_OK;
    CV_DISPATCH_DTYPE(a->x_dtype, st = cv_bwd<DT>(a));
    return st;
}
