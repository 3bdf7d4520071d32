/* Fast CPU backward of the selective scan. u, delta, z, dout, du, ddelta, dz (Bt, Di, L); A, dA
   (Di, N); B, C, dB, dC the (Bt, G, N, L) view; D, delta_bias, dD, ddelta_bias (Di);
   initial_state, dlast_state, dinitial_state (Bt, Di, N); seq_idx (Bt, L).

   Work: the forward's tasks (sc_plan: a superblock of channels of one batch row). A task first runs
   the recurrence up to the last chunk keeping only the state at the start of each (checkpoints),
   then walks the chunks last to first: it recomputes the chunk's exp(dt A) and h[t-1] from the
   checkpoint (kept, never recovered as h - dt u B), and runs the reverse-time adjoint
   lambda[t] = gy C + a[t+1] lambda[t+1] with every per-token gradient, lane by lane.

   Sums, in f32 and in an order fixed by the shapes alone (the plan never looks at the thread
   count): per task, over t last to first; dB / dC of variable B / C over the blocks of a superblock
   lane-wise, then over the lanes, giving one partial per superblock and position, reduced over the
   superblocks of each group in channel order; dA, dD, ddelta_bias and time-invariant dB / dC per
   batch row, reduced over the rows in order. The per-superblock partials of variable dB / dC
   (nsb, N, L) per batch row are taken for as many rows at a time as BWD_PARTIAL_FLOATS allows.
   f64 u runs the reference kernel, which computes in f64. */
#include "scan_common.h"

#define BWD_NBK 8       /* blocks per superblock */
#define BWD_MIN_TASKS 32   /* fewer blocks per superblock while there are fewer tasks than this */
#define BWD_RED 256     /* positions per step of the variable dB / dC reduction */
#define BWD_PARTIAL_FLOATS ((int64_t)1 << 24)   /* variable dB / dC partials held at once (64 MiB) */

/* A task's scratch, laid out by bwd_scratch_at. NW = N * SC_W. */
typedef struct bwd_scratch {
    float *ckpt;                 /* (chunks, nbk, NW): h before each chunk */
    float *h, *A, *carry, *dA;   /* (nbk, NW); carry: what lambda gets from the next token */
    float *B, *C;                /* variable: (SC_T, N) of the chunk; time-invariant: (nbk, NW) */
    float *dB, *dC;              /* variable: (SC_T, NW) lane sums of the chunk; time-invariant: (nbk, NW) */
    float *eA, *hp;              /* (SC_T, NW) of the block being swept */
    float *D, *bias, *dD, *ddb;  /* (nbk, SC_W) */
    float *u, *v, *dt, *dtu, *z, *g, *gy, *y, *du, *ddt;   /* tiles (SC_T, SC_W) */
    float *tmp;                  /* (SC_T) */
    unsigned char *kinds;        /* (L) */
} bwd_scratch;

/* Lays s out from base (NULL: only sizes it); returns its size in floats. */
static int64_t bwd_scratch_at(bwd_scratch *s, float *base, const cc_scan_args *a, int64_t nbk)
{
    cv_carve c = { base, 0 };
    int64_t NW = a->N * SC_W, blk = nbk * NW, tile = SC_T * SC_W, chunks = (a->L + SC_T - 1) / SC_T;
    s->ckpt = cv_take(&c, chunks * blk);
    s->h = cv_take(&c, blk);
    s->A = cv_take(&c, blk);
    s->carry = cv_take(&c, blk);
    s->dA = cv_take(&c, blk);
    s->B = cv_take(&c, a->B.is_const ? blk : SC_T * a->N);
    s->C = cv_take(&c, a->C.is_const ? blk : SC_T * a->N);
    s->dB = cv_take(&c, a->B.is_const ? blk : SC_T * NW);
    s->dC = cv_take(&c, a->C.is_const ? blk : SC_T * NW);
    s->eA = cv_take(&c, SC_T * NW);
    s->hp = cv_take(&c, SC_T * NW);
    float **vecs[] = { &s->D, &s->bias, &s->dD, &s->ddb };
    for (int i = 0; i < 4; i++) *vecs[i] = cv_take(&c, nbk * SC_W);
    float **tiles[] = { &s->u, &s->v, &s->dt, &s->dtu, &s->z, &s->g, &s->gy, &s->y, &s->du, &s->ddt };
    for (int i = 0; i < 10; i++) *tiles[i] = cv_take(&c, tile);
    s->tmp = cv_take(&c, SC_T);
    s->kinds = (unsigned char *)cv_take(&c, a->L / 4 + 1);
    return c.used;
}

