/* The AVX2 + FMA row loops of the CPU conv kernels' SiLU, beside the plain loops of
   causal_conv1d_{fwd,bwd}.c that they replace where the target has both (CV_AVX2) and that still
   do their tails. Each does the plain loop's operations in the same order on 8 lanes, so results
   are bitwise the plain loop's. Why by hand: gcc vectorises cv_exp's two clamps into a
   compare-and-blend chain (8 of its ~30 vector ops), where max / min is one op each and keeps NaN
   the same way; SiLU is most of the work of the W <= 4 rows on AVX2 machines. */
#ifndef CC_CPU_CONV_AVX2_H
#define CC_CPU_CONV_AVX2_H

#include <stdint.h>

#if defined(__AVX2__) && defined(__FMA__)
#define CV_AVX2 1
#include <immintrin.h>

/* cv_exp on 8 lanes (max / min return their second operand for NaN, as the comparisons do). */
static inline __m256 cv_exp8(__m256 x)
{
    x = _mm256_max_ps(_mm256_set1_ps(-87.3f), x);
    x = _mm256_min_ps(_mm256_set1_ps(89.0f), x);
    __m256 t = _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504f), _mm256_set1_ps(12582912.0f));
    __m256 n = _mm256_sub_ps(t, _mm256_set1_ps(12582912.0f));
    __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(-0.693359375f), x);
    r = _mm256_fmadd_ps(n, _mm256_set1_ps(2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r), _mm256_set1_ps(1.0f));
    __m256i sb = _mm256_slli_epi32(_mm256_add_epi32(_mm256_castps_si256(t), _mm256_set1_epi32((int)(127u - 0x4b400000u))), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(sb));
}

static inline __m256 cv_neg8(__m256 v) { return _mm256_xor_ps(v, _mm256_set1_ps(-0.0f)); }

/* cv_silu: v / (1 + exp(-v)) */
static inline __m256 cv_silu8(__m256 v)
{
    return _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), cv_exp8(cv_neg8(v))));
}

/* cv_dsilu: s * (1 + pre * (1 - s)), s = 1 / (1 + exp(-pre)) */
static inline __m256 cv_dsilu8(__m256 pre)
{
    __m256 one = _mm256_set1_ps(1.0f);
    __m256 s = _mm256_div_ps(one, _mm256_add_ps(one, cv_exp8(cv_neg8(pre))));
    return _mm256_mul_ps(s, _mm256_add_ps(one, _mm256_mul_ps(pre, _mm256_sub_ps(one, s))));
}

/* y[i] = silu(y[i]) for i < n rounded down to 8; returns the count done. */
static inline int64_t cv8_silu_row(float *y, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, cv_silu8(_mm256_loadu_ps(y + i)));
    return i;
}

/* g[i] *= silu'(pre[i]) for i < n rounded down to 8; returns the count done. */
static inline int64_t cv8_dsilu_row(float *g, const float *pre, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(g + i, _mm256_mul_ps(_mm256_loadu_ps(g + i), cv_dsilu8(_mm256_loadu_ps(pre + i))));
    return i;
}

/* Channel-first taps (conv_dense, W = 2 .. 4): y[i] = silu(fma(w[W-1], x[i+W-1], ... fma(w[0], x[i],
   bias))) for i < n rounded down to 8 (x holds n + W - 1 values); returns the count done. */
static inline int64_t cv8_conv_silu_cf(float *y, const float *x, const float *w, float bias, int64_t n, int W)
{
    __m256 wk[4], b = _mm256_set1_ps(bias);
    for (int k = 0; k < W; k++) wk[k] = _mm256_set1_ps(w[k]);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = b;
        for (int k = 0; k < W; k++) v = _mm256_fmadd_ps(wk[k], _mm256_loadu_ps(x + i + k), v);
        _mm256_storeu_ps(y + i, cv_silu8(v));
    }
    return i;
}

