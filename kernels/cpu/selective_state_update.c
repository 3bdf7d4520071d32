/* Fast CPU decode step of the selective scan. state (pool, Di, N) in place; x, dt, z, out (Bt, Di);
   B, C (Bt, G, N); A (Di, N); D, dt_bias (Di); state_batch_indices (Bt).

   Work: tasks of UPD_CB channels of one batch row, spread by OpenMP. A task converts its channel
   vectors (x, dt, z, D, dt_bias) to f32 and takes dt's softplus vectorised across channels (a
   libm call per channel would cost more than its state row); then it updates each channel's state
   row vectorised over N: in place when the state is f32 with unit stride, through an f32 row
   otherwise. f64 x runs the reference kernel, which computes in f64. */
#include "scan_common.h"

#define UPD_CB 64   /* channels per task */

/* A task's scratch: channel vectors (UPD_CB), lane sums, rows (N). */
typedef struct upd_scratch {
    float *x, *dt, *z, *D, *y;
    float *yl;           /* (UPD_CB, SC_W): lane j of channel c's sum at yl[c * SC_W + j] */
    float *B, *C, *A, *s;
} upd_scratch;

static int64_t upd_scratch_at(upd_scratch *w, float *base, int64_t N)
{
    cv_carve c = { base, 0 };
    float **vecs[] = { &w->x, &w->dt, &w->z, &w->D, &w->y };
    for (int i = 0; i < 5; i++) *vecs[i] = cv_take(&c, UPD_CB);
    w->yl = cv_take(&c, SC_W * UPD_CB);
    float **rows[] = { &w->B, &w->C, &w->A, &w->s };
    for (int i = 0; i < 4; i++) *rows[i] = cv_take(&c, N);
    return c.used;
}

/* Per-channel vector p (Di) at channels c0 .. c0+n into dst, `none` where p is NULL. */
static void upd_load_vec(float *restrict dst, const void *p, int dtype, int64_t stride, int64_t c0, int64_t n, float none)
{
    if (p) cv_load_row(dst, cv_at(p, dtype, c0 * stride), dtype, stride, n);
    else for (int64_t i = 0; i < n; i++) dst[i] = none;
}

/* y (nc) = the lane sums of yl (nc, SC_W), lane 0 first then 1, 2, ..: eight channels at a time by
   a transpose and vector adds instead of a horizontal sum per channel (which cost more than the
   state row). */
static void upd_lane_sums(float *restrict y, const float *restrict yl, int64_t nc)
{
    int64_t c = 0;
#ifdef __AVX2__
    for (; c + 8 <= nc; c += 8) {
        __m256 r[8];
        for (int k = 0; k < 8; k++) r[k] = _mm256_loadu_ps(yl + (c + k) * SC_W);
        sc_transpose8(r);
        __m256 v = r[0];
        for (int j = 1; j < SC_W; j++) v = _mm256_add_ps(v, r[j]);
        _mm256_storeu_ps(y + c, v);
    }
#endif
    for (; c < nc; c++) {
        float v = yl[c * SC_W];
        for (int j = 1; j < SC_W; j++) v += yl[c * SC_W + j];
        y[c] = v;
    }
}