/* Everything the tasks write besides the per-token gradients: per-row partials. */
typedef struct bwd_partials {
    float *dB, *dC;   /* variable: (rows of the wave, nsb, N, L); time-invariant: (Bt, Di, N) */
    float *dA;        /* (Bt, Di, N) */
    float *dD, *ddb;  /* (Bt, Di) */
} bwd_partials;

/* The reverse step of one token of one block: lambda = carry + gy C per state, then every
   gradient of the token. hp, eA (N, SC_W) as the recompute kept them (unread for a reset);
   A, B, C as in sc_token; carry, dA (N, SC_W) and dB, dC ((N, SC_W) lane sums) accumulate;
   y, du, ddt (SC_W) get sum_n C h, sum_n lambda B and sum_n lambda A dA h[t-1] + u sum_n lambda B. */
SC_INLINE void bwd_token(const float *restrict hp, const float *restrict eA, const float *restrict A,
                         const float *restrict Bp, const float *restrict Cp, float *restrict carry,
                         float *restrict dA, float *restrict dB, float *restrict dC, const float *restrict dt,
                         const float *restrict dtu, const float *restrict u, const float *restrict gy,
                         float *restrict y, float *restrict du, float *restrict ddt, int64_t N, int reset, int bl,
                         int cl)
{
    float ya[SC_W] = { 0 }, dua[SC_W] = { 0 }, dda[SC_W] = { 0 };
    for (int64_t n = 0; n < N; n++) {
        int64_t o = n * SC_W;
        #pragma omp simd
        for (int j = 0; j < SC_W; j++) {
            float Bv = bl ? Bp[o + j] : Bp[n], Cv = cl ? Cp[o + j] : Cp[n];
            float l = CV_FMA(gy[j], Cv, carry[o + j]);
            float q = reset ? 0.0f : eA[o + j] * hp[o + j];   /* dA h[t-1] */
            float h = CV_FMA(dtu[j], Bv, q), lq = l * q;
            ya[j] = CV_FMA(Cv, h, ya[j]);
            dua[j] = CV_FMA(l, Bv, dua[j]);
            dda[j] = CV_FMA(lq, A[o + j], dda[j]);
            dA[o + j] = CV_FMA(lq, dt[j], dA[o + j]);
            dB[o + j] = CV_FMA(l, dtu[j], dB[o + j]);
            dC[o + j] = CV_FMA(gy[j], h, dC[o + j]);
            carry[o + j] = reset ? 0.0f : eA[o + j] * l;
        }
    }
    for (int j = 0; j < SC_W; j++) {   /* sum_n lambda B u = u sum_n lambda B: one FMA per token, not per state */
        y[j] = ya[j];
        du[j] = dua[j];
        ddt[j] = CV_FMA(dua[j], u[j], dda[j]);
    }
}

/* The recompute and the reverse sweep of one block over the n positions of a chunk: h (N, SC_W)
   holds the chunk's checkpoint on entry. dB / dC are the chunk's (n, NW) lane sums (variable) or
   the block's (NW) (time-invariant). Padding tokens get y = du = ddt = 0. */