/* Channel-last taps (conv_row_cl, W = 2 .. 4): y[c] = silu(fma(wt[W-1][c], x[W-1][c], ... fma(wt[0][c],
   x[0][c], b[c]))) for c < cb rounded down to 8, tap rows wt[k] = wt + k * D and x[k] = x + k * xrs;
   returns the count done. */
static inline int64_t cv8_conv_silu_cl(float *y, const float *x, int64_t xrs, const float *wt, const float *b,
                                       int64_t D, int64_t cb, int W)
{
    int64_t c = 0;
    for (; c + 8 <= cb; c += 8) {
        __m256 v = _mm256_loadu_ps(b + c);
        for (int k = 0; k < W; k++) v = _mm256_fmadd_ps(_mm256_loadu_ps(wt + k * D + c), _mm256_loadu_ps(x + k * xrs + c), v);
        _mm256_storeu_ps(y + c, cv_silu8(v));
    }
    return c;
}
/* Channel-first taps, any W (conv_dense's general case): y[i] = bias + w[0] x[i] + ... + w[W-1] x[i+W-1],
   one FMA per tap from the left (the plain loop's passes over y, kept in a register here), then
   silu when set, for i < n rounded down to 8 (x holds n + W - 1 values); returns the
   count done. */
static inline int64_t cv8_conv_taps_cf(float *y, const float *x, const float *w, float bias, int64_t n, int64_t W,
                                       int silu)
{
    __m256 b = _mm256_set1_ps(bias);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {   /* four independent sums: one chain of W adds is latency bound */
        __m256 v0 = b, v1 = b, v2 = b, v3 = b;
        for (int64_t k = 0; k < W; k++) {
            __m256 wk = _mm256_set1_ps(w[k]);
            v0 = _mm256_fmadd_ps(wk, _mm256_loadu_ps(x + i + k), v0);
            v1 = _mm256_fmadd_ps(wk, _mm256_loadu_ps(x + i + 8 + k), v1);
            v2 = _mm256_fmadd_ps(wk, _mm256_loadu_ps(x + i + 16 + k), v2);
            v3 = _mm256_fmadd_ps(wk, _mm256_loadu_ps(x + i + 24 + k), v3);
        }
        _mm256_storeu_ps(y + i, silu ? cv_silu8(v0) : v0);
        _mm256_storeu_ps(y + i + 8, silu ? cv_silu8(v1) : v1);
        _mm256_storeu_ps(y + i + 16, silu ? cv_silu8(v2) : v2);
        _mm256_storeu_ps(y + i + 24, silu ? cv_silu8(v3) : v3);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 v = b;
        for (int64_t k = 0; k < W; k++) v = _mm256_fmadd_ps(_mm256_set1_ps(w[k]), _mm256_loadu_ps(x + i + k), v);
        _mm256_storeu_ps(y + i, silu ? cv_silu8(v) : v);
    }
    return i;
}

/* Channel-last taps, any W (conv_row_cl's general case, no mask): y[c] = b[c] + wt[0][c] x[0][c] + ...
   + wt[W-1][c] x[W-1][c], one FMA per tap in the same order (tap rows wt + k * D, x + k * xrs), then
   silu when set,
   for c < cb rounded down to 8; returns the count done. */
