/* Fast CPU forward of the selective scan. u, delta, z, out (Bt, Di, L); A (Di, N); B, C the
   (Bt, G, N, L) view; D, delta_bias (Di); initial_state, last_state (Bt, Di, N); seq_idx (Bt, L).

   Work: one task per superblock of channels of one batch row (sc_plan), spread by OpenMP. A task
   walks L in chunks of SC_T positions; per chunk it converts B and C (shared by its blocks) once,
   then each block of SC_W channels converts its u, delta, z tiles to f32, runs the recurrence with
   its state in a small f32 array that stays in L1, and converts out back. f64 u runs the
   reference kernel, which computes in f64. */
#include "scan_common.h"

#define FWD_NBK 8   /* blocks per superblock: B and C are converted once for this many */

/* A task's scratch, laid out by fwd_scratch_at. */
typedef struct fwd_scratch {
    float *h, *A;            /* (nbk, N, SC_W) */
    float *B, *C;            /* variable: (SC_T, N) of the chunk; time-invariant: (nbk, N, SC_W) */
    float *D, *bias;         /* (nbk, SC_W) */
    float *u, *dt, *dtu, *z, *y;   /* tiles (SC_T, SC_W) */
    float *tmp;              /* (SC_T) */
    unsigned char *kinds;    /* (SC_T) */
} fwd_scratch;

/* Lays s out from base (NULL: only sizes it); returns its size in floats. */
static int64_t fwd_scratch_at(fwd_scratch *s, float *base, const cc_scan_args *a, int64_t nbk)
{
    cv_carve c = { base, 0 };
    int64_t N = a->N, lanes = nbk * N * SC_W, tile = SC_T * SC_W;
    s->h = cv_take(&c, lanes);
    s->A = cv_take(&c, lanes);
    s->B = cv_take(&c, a->B.is_const ? lanes : SC_T * N);
    s->C = cv_take(&c, a->C.is_const ? lanes : SC_T * N);
    s->D = cv_take(&c, nbk * SC_W);
    s->bias = cv_take(&c, nbk * SC_W);
    s->u = cv_take(&c, tile);
    s->dt = cv_take(&c, tile);
    s->dtu = cv_take(&c, tile);
    s->z = cv_take(&c, tile);
    s->y = cv_take(&c, tile);
    s->tmp = cv_take(&c, SC_T);
    s->kinds = (unsigned char *)cv_take(&c, SC_T / 4);
    return c.used;
}

/* The recurrence over n positions of one block: h (N, SC_W) in place, y (n, SC_W) = sum_n C h
   (0 for padding). A, B, C as in sc_token: B / C are (n, N) chunk rows, or the block's (N, SC_W)
   when bl / cl. */
SC_INLINE void fwd_scan(float *restrict h, float *restrict y, const float *restrict A, const float *restrict B,
                        const float *restrict C, const float *restrict dt, const float *restrict dtu,
                        const unsigned char *kinds, int64_t N, int64_t n, int bl, int cl)
{
    for (int64_t t = 0; t < n; t++) {
        const float *Bp = bl ? B : B + t * N, *Cp = cl ? C : C + t * N;
        float *yt = y + t * SC_W;
        const float *d = dt + t * SC_W, *du = dtu + t * SC_W;
        if (kinds[t] == SS_PAD)
            for (int j = 0; j < SC_W; j++) yt[j] = 0.0f;
        else if (kinds[t] == SS_RESET)
            sc_token(h, A, Bp, Cp, d, du, N, 1, bl, cl, 1, yt, 0, NULL, NULL);
        else
            sc_token(h, A, Bp, Cp, d, du, N, 0, bl, cl, 1, yt, 0, NULL, NULL);
    }
}

/* fwd_scan with bl and cl as constants, so each kind of B / C gets its own loop. */
static void fwd_scan_any(float *h, float *y, const float *A, const float *B, const float *C, const float *dt,
                         const float *dtu, const unsigned char *kinds, int64_t N, int64_t n, int bl, int cl)
{
    if (!bl && !cl) fwd_scan(h, y, A, B, C, dt, dtu, kinds, N, n, 0, 0);
    else if (!bl) fwd_scan(h, y, A, B, C, dt, dtu, kinds, N, n, 0, 1);
    else if (!cl) fwd_scan(h, y, A, B, C, dt, dtu, kinds, N, n, 1, 0);
    else fwd_scan(h, y, A, B, C, dt, dtu, kinds, N, n, 1, 1);
}