SC_INLINE void bwd_sweep(const bwd_scratch *w, float *restrict h, const float *restrict A, const float *B,
                         const float *C, float *carry, float *dA, float *dB, float *dC,
                         const unsigned char *kinds, int64_t N, int64_t n, int bl, int cl)
{
    int64_t NW = N * SC_W;
    for (int64_t t = 0; t < n; t++) {
        const float *Bp = bl ? B : B + t * N;
        if (kinds[t] == SS_RESET)
            sc_token(h, A, Bp, NULL, w->dt + t * SC_W, w->dtu + t * SC_W, N, 1, bl, 0, 0, NULL, 0, NULL, NULL);
        else if (kinds[t] == SS_STEP)
            sc_token(h, A, Bp, NULL, w->dt + t * SC_W, w->dtu + t * SC_W, N, 0, bl, 0, 0, NULL, 1, w->eA + t * NW,
                     w->hp + t * NW);
    }
    for (int64_t t = n - 1; t >= 0; t--) {
        int64_t o = t * SC_W;
        const float *Bp = bl ? B : B + t * N, *Cp = cl ? C : C + t * N;
        float *dBp = bl ? dB : dB + t * NW, *dCp = cl ? dC : dC + t * NW;
        if (kinds[t] == SS_PAD) {
            for (int j = 0; j < SC_W; j++) w->y[o + j] = w->du[o + j] = w->ddt[o + j] = 0.0f;
        } else if (kinds[t] == SS_RESET) {
            bwd_token(NULL, NULL, A, Bp, Cp, carry, dA, dBp, dCp, w->dt + o, w->dtu + o, w->u + o, w->gy + o,
                      w->y + o, w->du + o, w->ddt + o, N, 1, bl, cl);
        } else {
            bwd_token(w->hp + t * NW, w->eA + t * NW, A, Bp, Cp, carry, dA, dBp, dCp, w->dt + o, w->dtu + o,
                      w->u + o, w->gy + o, w->y + o, w->du + o, w->ddt + o, N, 0, bl, cl);
        }
    }
}

/* bwd_sweep with bl and cl as constants. */
static void bwd_sweep_any(const bwd_scratch *w, float *h, const float *A, const float *B, const float *C,
                          float *carry, float *dA, float *dB, float *dC, const unsigned char *kinds, int64_t N,
                          int64_t n, int bl, int cl)
{
    if (!bl && !cl) bwd_sweep(w, h, A, B, C, carry, dA, dB, dC, kinds, N, n, 0, 0);
    else if (!bl) bwd_sweep(w, h, A, B, C, carry, dA, dB, dC, kinds, N, n, 0, 1);
    else if (!cl) bwd_sweep(w, h, A, B, C, carry, dA, dB, dC, kinds, N, n, 1, 0);
    else bwd_sweep(w, h, A, B, C, carry, dA, dB, dC, kinds, N, n, 1, 1);
}

/* The checkpoint pass of one block over n positions: h (N, SC_W) in place, no outputs. */
static void bwd_advance(float *restrict h, const float *restrict A, const float *B, const float *dt,
                        const float *dtu, const unsigned char *kinds, int64_t N, int64_t n, int bl)
{
    for (int64_t t = 0; t < n; t++) {
        const float *Bp = bl ? B : B + t * N;
        const float *d = dt + t * SC_W, *du = dtu + t * SC_W;
        if (kinds[t] == SS_PAD) continue;
        if (bl) {
            if (kinds[t] == SS_RESET) sc_token(h, A, Bp, NULL, d, du, N, 1, 1, 0, 0, NULL, 0, NULL, NULL);
            else sc_token(h, A, Bp, NULL, d, du, N, 0, 1, 0, 0, NULL, 0, NULL, NULL);
        } else {
            if (kinds[t] == SS_RESET) sc_token(h, A, Bp, NULL, d, du, N, 1, 0, 0, 0, NULL, 0, NULL, NULL);
            else sc_token(h, A, Bp, NULL, d, du, N, 0, 0, 0, 0, NULL, 0, NULL, NULL);
        }
    }
}

/* The u, v = delta + bias, dt and dt * u tiles of block (b, ck) at positions t0 .. t0+n. */
static void bwd_load_dt(const cc_scan_args *a, const bwd_scratch *w, const float *bias, int64_t b, int64_t ck,
                        int lanes, int64_t t0, int64_t n)
{
    sc_load_tile(w->u, w->tmp, cv_at(a->u, a->u_dtype, sc_off3(a->u_stride, b, ck, t0)), a->u_dtype, a->u_stride[1],
                 a->u_stride[2], lanes, n);
    sc_load_tile(w->v, w->tmp, cv_at(a->delta, a->delta_dtype, sc_off3(a->delta_stride, b, ck, t0)), a->delta_dtype,
                 a->delta_stride[1], a->delta_stride[2], lanes, n);
    for (int64_t t = 0; t < n; t++)
        for (int j = 0; j < SC_W; j++) w->v[t * SC_W + j] += bias[j];
    memcpy(w->dt, w->v, (size_t)(n * SC_W) * sizeof(float));
    sc_make_dt(w->dt, w->dtu, w->u, (const float[SC_W]){ 0 }, n, a->delta_softplus);
}