/* Channels c0 .. c0+nc of batch row b. */
static void upd_task(const cc_scan_update_args *a, int64_t b, int64_t c0, int64_t nc, const upd_scratch *w)
{
    int64_t N = a->N, Di = a->Di;
    int64_t i = a->state_batch_indices ? a->state_batch_indices[b * a->state_batch_indices_stride] : b;
    float *y = w->y;
    if (i >= 0) {
        upd_load_vec(w->x, cv_at(a->x, a->x_dtype, b * a->x_stride[0]), a->x_dtype, a->x_stride[1], c0, nc, 0.0f);
        upd_load_vec(w->dt, cv_at(a->dt, a->dt_dtype, b * a->dt_stride[0]), a->dt_dtype, a->dt_stride[1], c0, nc, 0.0f);
        upd_load_vec(w->y, a->dt_bias, a->dt_bias_dtype, a->dt_bias_stride, c0, nc, 0.0f);
        upd_load_vec(w->D, a->D, a->D_dtype, a->D_stride, c0, nc, 0.0f);
        if (a->z) upd_load_vec(w->z, cv_at(a->z, a->z_dtype, b * a->z_stride[0]), a->z_dtype, a->z_stride[1], c0, nc, 0.0f);
        if (a->dt_softplus) {
            #pragma omp simd
            for (int64_t c = 0; c < nc; c++) w->dt[c] = sc_softplus(w->dt[c] + y[c]);
        } else {
            for (int64_t c = 0; c < nc; c++) w->dt[c] += y[c];
        }
        int direct = a->state_dtype == CC_F32 && a->state_stride[2] == 1;
        int directA = a->A_dtype == CC_F32 && a->A_stride[1] == 1;
        int64_t sB = Di / a->B_G, sC = Di / a->C_G, endB = c0, endC = c0;   /* group sizes; first channel past the loaded group */
        for (int64_t c = c0; c < c0 + nc; c++) {
            if (c == endB) {   /* a new B group: no division per channel */
                int64_t g = c / sB;
                endB = (g + 1) * sB;
                cv_load_row(w->B, cv_at(a->B, a->B_dtype, b * a->B_stride[0] + g * a->B_stride[1]), a->B_dtype,
                            a->B_stride[2], N);
            }
            if (c == endC) {
                int64_t g = c / sC;
                endC = (g + 1) * sC;
                cv_load_row(w->C, cv_at(a->C, a->C_dtype, b * a->C_stride[0] + g * a->C_stride[1]), a->C_dtype,
                            a->C_stride[2], N);
            }
            const float *A = w->A;
            if (directA) A = (const float *)a->A + c * a->A_stride[0];
            else cv_load_row(w->A, cv_at(a->A, a->A_dtype, c * a->A_stride[0]), a->A_dtype, a->A_stride[1], N);
            void *srow = cv_at_mut(a->state, a->state_dtype, i * a->state_stride[0] + c * a->state_stride[1]);
            float *s = direct ? (float *)srow : w->s;
            if (!direct) cv_load_row(s, srow, a->state_dtype, a->state_stride[2], N);
            float d = w->dt[c - c0], dx = d * w->x[c - c0];
            float *restrict part = w->yl + (c - c0) * SC_W;   /* summed in place: a private array read
                                                                  back whole after a scalar store stalled */
            for (int j = 0; j < SC_W; j++) part[j] = 0.0f;
            const float *restrict B = w->B, *restrict C = w->C;
            int64_t n = 0;
            for (; n + SC_W <= N; n += SC_W) {
                #pragma omp simd
                for (int j = 0; j < SC_W; j++) {
                    float h = CV_FMA(s[n + j], cv_exp(d * A[n + j]), dx * B[n + j]);
                    s[n + j] = h;
                    part[j] = CV_FMA(h, C[n + j], part[j]);
                }
            }
            for (; n < N; n++) {
                float h = CV_FMA(s[n], cv_exp(d * A[n]), dx * B[n]);
                s[n] = h;
                part[0] = CV_FMA(h, C[n], part[0]);
            }
            if (!direct) cv_store_row(srow, a->state_dtype, a->state_stride[2], s, N);
        }
        upd_lane_sums(y, w->yl, nc);
        if (a->z) {
            #pragma omp simd
            for (int64_t c = 0; c < nc; c++) y[c] = CV_FMA(w->D[c], w->x[c], y[c]) * cv_silu(w->z[c]);
        } else {
            for (int64_t c = 0; c < nc; c++) y[c] = CV_FMA(w->D[c], w->x[c], y[c]);
        }
    } else {
        for (int64_t c = 0; c < nc; c++) y[c] = 0.0f;
    }
    cv_store_row(cv_at_mut(a->out, a->out_dtype, b * a->out_stride[0] + c0 * a->out_stride[1]), a->out_dtype,
                 a->out_stride[1], y, nc);
}

int cc_cpu_selective_state_update(const cc_scan_update_args *a)
{
    if (a->x_dtype == CC_F64) return cc_cpu_selective_state_update_ref(a);
    if (a->Bt == 0 || a->Di == 0) return CC_OK;
    upd_scratch lay;
    int64_t per_thread = upd_scratch_at(&lay, NULL, a->N), nct = (a->Di + UPD_CB - 1) / UPD_CB;
    int nthreads;
    float *scratch = cv_scratch(per_thread, &nthreads);
    if (!scratch) return CC_ERR_MEMORY;
    #pragma omp parallel for schedule(static) if (a->Bt * a->Di * (a->N + 1) > CC_OMP_MIN_WORK)
    for (int64_t t = 0; t < a->Bt * nct; t++) {
        upd_scratch w;
        upd_scratch_at(&w, scratch + omp_get_thread_num() * per_thread, a->N);
        int64_t c0 = t % nct * UPD_CB, nc = a->Di - c0 < UPD_CB ? a->Di - c0 : UPD_CB;
        upd_task(a, t / nct, c0, nc, &w);
    }
    free(scratch);
    return CC_OK;
}