static inline int64_t cv8_conv_taps_cl(float *y, const float *x, int64_t xrs, const float *wt, const float *b,
                                       int64_t D, int64_t cb, int64_t W, int silu)
{
    int64_t c = 0;
    for (; c + 32 <= cb; c += 32) {   /* four independent sums, as cv8_conv_taps_cf */
        __m256 v0 = _mm256_loadu_ps(b + c), v1 = _mm256_loadu_ps(b + c + 8), v2 = _mm256_loadu_ps(b + c + 16),
               v3 = _mm256_loadu_ps(b + c + 24);
        for (int64_t k = 0; k < W; k++) {
            const float *wk = wt + k * D + c, *xk = x + k * xrs + c;
            v0 = _mm256_fmadd_ps(_mm256_loadu_ps(wk), _mm256_loadu_ps(xk), v0);
            v1 = _mm256_fmadd_ps(_mm256_loadu_ps(wk + 8), _mm256_loadu_ps(xk + 8), v1);
            v2 = _mm256_fmadd_ps(_mm256_loadu_ps(wk + 16), _mm256_loadu_ps(xk + 16), v2);
            v3 = _mm256_fmadd_ps(_mm256_loadu_ps(wk + 24), _mm256_loadu_ps(xk + 24), v3);
        }
        _mm256_storeu_ps(y + c, silu ? cv_silu8(v0) : v0);
        _mm256_storeu_ps(y + c + 8, silu ? cv_silu8(v1) : v1);
        _mm256_storeu_ps(y + c + 16, silu ? cv_silu8(v2) : v2);
        _mm256_storeu_ps(y + c + 24, silu ? cv_silu8(v3) : v3);
    }
    for (; c + 8 <= cb; c += 8) {
        __m256 v = _mm256_loadu_ps(b + c);
        for (int64_t k = 0; k < W; k++)
            v = _mm256_fmadd_ps(_mm256_loadu_ps(wt + k * D + c), _mm256_loadu_ps(x + k * xrs + c), v);
        _mm256_storeu_ps(y + c, silu ? cv_silu8(v) : v);
    }
    return c;
}

/* Backward, channel-first W = 4 (bwd_cf_w4): g[u] = dout[u] * silu'(fma(w[3], x[u+3], ... fma(w[0], x[u],
   bias))) for u in [lo, hi) while 8 remain; returns the first u not done. */
static inline int64_t cv8_dsilu_cf_w4(float *g, const float *dout, const float *x, const float *w, float bias,
                                      int64_t lo, int64_t hi)
{
    __m256 w0 = _mm256_set1_ps(w[0]), w1 = _mm256_set1_ps(w[1]), w2 = _mm256_set1_ps(w[2]), w3 = _mm256_set1_ps(w[3]);
    __m256 b = _mm256_set1_ps(bias);
    int64_t u = lo;
    for (; u + 8 <= hi; u += 8) {
        __m256 pre = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + u), b);
        pre = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + u + 1), pre);
        pre = _mm256_fmadd_ps(w2, _mm256_loadu_ps(x + u + 2), pre);
        pre = _mm256_fmadd_ps(w3, _mm256_loadu_ps(x + u + 3), pre);
        _mm256_storeu_ps(g + u, _mm256_mul_ps(_mm256_loadu_ps(dout + u), cv_dsilu8(pre)));
    }
    return u;
}

/* Backward, channel-last W = 4, one position (cl_step_w4's main step) over channels c < cb rounded
   down to 8: pre from x rows x[0..3] with tap rows wt + k * D and bias b; g = dout * silu'(pre) into
   gq; d = fma(w0, g, fma(w1, g2, fma(w2, g1, w3 * g0))) (g0..g2: the gz rows of the three positions
   before); acc rows (stride as) 0..3 += g * x[k], row 4 += g. Returns the count done. */