/* Per-token gradients of a swept chunk of one block: du = D gy + dt sum lambda B, ddelta = ddt
   sigmoid(v) (softplus; sigmoid(v) rounds to 1 above 20, ss_dsoftplus_f32's threshold), dz; dD and
   ddelta_bias accumulate. The du, ddelta and dz tiles are left in w->du, w->ddt and w->y. */
static void bwd_token_grads(const cc_scan_args *a, const bwd_scratch *w, const unsigned char *kinds,
                            const float *restrict D, float *restrict dD, float *restrict ddb, int64_t n)
{
    for (int64_t t = n - 1; t >= 0; t--) {
        int64_t o = t * SC_W;
        float *du = w->du + o, *ddt = w->ddt + o, *y = w->y + o;
        const float *u = w->u + o, *v = w->v + o, *dt = w->dt + o, *gy = w->gy + o, *g = w->g + o, *z = w->z + o;
        if (kinds[t] == SS_PAD) continue;   /* bwd_sweep left zeros */
        if (a->delta_softplus) {
            #pragma omp simd
            for (int j = 0; j < SC_W; j++) ddt[j] *= sc_sigmoid(v[j]);
        }
        if (a->z) {
            #pragma omp simd
            for (int j = 0; j < SC_W; j++) y[j] = g[j] * CV_FMA(D[j], u[j], y[j]) * cv_dsilu(z[j]);
        }
        for (int j = 0; j < SC_W; j++) {
            du[j] = CV_FMA(dt[j], du[j], D[j] * gy[j]);
            dD[j] = CV_FMA(gy[j], u[j], dD[j]);
            ddb[j] += ddt[j];
        }
    }
}

/* Lane sums of a chunk's variable dB or dC, (n, NW), into the superblock's partial row
   part (N, L) at t0, and back to zero for the next chunk. */
static void bwd_flush_lanes(float *restrict lanes, float *restrict part, int64_t N, int64_t L, int64_t t0, int64_t n)
{
    for (int64_t t = 0; t < n; t++)
        for (int64_t k = 0; k < N; k++) {
            float *l = lanes + (t * N + k) * SC_W, s = 0.0f;
            for (int j = 0; j < SC_W; j++) {
                s += l[j];
                l[j] = 0.0f;
            }
            if (part) part[k * L + t0 + t] = s;
        }
}

/* Prefetches what the block of `lanes` channels from ck reads at positions t0 .. t0+n: u and
   delta, and in the reverse pass dout and z; first_of_chunk: also the chunk's variable B (and C in
   the reverse pass), which every block of the superblock shares. */
static void bwd_prefetch(const cc_scan_args *a, int64_t b, int64_t ck, int lanes, int64_t t0, int64_t n,
                         int reverse, int first_of_chunk)
{
    sc_prefetch_tile(cv_at(a->u, a->u_dtype, sc_off3(a->u_stride, b, ck, t0)), a->u_dtype, a->u_stride[1],
                     a->u_stride[2], lanes, n);
    sc_prefetch_tile(cv_at(a->delta, a->delta_dtype, sc_off3(a->delta_stride, b, ck, t0)), a->delta_dtype,
                     a->delta_stride[1], a->delta_stride[2], lanes, n);
    if (first_of_chunk && !a->B.is_const)
        sc_prefetch_tile(cv_at(a->B.data, a->B.dtype, ss_bc_at(&a->B, a->Di, b, ck, 0, t0)), a->B.dtype,
                         a->B.stride[2], a->B.stride[3], (int)a->N, n);
    if (!reverse) return;
    if (first_of_chunk && !a->C.is_const)
        sc_prefetch_tile(cv_at(a->C.data, a->C.dtype, ss_bc_at(&a->C, a->Di, b, ck, 0, t0)), a->C.dtype,
                         a->C.stride[2], a->C.stride[3], (int)a->N, n);
    if (a->dout)
        sc_prefetch_tile(cv_at(a->dout, a->dout_dtype, sc_off3(a->dout_stride, b, ck, t0)), a->dout_dtype,
                         a->dout_stride[1], a->dout_stride[2], lanes, n);
    if (a->z)
        sc_prefetch_tile(cv_at(a->z, a->z_dtype, sc_off3(a->z_stride, b, ck, t0)), a->z_dtype, a->z_stride[1],
                         a->z_stride[2], lanes, n);
}

