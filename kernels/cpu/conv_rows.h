/* Channel-first row loops of the fast CPU conv shared by the kernels (causal_conv1d_fwd.c,
   causal_conv1d_bwd.c) and the conv roof (conv_roof.c), so that the roof times the same
   arithmetic the kernels run. */
#ifndef CC_CPU_CONV_ROWS_H
#define CC_CPU_CONV_ROWS_H

#include "conv_common.h"

/* y[i] = act(bias + sum_k w[k] x[i + k]), i < n (x holds n + W - 1 values); SiLU fused into the
   tap loop for W <= 4 so the chunk is passed over once. */
static inline void conv_dense(float *restrict y, const float *restrict x, const float *restrict w, float bias,
                              int64_t n, int64_t W, int silu)
{
    switch (W) {
    case 2: {
        float w0 = w[0], w1 = w[1];
        if (silu) {
            #pragma omp simd
            for (int64_t i = cv8_conv_silu_cf(y, x, w, bias, n, 2); i < n; i++) {
                float v = CV_FMA(w1, x[i + 1], CV_FMA(w0, x[i], bias));
                y[i] = cv_silu(v);
            }
        } else {
            for (int64_t i = 0; i < n; i++) y[i] = CV_FMA(w1, x[i + 1], CV_FMA(w0, x[i], bias));
        }
        return;
    }
    case 3: {
        float w0 = w[0], w1 = w[1], w2 = w[2];
        if (silu) {
            #pragma omp simd
            for (int64_t i = cv8_conv_silu_cf(y, x, w, bias, n, 3); i < n; i++) {
                float v = CV_FMA(w2, x[i + 2], CV_FMA(w1, x[i + 1], CV_FMA(w0, x[i], bias)));
                y[i] = cv_silu(v);
            }
        } else {
            for (int64_t i = 0; i < n; i++) y[i] = CV_FMA(w2, x[i + 2], CV_FMA(w1, x[i + 1], CV_FMA(w0, x[i], bias)));
        }
        return;
    }
    case 4: {
        float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
        if (silu) {
            #pragma omp simd
            for (int64_t i = cv8_conv_silu_cf(y, x, w, bias, n, 4); i < n; i++) {
                float v = CV_FMA(w3, x[i + 3], CV_FMA(w2, x[i + 2], CV_FMA(w1, x[i + 1], CV_FMA(w0, x[i], bias))));
                y[i] = cv_silu(v);
            }
        } else {
            for (int64_t i = 0; i < n; i++) y[i] = CV_FMA(w3, x[i + 3], CV_FMA(w2, x[i + 2], CV_FMA(w1, x[i + 1], CV_FMA(w0, x[i], bias))));
        }
        return;
    }
    default: {
        int64_t i0 = cv8_conv_taps_cf(y, x, w, bias, n, W, silu);
        for (int64_t i = i0; i < n; i++) y[i] = bias;
        for (int64_t k = 0; k < W; k++) {
            float wk = w[k];
            for (int64_t i = i0; i < n; i++) y[i] = CV_FMA(wk, x[i + k], y[i]);
        }
        if (silu) cv_silu_row(y + i0, n - i0);
    }
    }
}

/* The backward's dweight and dbias sums of a channel-first W = 4 row: s[k] += sum_u g[u] x[u + k]
   (k < 4) and s[4] += sum_u g[u] over u in [lo, hi); x holds hi + 3 values. */
static inline void cv_dw_sums_w4(float *restrict s, const float *restrict g, const float *restrict x, int64_t lo,
                                 int64_t hi)
{
    float s0 = s[0], s1 = s[1], s2 = s[2], s3 = s[3], sb = s[4];
    #pragma omp simd reduction(+:s0, s1, s2, s3, sb)
    for (int64_t u = lo; u < hi; u++) {
        s0 = CV_FMA(g[u], x[u], s0);
        s1 = CV_FMA(g[u], x[u + 1], s1);
        s2 = CV_FMA(g[u], x[u + 2], s2);
        s3 = CV_FMA(g[u], x[u + 3], s3);
        sb += g[u];
    }
    s[0] = s0, s[1] = s1, s[2] = s2, s[3] = s3, s[4] = sb;
}

#endif