static inline int64_t cv8_bwd_cl_step_w4(float *gq, float *d, const float *const *x, const float *dout,
                                         const float *g0, const float *g1, const float *g2, const float *wt,
                                         const float *b, float *acc, int64_t as, int64_t D, int64_t cb)
{
    int64_t c = 0;
    for (; c + 8 <= cb; c += 8) {
        __m256 w0 = _mm256_loadu_ps(wt + c), w1 = _mm256_loadu_ps(wt + D + c), w2 = _mm256_loadu_ps(wt + 2 * D + c),
               w3 = _mm256_loadu_ps(wt + 3 * D + c);
        __m256 x0 = _mm256_loadu_ps(x[0] + c), x1 = _mm256_loadu_ps(x[1] + c), x2 = _mm256_loadu_ps(x[2] + c),
               x3 = _mm256_loadu_ps(x[3] + c);
        __m256 pre = _mm256_fmadd_ps(w0, x0, _mm256_loadu_ps(b + c));
        pre = _mm256_fmadd_ps(w1, x1, pre);
        pre = _mm256_fmadd_ps(w2, x2, pre);
        pre = _mm256_fmadd_ps(w3, x3, pre);
        __m256 g = _mm256_mul_ps(_mm256_loadu_ps(dout + c), cv_dsilu8(pre));
        _mm256_storeu_ps(gq + c, g);
        __m256 v = _mm256_mul_ps(w3, _mm256_loadu_ps(g0 + c));
        v = _mm256_fmadd_ps(w2, _mm256_loadu_ps(g1 + c), v);
        v = _mm256_fmadd_ps(w1, _mm256_loadu_ps(g2 + c), v);
        _mm256_storeu_ps(d + c, _mm256_fmadd_ps(w0, g, v));
        _mm256_storeu_ps(acc + c, _mm256_fmadd_ps(g, x0, _mm256_loadu_ps(acc + c)));
        _mm256_storeu_ps(acc + as + c, _mm256_fmadd_ps(g, x1, _mm256_loadu_ps(acc + as + c)));
        _mm256_storeu_ps(acc + 2 * as + c, _mm256_fmadd_ps(g, x2, _mm256_loadu_ps(acc + 2 * as + c)));
        _mm256_storeu_ps(acc + 3 * as + c, _mm256_fmadd_ps(g, x3, _mm256_loadu_ps(acc + 3 * as + c)));
        _mm256_storeu_ps(acc + 4 * as + c, _mm256_add_ps(_mm256_loadu_ps(acc + 4 * as + c), g));
    }
    return c;
}
#else
/* Without AVX2 + FMA: nothing done, the plain loops do every element. */
#define CV_AVX2 0
static inline int64_t cv8_silu_row(float *y, int64_t n) { (void)y, (void)n; return 0; }
static inline int64_t cv8_dsilu_row(float *g, const float *pre, int64_t n) { (void)g, (void)pre, (void)n; return 0; }
static inline int64_t cv8_conv_silu_cf(float *y, const float *x, const float *w, float bias, int64_t n, int W)
{
    (void)y, (void)x, (void)w, (void)bias, (void)n, (void)W;
    return 0;
}
static inline int64_t cv8_conv_silu_cl(float *y, const float *x, int64_t xrs, const float *wt, const float *b,
                                       int64_t D, int64_t cb, int W)
{
    (void)y, (void)x, (void)xrs, (void)wt, (void)b, (void)D, (void)cb, (void)W;
    return 0;
}
static inline int64_t cv8_conv_taps_cf(float *y, const float *x, const float *w, float bias, int64_t n, int64_t W,
                                       int silu)
{
    (void)y, (void)x, (void)w, (void)bias, (void)n, (void)W, (void)silu;
    return 0;
}
static inline int64_t cv8_conv_taps_cl(float *y, const float *x, int64_t xrs, const float *wt, const float *b,
                                       int64_t D, int64_t cb, int64_t W, int silu)
{
    (void)y, (void)x, (void)xrs, (void)wt, (void)b, (void)D, (void)cb, (void)W, (void)silu;
    return 0;
}
static inline int64_t cv8_dsilu_cf_w4(float *g, const float *dout, const float *x, const float *w, float bias,
                                      int64_t lo, int64_t hi)
{
    (void)g, (void)dout, (void)x, (void)w, (void)bias, (void)hi;
    return lo;
}
static inline int64_t cv8_bwd_cl_step_w4(float *gq, float *d, const float *const *x, const float *dout,
                                         const float *g0, const float *g1, const float *g2, const float *wt,
                                         const float *b, float *acc, int64_t as, int64_t D, int64_t cb)
{
    (void)gq, (void)d, (void)x, (void)dout, (void)g0, (void)g1, (void)g2, (void)wt, (void)b, (void)acc, (void)as;
    (void)D, (void)cb;
    return 0;
}
#endif

#endif