/* The block after block k of chunk ci in a pass over the chunks in direction dir (+1 / -1) among
   nb blocks from c0 to c1 and `chunks` chunks of L: prefetched while block k is computed (block
   nb - 1 of chunk -1 / chunks: the pass's first block). */
static void bwd_prefetch_next(const cc_scan_args *a, int64_t b, int64_t c0, int64_t c1, int64_t nb, int64_t chunks,
                              int64_t ci, int64_t k, int dir)
{
    if (++k == nb) {
        k = 0;
        ci += dir;
        if (ci < 0 || ci >= chunks) return;
    }
    int64_t ck = c0 + k * SC_W, t0 = ci * SC_T, n = a->L - t0 < SC_T ? a->L - t0 : SC_T;
    bwd_prefetch(a, b, ck, (int)(c1 - ck < SC_W ? c1 - ck : SC_W), t0, n, dir < 0, k == 0);
}

/* Superblock s of batch row b; its variable dB / dC partials go to wave row bw. */
static void bwd_task(const cc_scan_args *a, const sc_plan *p, int64_t b, int64_t bw, int64_t s, const bwd_scratch *w,
                     const bwd_partials *pt)
{
    int64_t N = a->N, L = a->L, Di = a->Di, NW = N * SC_W, c0, c1;
    sc_plan_channels(p, s, &c0, &c1);
    int64_t nb = (c1 - c0 + SC_W - 1) / SC_W, chunks = (L + SC_T - 1) / SC_T;
    int bl = a->B.is_const, cl = a->C.is_const;
    float *partB = !bl && pt->dB ? pt->dB + (bw * p->nsb + s) * N * L : NULL;
    float *partC = !cl && pt->dC ? pt->dC + (bw * p->nsb + s) * N * L : NULL;
    int32_t seg = 0;
    for (int64_t t = 0; t < L; t++) w->kinds[t] = (unsigned char)ss_token_kind(a, b, t, &seg);
    for (int64_t k = 0; k < nb; k++) {
        int64_t ck = c0 + k * SC_W;
        int lanes = (int)(c1 - ck < SC_W ? c1 - ck : SC_W);
        sc_load_block(w->A, w->B, w->C, w->D, w->bias, w->h, a, b, k, ck, lanes);
        sc_load_state(w->carry + k * NW, a->dlast_state, a->dlast_state_dtype, a->dlast_state_stride, a, b, ck, lanes);
    }
    memset(w->dA, 0, (size_t)(nb * NW) * sizeof(float));
    memset(w->dD, 0, (size_t)(nb * SC_W) * sizeof(float));
    memset(w->ddb, 0, (size_t)(nb * SC_W) * sizeof(float));
    memset(w->dB, 0, (size_t)(bl ? nb * NW : SC_T * NW) * sizeof(float));
    memset(w->dC, 0, (size_t)(cl ? nb * NW : SC_T * NW) * sizeof(float));

    /* checkpoints */
    bwd_prefetch_next(a, b, c0, c1, nb, chunks, -1, nb - 1, 1);
    for (int64_t ci = 0; ci < chunks; ci++) {
        int64_t t0 = ci * SC_T, n = L - t0 < SC_T ? L - t0 : SC_T;
        memcpy(w->ckpt + ci * nb * NW, w->h, (size_t)(nb * NW) * sizeof(float));
        if (ci == chunks - 1) break;   /* the state after the last chunk is not needed */
        if (!bl) sc_load_bc_chunk(w->B, w->tmp, &a->B, a, b, c0, t0, n);
        for (int64_t k = 0; k < nb; k++) {
            int64_t ck = c0 + k * SC_W;
            int lanes = (int)(c1 - ck < SC_W ? c1 - ck : SC_W);
            bwd_prefetch_next(a, b, c0, c1, nb, chunks, ci, k, 1);
            bwd_load_dt(a, w, w->bias + k * SC_W, b, ck, lanes, t0, n);
            bwd_advance(w->h + k * NW, w->A + k * NW, bl ? w->B + k * NW : w->B, w->dt, w->dtu, w->kinds + t0, N, n,
                        bl);
        }
    }

    /* chunks last to first */
    bwd_prefetch_next(a, b, c0, c1, nb, chunks, chunks, nb - 1, -1);
    for (int64_t ci = chunks - 1; ci >= 0; ci--) {
        int64_t t0 = ci * SC_T, n = L - t0 < SC_T ? L - t0 : SC_T;
        if (!bl) sc_load_bc_chunk(w->B, w->tmp, &a->B, a, b, c0, t0, n);
        if (!cl) sc_load_bc_chunk(w->C, w->tmp, &a->C, a, b, c0, t0, n);
        for (int64_t k = 0; k < nb; k++) {
            int64_t ck = c0 + k * SC_W;
            int lanes = (int)(c1 - ck < SC_W ? c1 - ck : SC_W);
            bwd_prefetch_next(a, b, c0, c1, nb, chunks, ci, k, -1);
            bwd_load_dt(a, w, w->bias + k * SC_W, b, ck, lanes, t0, n);
            sc_load_tile(w->g, w->tmp, a->dout ? cv_at(a->dout, a->dout_dtype, sc_off3(a->dout_stride, b, ck, t0)) : NULL,
                         a->dout_dtype, a->dout_stride[1], a->dout_stride[2], lanes, n);
            if (a->z) {
                sc_load_tile(w->z, w->tmp, cv_at(a->z, a->z_dtype, sc_off3(a->z_stride, b, ck, t0)), a->z_dtype,
                             a->z_stride[1], a->z_stride[2], lanes, n);
                #pragma omp simd
                for (int64_t i = 0; i < n * SC_W; i++) w->gy[i] = w->g[i] * cv_silu(w->z[i]);
            } else {
                memcpy(w->gy, w->g, (size_t)(n * SC_W) * sizeof(float));
            }
            memcpy(w->h, w->ckpt + (ci * nb + k) * NW, (size_t)NW * sizeof(float));
            bwd_sweep_any(w, w->h, w->A + k * NW, bl ? w->B + k * NW : w->B, cl ? w->C + k * NW : w->C,
                          w->carry + k * NW, w->dA + k * NW, bl ? w->dB + k * NW : w->dB, cl ? w->dC + k * NW : w->dC,
                          w->kinds + t0, N, n, bl, cl);
            bwd_token_grads(a, w, w->kinds + t0, w->D + k * SC_W, w->dD + k * SC_W, w->ddb + k * SC_W, n);
            if (a->du)
                sc_store_tile(cv_at_mut(a->du, a->du_dtype, sc_off3(a->du_stride, b, ck, t0)), a->du_dtype,
                              a->du_stride[1], a->du_stride[2], w->du, w->tmp, lanes, n);
            if (a->ddelta)
                sc_store_tile(cv_at_mut(a->ddelta, a->ddelta_dtype, sc_off3(a->ddelta_stride, b, ck, t0)),
                              a->ddelta_dtype, a->ddelta_stride[1], a->ddelta_stride[2], w->ddt, w->tmp, lanes, n);
            if (a->dz && a->z)
                sc_store_tile(cv_at_mut(a->dz, a->dz_dtype, sc_off3(a->dz_stride, b, ck, t0)), a->dz_dtype,
                              a->dz_stride[1], a->dz_stride[2], w->y, w->tmp, lanes, n);
        }
        if (!bl) bwd_flush_lanes(w->dB, partB, N, L, t0, n);
        if (!cl) bwd_flush_lanes(w->dC, partC, N, L, t0, n);
    }

    for (int64_t k = 0; k < nb; k++) {
        int64_t ck = c0 + k * SC_W;
        int lanes = (int)(c1 - ck < SC_W ? c1 - ck : SC_W);
        for (int j = 0; j < lanes; j++) {
            int64_t row = b * Di + ck + j;
            for (int64_t n = 0; n < N; n++) {
                int64_t i = k * NW + n * SC_W + j;
                if (a->dinitial_state)
                    cc_store_f32(a->dinitial_state, a->dinitial_state_dtype,
                                 sc_off3(a->dinitial_state_stride, b, ck + j, n), w->carry[i]);
                if (pt->dA) pt->dA[row * N + n] = w->dA[i];
                if (bl && pt->dB) pt->dB[row * N + n] = w->dB[i];
                if (cl && pt->dC) pt->dC[row * N + n] = w->dC[i];
            }
            if (pt->dD) pt->dD[row] = w->dD[k * SC_W + j];
            if (pt->ddb) pt->ddb[row] = w->ddb[k * SC_W + j];
        }
    }
}