/* Superblock s of batch row b: every channel's out over all of L, and its last state. */
static void fwd_task(const cc_scan_args *a, const sc_plan *p, int64_t b, int64_t s, const fwd_scratch *w)
{
    int64_t N = a->N, L = a->L, c0, c1;
    sc_plan_channels(p, s, &c0, &c1);
    int64_t nb = (c1 - c0 + SC_W - 1) / SC_W, NW = N * SC_W;
    int bl = a->B.is_const, cl = a->C.is_const;
    for (int64_t k = 0; k < nb; k++) {
        int64_t ck = c0 + k * SC_W;
        int lanes = (int)(c1 - ck < SC_W ? c1 - ck : SC_W);
        sc_load_block(w->A, w->B, w->C, w->D, w->bias, w->h, a, b, k, ck, lanes);
    }
    int32_t seg = 0;
    for (int64_t t0 = 0; t0 < L; t0 += SC_T) {
        int64_t n = L - t0 < SC_T ? L - t0 : SC_T;
        for (int64_t t = 0; t < n; t++) w->kinds[t] = (unsigned char)ss_token_kind(a, b, t0 + t, &seg);
        if (!bl) sc_load_bc_chunk(w->B, w->tmp, &a->B, a, b, c0, t0, n);
        if (!cl) sc_load_bc_chunk(w->C, w->tmp, &a->C, a, b, c0, t0, n);
        for (int64_t k = 0; k < nb; k++) {
            int64_t ck = c0 + k * SC_W;
            int lanes = (int)(c1 - ck < SC_W ? c1 - ck : SC_W);
            const float *D = w->D + k * SC_W;
            sc_load_tile(w->u, w->tmp, cv_at(a->u, a->u_dtype, sc_off3(a->u_stride, b, ck, t0)), a->u_dtype,
                         a->u_stride[1], a->u_stride[2], lanes, n);
            sc_load_tile(w->dt, w->tmp, cv_at(a->delta, a->delta_dtype, sc_off3(a->delta_stride, b, ck, t0)),
                         a->delta_dtype, a->delta_stride[1], a->delta_stride[2], lanes, n);
            if (a->z)
                sc_load_tile(w->z, w->tmp, cv_at(a->z, a->z_dtype, sc_off3(a->z_stride, b, ck, t0)), a->z_dtype,
                             a->z_stride[1], a->z_stride[2], lanes, n);
            sc_make_dt(w->dt, w->dtu, w->u, w->bias + k * SC_W, n, a->delta_softplus);
            fwd_scan_any(w->h + k * NW, w->y, w->A + k * NW, bl ? w->B + k * NW : w->B, cl ? w->C + k * NW : w->C,
                         w->dt, w->dtu, w->kinds, N, n, bl, cl);
            for (int64_t t = 0; t < n; t++) {
                float *yt = w->y + t * SC_W;
                const float *ut = w->u + t * SC_W, *zt = w->z + t * SC_W;
                if (w->kinds[t] == SS_PAD) {
                    for (int j = 0; j < SC_W; j++) yt[j] = 0.0f;
                } else if (a->z) {
                    #pragma omp simd
                    for (int j = 0; j < SC_W; j++) yt[j] = CV_FMA(D[j], ut[j], yt[j]) * cv_silu(zt[j]);
                } else {
                    for (int j = 0; j < SC_W; j++) yt[j] = CV_FMA(D[j], ut[j], yt[j]);
                }
            }
            sc_store_tile(cv_at_mut(a->out, a->out_dtype, sc_off3(a->out_stride, b, ck, t0)), a->out_dtype,
                          a->out_stride[1], a->out_stride[2], w->y, w->tmp, lanes, n);
        }
    }
    if (!a->last_state) return;
    for (int64_t k = 0; k < nb; k++) {
        int64_t ck = c0 + k * SC_W;
        int lanes = (int)(c1 - ck < SC_W ? c1 - ck : SC_W);
        for (int j = 0; j < lanes; j++)
            for (int64_t n = 0; n < N; n++)
                cc_store_f32(a->last_state, a->last_state_dtype, sc_off3(a->last_state_stride, b, ck + j, n),
                             w->h[k * NW + n * SC_W + j]);
    }
}

int cc_cpu_selective_scan_forward(const cc_scan_args *a)
{
    if (a->u_dtype == CC_F64) return cc_cpu_selective_scan_forward_ref(a);
    if (a->Bt == 0 || a->Di == 0) return CC_OK;
    sc_plan p;
    sc_plan_make(&p, a, FWD_NBK, 4 * (int64_t)omp_get_max_threads());   /* lanes are independent: any plan gives the same bits */
    fwd_scratch lay;
    int64_t per_thread = fwd_scratch_at(&lay, NULL, a, p.nbk);
    int nthreads;
    float *scratch = cv_scratch(per_thread, &nthreads);
    if (!scratch) return CC_ERR_MEMORY;
    int64_t ntasks = a->Bt * p.nsb;
    #pragma omp parallel for schedule(dynamic) if (a->Bt * a->Di * a->L * (a->N + 1) > CC_OMP_MIN_WORK)
    for (int64_t i = 0; i < ntasks; i++) {
        fwd_scratch w;
        fwd_scratch_at(&w, scratch + omp_get_thread_num() * per_thread, a, p.nbk);
        fwd_task(a, &p, i / p.nsb, i % p.nsb, &w);
    }
    free(scratch);
    return CC_OK;
}
