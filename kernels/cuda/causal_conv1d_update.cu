/* Causal conv1d decode update on CUDA: S new tokens per row against a conv_state of state_len
   entries, updated in place (a linear shift, or a circular buffer with cache_seqlens).

   One thread per (b, c), threads walking channels fastest so x, out and a (pool, state_len, D)
   state coalesce. The W-1 history values are read into registers before any state write, the S
   tokens run through a register window, then the state is written. Width is a template for
   2, 3, 4 (exact windows); other widths use a 16-wide window with zero-padded leading weights. */
#include "causal_conv1d_common.cuh"

/* out (B, D, S), conv_state (pool, D, state_len); KW = window length (W, or 16 padded) */
template <int DT, int KW>
__global__ void cv_update_kernel(const cc_conv1d_update_args a)
{
    typedef typename cc_dt<DT>::A A;
    typedef typename cc_dt<DT>::S S;
    const int64_t D = a.D, S_ = a.S, W = a.W, ext = W - 1, SL = a.state_len;
    const S *x = (const S *)a.x;
    S *out = (S *)a.out;
    CV_GRID_STRIDE(i, a.B * D) {
        int64_t c = i % D, b = i / D;
        int64_t xo = b * a.x_stride[0] + c * a.x_stride[1], oo = b * a.out_stride[0] + c * a.out_stride[1];
        int64_t pool = a.conv_state_indices ? (int64_t)a.conv_state_indices[b * a.conv_state_indices_stride] : b;
        if (pool < 0) {   /* padding row: zeros out, state untouched */
            for (int64_t s = 0; s < S_; s++) out[oo + s * a.out_stride[2]] = cc_narrow<typename cc_dt<DT>::S>((A)0);
            continue;
        }
        /* window taps: w[KW-W .. KW-1] hold the weights, leading taps are zero */
        A w[KW], win[KW];
        #pragma unroll
        for (int k = 0; k < KW; k++) {
            int64_t kk = k - (KW - W);
            w[k] = kk >= 0 ? cc_load_as<A>(a.weight, a.weight_dtype, c * a.weight_stride[0] + kk * a.weight_stride[1]) : (A)0;
            win[k] = (A)0;
        }
        A bias = a.bias ? cc_load_as<A>(a.bias, a.bias_dtype, c * a.bias_stride) : (A)0;
        int64_t so = pool * a.conv_state_stride[0] + c * a.conv_state_stride[1], ss = a.conv_state_stride[2];
        bool circ = a.cache_seqlens && SL > 0;
        int64_t r = circ ? (((int64_t)a.cache_seqlens[b * a.cache_seqlens_stride] % SL) + SL) % SL : 0;
        /* history: win[KW-1-ext .. KW-2] = the ext tokens before the new ones */
        #pragma unroll
        for (int k = 0; k < KW - 1; k++) {
            int64_t j = k - (KW - 1 - ext);   /* 0..ext-1 */
            if (j >= 0) {
                int64_t slot = circ ? (((r - ext + j) % SL) + SL) % SL : SL - ext + j;
                win[k] = cc_load_as<A>(a.conv_state, a.state_dtype, so + slot * ss);
            }
        }
        for (int64_t s = 0; s < S_; s++) {
            win[KW - 1] = cc_widen(x[xo + s * a.x_stride[2]]);
            A pre = bias;
            #pragma unroll
            for (int k = 0; k < KW; k++) pre += w[k] * win[k];
            out[oo + s * a.out_stride[2]] = cc_narrow<typename cc_dt<DT>::S>(a.silu ? cc_silu(pre) : pre);
            #pragma unroll
            for (int k = 0; k < KW - 1; k++) win[k] = win[k + 1];
        }
        if (SL == 0) continue;
        if (circ) {
            /* only the last SL tokens survive the wrap; writing just those keeps the order rule */
            int64_t first = S_ > SL ? S_ - SL : 0;
            for (int64_t s = first; s < S_; s++)
                cc_copy_element(a.conv_state, a.state_dtype, so + ((r + s) % SL) * ss, a.x, a.x_dtype, xo + s * a.x_stride[2]);
        } else {
            /* new state = last SL entries of concat(state, x); ascending j reads before it overwrites */
            for (int64_t j = 0; j < SL; j++) {
                int64_t m = j + S_;
                if (m < SL) cc_copy_element(a.conv_state, a.state_dtype, so + j * ss, a.conv_state, a.state_dtype, so + m * ss);
                else        cc_copy_element(a.conv_state, a.state_dtype, so + j * ss, a.x, a.x_dtype, xo + (m - SL) * a.x_stride[2]);
            }
        }
    }
}

template <int DT>
static void cv_update(const cc_conv1d_update_args *a)
{
    const int threads = 128;
    unsigned blocks = cv_blocks(a->B * a->D, threads);
    switch (a->W) {
    case 1:
    case 2: CC_LAUNCH((cv_update_kernel<DT, 2>), blocks, threads, 0, *a); break;
    case 3: CC_LAUNCH((cv_update_kernel<DT, 3>), blocks, threads, 0, *a); break;
    case 4: CC_LAUNCH((cv_update_kernel<DT, 4>), blocks, threads, 0, *a); break;
    default: CC_LAUNCH((cv_update_kernel<DT, CC_CONV_MAX_WIDTH>), blocks, threads, 0, *a); break;
    }
}

extern "C" int cc_cuda_causal_conv1d_update(const cc_conv1d_update_args *a)
{
    if (a->B * a->D > 0) {
        CV_DISPATCH_DTYPE(a->x_dtype, cv_update<DT>(a));
    }
    return cc_cuda_launch_status("causal_conv1d_update");
}
