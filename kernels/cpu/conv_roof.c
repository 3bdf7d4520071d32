/* The compute roof of the fast CPU conv: its channel-first row loops over rows of ROOF_L
   positions that stay in L1 (x, dout and the outputs of one row: 4 x 8 KiB), so that the time is
   arithmetic only. Forward: conv_dense, the loop the forward kernel runs (W taps, SiLU fused for
   W <= 4). Backward (W = 4): the three passes of the kernel's bwd_cf_w4 for one row, g = dout *
   silu'(pre) with pre the forward taps again, dx = four taps of g, the dweight and dbias sums. */
#include "conv_rows.h"
#include "conv_roof.h"

#define ROOF_L 2048   /* positions per row */

/* One backward row of n positions (a call, as roof_fwd_row): x holds n + 3 values; dout and g
   n + 3 each, their first 3 zero (g[3 + u] = gz[u]); dx n; s[5] += the dweight and dbias sums.
   Without SiLU gz is dout itself, as in the kernel's interior chunks. */
__attribute__((noipa)) static void roof_bwd_row(float *restrict dx, float *restrict g, const float *restrict dout,
                                                const float *restrict x, const float *restrict w, float bias,
                                                int64_t n, int silu, float *restrict s)
{
    float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
    const float *restrict gz = dout;
    if (silu) {
        float *restrict gr = g + 3;
        const float *restrict dr = dout + 3;
        #pragma omp simd
        for (int64_t u = cv8_dsilu_cf_w4(gr, dr, x, w, bias, 0, n); u < n; u++) {
            float pre = CV_FMA(w3, x[u + 3], CV_FMA(w2, x[u + 2], CV_FMA(w1, x[u + 1], CV_FMA(w0, x[u], bias))));
            gr[u] = dr[u] * cv_dsilu(pre);
        }
        gz = g;
    }
    for (int64_t i = 0; i < n; i++) dx[i] = CV_FMA(w0, gz[i + 3], CV_FMA(w1, gz[i + 2], CV_FMA(w2, gz[i + 1], w3 * gz[i])));
    cv_dw_sums_w4(s, gz + 3, x, 0, n);
}

/* conv_dense, kept a call of unknown n: with the constant ROOF_L inlined gcc warns about the tail
   loops' unreachable iterations. */
__attribute__((noipa)) static void roof_fwd_row(float *y, const float *x, const float *w, float bias, int64_t n,
                                                int64_t W, int silu)
{
    conv_dense(y, x, w, bias, n, W, silu);
}

/* `rows` rows of ROOF_L positions on this thread's buffers; returns a sum of the results. */
static double roof_run(int64_t rows, int64_t W, int silu, int backward, float *buf, float seed)
{
    float *x = buf, *dout = x + ROOF_L + CC_CONV_MAX_WIDTH, *y = dout + ROOF_L + 3, *g = y + ROOF_L;
    float w[CC_CONV_MAX_WIDTH], s[5] = { 0 };
    for (int64_t k = 0; k < W; k++) w[k] = 0.25f - 0.1f * (float)k;
    for (int64_t i = 0; i < ROOF_L + CC_CONV_MAX_WIDTH; i++) x[i] = seed * (float)((i * 37) % 101 - 50) / 50.0f;
    for (int64_t i = 0; i < ROOF_L + 3; i++) dout[i] = i < 3 ? 0.0f : (float)((i * 53) % 89 - 44) / 44.0f;
    for (int64_t i = 0; i < 3; i++) g[i] = 0.0f;
    double sum = 0.0;
    for (int64_t r = 0; r < rows; r++) {
        float bias = 0.01f * (float)(r % 7);   /* changes per row: nothing to hoist out of the loop */
        if (backward) {
            roof_bwd_row(y, g, dout, x, w, bias, ROOF_L, silu, s);
        } else {
            roof_fwd_row(y, x, w, bias, ROOF_L, W, silu);
            sum += y[r % ROOF_L];
        }
    }
    return sum + s[0] + s[1] + s[2] + s[3] + s[4] + y[ROOF_L - 1];
}

int cc_cpu_conv_roof(int64_t elements, int64_t W, int silu, int backward, double *checksum)
{
    int64_t rows = elements > 0 ? elements / ROOF_L : 0;
    int nt = omp_get_max_threads();
    int64_t per_thread = 4 * ROOF_L + CC_CONV_MAX_WIDTH + 16;   /* x, dout, dx, g and their margins */
    double *part = calloc((size_t)nt, sizeof *part);
    float *buf = malloc((size_t)(nt * per_thread) * sizeof(float));
    if (!part || !buf) {
        free(part);
        free(buf);
        return CC_ERR_MEMORY;
    }
    #pragma omp parallel
    {
        int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
        part[t] = roof_run(rows * (t + 1) / T - rows * t / T, W, silu, backward, buf + t * per_thread,
                           1.0f + 0.001f * (float)t);
    }
    double sum = 0.0;
    for (int t = 0; t < nt; t++) sum += part[t];
    *checksum = sum;
    free(part);
    free(buf);
    return CC_OK;
}