/* Variable dB or dC of rows b0 .. b0+nr from their per-superblock partials (nr, nsb, N, L): each
   group sums its superblocks in channel order (a group's superblocks are consecutive: groups end at
   unit boundaries), BWD_RED positions at a time so that the adds run along t. */
static void bwd_reduce_var(const cc_scan_bc *m, const cc_scan_args *a, const sc_plan *p, const float *part, int64_t b0,
                           int64_t nr)
{
    int64_t N = a->N, L = a->L, G = m->G, gs = a->Di / G;
    #pragma omp parallel for schedule(static) if (nr * G * N * L * (p->nsb + 1) > CC_OMP_MIN_WORK)
    for (int64_t r = 0; r < nr * G * N; r++) {
        int64_t bw = r / (G * N), g = r / N % G, n = r % N, s0 = p->nsb, s1 = 0;
        for (int64_t sb = 0; sb < p->nsb; sb++) {
            int64_t c0, c1;
            sc_plan_channels(p, sb, &c0, &c1);
            if (c0 / gs == g) {
                s0 = sb < s0 ? sb : s0;
                s1 = sb + 1;
            }
        }
        for (int64_t t0 = 0; t0 < L; t0 += BWD_RED) {
            int64_t nt = L - t0 < BWD_RED ? L - t0 : BWD_RED;
            float acc[BWD_RED];
            for (int64_t t = 0; t < nt; t++) acc[t] = 0.0f;
            for (int64_t sb = s0; sb < s1; sb++) {
                const float *q = part + ((bw * p->nsb + sb) * N + n) * L + t0;
                for (int64_t t = 0; t < nt; t++) acc[t] += q[t];
            }
            cv_store_row(cv_at_mut(m->grad, m->grad_dtype, (b0 + bw) * m->grad_stride[0] + g * m->grad_stride[1] +
                                   n * m->grad_stride[2] + t0 * m->grad_stride[3]),
                         m->grad_dtype, m->grad_stride[3], acc, nt);
        }
    }
}

