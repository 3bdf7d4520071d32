/* The compute roof of the fast selective-scan forward: per element-state the forward's arithmetic
   and nothing else, one exp(dt * A) by cv_exp, the products dt * A and dt u * B, the FMA
   h = dA h + dt u B and the FMA y += C h, over SC_W lanes and ROOF_N independent states kept in
   registers (no loads or stores in the loop), on every OpenMP thread. dt changes every step (one
   FMA per ROOF_N * SC_W element-states) so that the exps cannot be hoisted. */
#include "scan_common.h"
#include "scan_roof.h"

#define ROOF_N 4   /* states per step: independent chains that hide the FMA latency, within 16 registers */

/* `steps` steps of ROOF_N * SC_W element-states; returns the sum of the final y and h. */
static double roof_run(int64_t steps, float seed)
{
    float dt[SC_W], y[SC_W], h[ROOF_N][SC_W], A[ROOF_N][SC_W];
    const float Bv[ROOF_N] = { 0.5f, -0.25f, 0.75f, 1.0f }, Cv[ROOF_N] = { 1.0f, 0.5f, -0.5f, 0.25f };
    for (int j = 0; j < SC_W; j++) {
        dt[j] = seed + 0.01f * (float)j;
        y[j] = 0.0f;
        for (int n = 0; n < ROOF_N; n++) {
            h[n][j] = 0.0f;
            A[n][j] = -1.0f - (float)n - 0.1f * (float)j;
        }
    }
    for (int64_t s = 0; s < steps; s++) {
        #pragma omp simd
        for (int j = 0; j < SC_W; j++) {
            float d = CV_FMA(dt[j], 0.999f, 0.001f);   /* stays near 1: exp arguments in range */
            dt[j] = d;
            float acc = y[j];
            for (int n = 0; n < ROOF_N; n++) {
                float e = cv_exp(d * A[n][j]);
                h[n][j] = CV_FMA(e, h[n][j], d * Bv[n]);
                acc = CV_FMA(Cv[n], h[n][j], acc);
            }
            y[j] = acc;
        }
    }
    double sum = 0.0;
    for (int j = 0; j < SC_W; j++) {
        sum += y[j];
        for (int n = 0; n < ROOF_N; n++) sum += h[n][j];
    }
    return sum;
}

int cc_cpu_scan_roof(int64_t elements, double *checksum)
{
    int64_t steps = elements > 0 ? elements / (ROOF_N * SC_W) : 0;
    int nt = omp_get_max_threads();
    double *part = calloc((size_t)nt, sizeof *part);
    if (!part) return CC_ERR_MEMORY;
    #pragma omp parallel
    {
        int64_t t = omp_get_thread_num(), T = omp_get_num_threads();
        part[t] = roof_run(steps * (t + 1) / T - steps * t / T, 1.0f + 0.001f * (float)t);
    }
    double sum = 0.0;
    for (int t = 0; t < nt; t++) sum += part[t];
    *checksum = sum;
    free(part);
    return CC_OK;
}