/* part (Bt, Di, per) at (c, i) summed over b in row order. */
static float bwd_sum_rows(const float *part, int64_t Bt, int64_t Di, int64_t per, int64_t c, int64_t i)
{
    float s = 0.0f;
    for (int64_t b = 0; b < Bt; b++) s += part[(b * Di + c) * per + i];
    return s;
}

/* The per-channel sums (dA, dD, ddelta_bias, time-invariant dB / dC) from the per-row partials. */
static void bwd_reduce_rows(const cc_scan_args *a, const bwd_partials *pt)
{
    int64_t Bt = a->Bt, Di = a->Di, N = a->N;
    for (int64_t c = 0; c < Di; c++) {
        for (int64_t n = 0; n < N; n++) {
            if (pt->dA)
                cc_store_f32(a->dA, a->dA_dtype, c * a->dA_stride[0] + n * a->dA_stride[1],
                             bwd_sum_rows(pt->dA, Bt, Di, N, c, n));
            if (a->B.is_const && pt->dB)
                cc_store_f32(a->B.grad, a->B.grad_dtype, ss_bc_grad_at(&a->B, Di, 0, c, n, 0),
                             bwd_sum_rows(pt->dB, Bt, Di, N, c, n));
            if (a->C.is_const && pt->dC)
                cc_store_f32(a->C.grad, a->C.grad_dtype, ss_bc_grad_at(&a->C, Di, 0, c, n, 0),
                             bwd_sum_rows(pt->dC, Bt, Di, N, c, n));
        }
        if (pt->dD) cc_store_f32(a->dD, a->dD_dtype, c * a->dD_stride, bwd_sum_rows(pt->dD, Bt, Di, 1, c, 0));
        if (pt->ddb)
            cc_store_f32(a->ddelta_bias, a->ddelta_bias_dtype, c * a->ddelta_bias_stride,
                         bwd_sum_rows(pt->ddb, Bt, Di, 1, c, 0));
    }
}

static void bwd_partials_free(bwd_partials *pt)
{
    free(pt->dB);
    free(pt->dC);
    free(pt->dA);
    free(pt->dD);
    free(pt->ddb);
}

/* floats, or NULL when not wanted; *fail set when a wanted one cannot be had */
static float *bwd_alloc(int want, int64_t floats, int *fail)
{
    if (!want) return NULL;
    float *p = malloc((size_t)(floats + 1) * sizeof(float));
    if (!p) *fail = 1;
    return p;
}

int cc_cpu_selective_scan_backward(const cc_scan_args *a)
{
    if (a->u_dtype == CC_F64) return cc_cpu_selective_scan_backward_ref(a);
    int64_t Bt = a->Bt, Di = a->Di, N = a->N, L = a->L;
    sc_plan p;
    sc_plan_make(&p, a, BWD_NBK, BWD_MIN_TASKS);
    if (Di == 0) p.nsb = 0;
    int varB = !a->B.is_const && a->B.grad, varC = !a->C.is_const && a->C.grad;
    int64_t per_row = p.nsb * N * L, wave = Bt;
    if ((varB || varC) && per_row > 0 && wave * per_row > BWD_PARTIAL_FLOATS)
        wave = BWD_PARTIAL_FLOATS / per_row > 1 ? BWD_PARTIAL_FLOATS / per_row : 1;
    int fail = 0;
    bwd_partials pt;
    pt.dB = bwd_alloc(a->B.grad != NULL, a->B.is_const ? Bt * Di * N : wave * per_row, &fail);
    pt.dC = bwd_alloc(a->C.grad != NULL, a->C.is_const ? Bt * Di * N : wave * per_row, &fail);
    pt.dA = bwd_alloc(a->dA != NULL, Bt * Di * N, &fail);
    pt.dD = bwd_alloc(a->dD != NULL, Bt * Di, &fail);
    pt.ddb = bwd_alloc(a->ddelta_bias != NULL, Bt * Di, &fail);
    bwd_scratch lay;
    int64_t per_thread = bwd_scratch_at(&lay, NULL, a, p.nbk);
    int nthreads;
    float *scratch = fail ? NULL : cv_scratch(per_thread, &nthreads);
    if (!scratch) {
        bwd_partials_free(&pt);
        return CC_ERR_MEMORY;
    }
    for (int64_t b0 = 0; b0 < Bt; b0 += wave) {
        int64_t nr = Bt - b0 < wave ? Bt - b0 : wave, ntasks = nr * p.nsb;
        #pragma omp parallel for schedule(dynamic) if (nr * Di * L * (N + 1) > CC_OMP_MIN_WORK)
        for (int64_t i = 0; i < ntasks; i++) {
            bwd_scratch w;
            bwd_scratch_at(&w, scratch + omp_get_thread_num() * per_thread, a, p.nbk);
            bwd_task(a, &p, b0 + i / p.nsb, i / p.nsb, i % p.nsb, &w, &pt);
        }
        if (varB) bwd_reduce_var(&a->B, a, &p, pt.dB, b0, nr);
        if (varC) bwd_reduce_var(&a->C, a, &p, pt.dC, b0, nr);
    }
    bwd_reduce_rows(a, &pt);
    free(scratch);
    bwd_partials_free(&pt);
    return CC_OK;
}
