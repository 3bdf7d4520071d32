/* Shared by the fast CPU selective-scan kernels (forward, backward, state update, roof): the lane
   layout, the work plan over channel blocks, f32 tile conversions, the vectorisable softplus and
   sigmoid (built on the conv kernels' inlined exp, cv_exp) and the token step of the recurrence.
   The rules are kernels/selective_scan.h and the rule block of core/selective_scan.c.

   Lane layout: a block is SC_W consecutive channels of one batch row that read the same B and C
   rows (one group of each), held as SC_W f32 lanes, so B[n, t] and C[n, t] are broadcast and the
   recurrence needs no horizontal sums. A tile (n, SC_W) is n positions of a block, position-major.
   Lanes past the block's last channel hold zeros (u = 0, A = 0: their state stays 0). */
#ifndef CC_CPU_SCAN_COMMON_H
#define CC_CPU_SCAN_COMMON_H

#include "conv_common.h"   /* cv_exp, cv_silu, cv_load_row / cv_store_row, cv_carve, CV_FMA */
#include "selective_scan.h"

#define SC_W 8      /* lanes: channels per block (one AVX2 register of f32) */
#define SC_T 64     /* positions per chunk along L */
#define SC_INLINE static inline __attribute__((always_inline))

/* log1p(e) for 0 <= e <= 1 as 2 atanh(s), s = e / (2 + e) <= 1/3: the odd series to s^13
   (relative error < 2e-8), accurate for tiny e where log(1 + e) rounds to 0. */
SC_INLINE float sc_log1p01(float e)
{
    float s = e / (2.0f + e), s2 = s * s;
    float p = 1.0f / 13.0f;
    p = CV_FMA(p, s2, 1.0f / 11.0f);
    p = CV_FMA(p, s2, 1.0f / 9.0f);
    p = CV_FMA(p, s2, 1.0f / 7.0f);
    p = CV_FMA(p, s2, 1.0f / 5.0f);
    p = CV_FMA(p, s2, 1.0f / 3.0f);
    p = CV_FMA(p, s2, 1.0f);
    return 2.0f * s * p;
}

/* softplus as max(v, 0) + log1p(exp(-|v|)), which never overflows and keeps the relative accuracy
   of tiny results (v << 0). ss_softplus_f32's threshold needs no select: above 20 the log1p term
   (< 2.1e-9) is under half an ulp of v, so the sum rounds to v. NaN stays NaN. Branch-free, so
   that tile loops vectorise (a select whose arm divides is not if-converted). */
SC_INLINE float sc_softplus(float v)
{
    float e = cv_exp(-fabsf(v));
    return (v > 0.0f ? v : 0.0f) + sc_log1p01(e);
}

/* sigmoid(v) = 1 / (1 + exp(-v)); exp overflowing to +inf gives 0. */
SC_INLINE float sc_sigmoid(float v)
{
    return 1.0f / (1.0f + cv_exp(-v));
}

#ifdef __AVX2__
#include <immintrin.h>

/* The 8 x 8 transpose of r[0..7] (r[j][k] -> r[k][j]) in place: unpack, shuffle, lane swap. */
SC_INLINE void sc_transpose8(__m256 r[8])
{
    __m256 t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}
#endif

/* Channel-first f32 tiles of a full block move by 8 x 8 transposes where the target has them: eight
   row loads in flight at once instead of a copy and a scalar scatter per channel. Returns the
   positions done (a multiple of 8; 0 without AVX2). tile (n, SC_W); rows: channel j at rows + j * sc. */
SC_INLINE int64_t sc_tile_from_rows(float *restrict tile, const float *restrict rows, int64_t sc, int64_t n)
{
    int64_t t = 0;
#ifdef __AVX2__
    for (; t + 8 <= n; t += 8) {
        __m256 r[8];
        for (int j = 0; j < 8; j++) r[j] = _mm256_loadu_ps(rows + j * sc + t);
        sc_transpose8(r);
        for (int k = 0; k < 8; k++) _mm256_storeu_ps(tile + (t + k) * SC_W, r[k]);
    }
#else
    (void)tile, (void)rows, (void)sc, (void)n;
#endif
    return t;
}

/* The inverse of sc_tile_from_rows. */
SC_INLINE int64_t sc_rows_from_tile(float *restrict rows, int64_t sc, const float *restrict tile, int64_t n)
{
    int64_t t = 0;
#ifdef __AVX2__
    for (; t + 8 <= n; t += 8) {
        __m256 r[8];
        for (int k = 0; k < 8; k++) r[k] = _mm256_loadu_ps(tile + (t + k) * SC_W);
        sc_transpose8(r);
        for (int j = 0; j < 8; j++) _mm256_storeu_ps(rows + j * sc + t, r[j]);
    }
#else
    (void)rows, (void)sc, (void)tile, (void)n;
#endif
    return t;
}

/* dst (n, SC_W) from the n positions of lanes channels of a (channel, position)-strided source:
   dst[t * SC_W + j] = src[j * sc + t * st] in f32; lanes >= `lanes` and a NULL src give zeros.
   tmp (n) is scratch for channel-first sources. */
static inline void sc_load_tile(float *restrict dst, float *restrict tmp, const void *src, int dtype, int64_t sc,
                                int64_t st, int lanes, int64_t n)
{
    if (!src) lanes = 0;
    if (lanes == SC_W && dtype == CC_F32 && st == 1 && sc != 1) {
        const float *rows = src;
        for (int64_t t = sc_tile_from_rows(dst, rows, sc, n); t < n; t++)
            for (int j = 0; j < SC_W; j++) dst[t * SC_W + j] = rows[j * sc + t];
        return;
    }
    if (lanes > 0 && sc == 1) {
        for (int64_t t = 0; t < n; t++) cv_load_row(dst + t * SC_W, cv_at(src, dtype, t * st), dtype, 1, lanes);
    } else {
        for (int j = 0; j < lanes; j++) {
            cv_load_row(tmp, cv_at(src, dtype, j * sc), dtype, st, n);
            for (int64_t t = 0; t < n; t++) dst[t * SC_W + j] = tmp[t];
        }
    }
    for (int64_t t = 0; t < n; t++)
        for (int j = lanes; j < SC_W; j++) dst[t * SC_W + j] = 0.0f;
}

/* The inverse of sc_load_tile: src (n, SC_W) lanes < `lanes` into dst, converted to dtype. */
static inline void sc_store_tile(void *dst, int dtype, int64_t sc, int64_t st, const float *restrict src,
                                 float *restrict tmp, int lanes, int64_t n)
{
    if (sc == 1) {
        for (int64_t t = 0; t < n; t++) cv_store_row(cv_at_mut(dst, dtype, t * st), dtype, 1, src + t * SC_W, lanes);
        return;
    }
    if (lanes == SC_W && dtype == CC_F32 && st == 1) {
        float *rows = dst;
        for (int64_t t = sc_rows_from_tile(rows, sc, src, n); t < n; t++)
            for (int j = 0; j < SC_W; j++) rows[j * sc + t] = src[t * SC_W + j];
        return;
    }
    for (int j = 0; j < lanes; j++) {
        for (int64_t t = 0; t < n; t++) tmp[t] = src[t * SC_W + j];
        cv_store_row(cv_at_mut(dst, dtype, j * sc), dtype, st, tmp, n);
    }
}

/* Asks for the cache lines of a tile that sc_load_tile will read next: `rows` short rows a
   channel stride sc apart (channel-first: 64 positions are four lines per row) that the hardware
   prefetchers pick up too late, so each load would wait on memory; one block's work ahead is
   ample time. */
static inline void sc_prefetch_tile(const void *src, int dtype, int64_t sc, int64_t st, int rows, int64_t n)
{
    if (!src || n <= 0) return;
    int64_t es = cc_dtype_bytes(dtype);
    const char *p = src;
    if (sc == 1) {
        for (int64_t t = 0; t < n; t++) __builtin_prefetch(p + t * st * es);
        return;
    }
    int64_t step = st == 1 ? 64 / es : 1;
    for (int j = 0; j < rows; j++) {
        const char *r = p + j * sc * es;
        for (int64_t t = 0; t < n; t += step) __builtin_prefetch(r + t * st * es);
        __builtin_prefetch(r + (n - 1) * st * es);   /* the row's last line when it is not 64-byte aligned */
    }
}

/* Row (b, c) at position t of a (Bt, Di, L)-strided tensor. */
static inline int64_t sc_off3(const int64_t *s, int64_t b, int64_t c, int64_t t)
{
    return b * s[0] + c * s[1] + t * s[2];
}

/* ---- work plan ---- */

/* Channels split into units (no B or C group boundary inside a unit: the gcd of the variable
   groups' sizes), units into superblocks of up to nbk blocks. A task is one superblock of one batch
   row. All of it follows from the shapes, never from the thread count, so the backward's sums have
   one order. */
typedef struct sc_plan {
    int64_t unit;       /* channels per unit */
    int64_t sbc;        /* channels per superblock: nbk * SC_W */
    int64_t nbk;        /* blocks per superblock */
    int64_t per_unit;   /* superblocks per unit */
    int64_t nsb;        /* superblocks per batch row */
} sc_plan;

static inline int64_t sc_gcd(int64_t x, int64_t y)
{
    while (y) {
        int64_t r = x % y;
        x = y;
        y = r;
    }
    return x;
}

/* Up to max_nbk blocks per superblock, fewer while that leaves under min_tasks tasks. */
static inline void sc_plan_make(sc_plan *p, const cc_scan_args *a, int64_t max_nbk, int64_t min_tasks)
{
    int64_t Di = a->Di > 0 ? a->Di : 1, unit = Di;
    if (!a->B.is_const) unit = sc_gcd(unit, Di / a->B.G);
    if (!a->C.is_const) unit = sc_gcd(unit, Di / a->C.G);
    p->unit = unit;
    p->nbk = max_nbk;
    for (;;) {
        p->sbc = p->nbk * SC_W;
        p->per_unit = (unit + p->sbc - 1) / p->sbc;
        p->nsb = (Di / unit) * p->per_unit;
        if (p->nbk == 1 || a->Bt * p->nsb >= min_tasks) break;
        p->nbk /= 2;
    }
}

/* Channels [*c0, *c1) of superblock s. */
static inline void sc_plan_channels(const sc_plan *p, int64_t s, int64_t *c0, int64_t *c1)
{
    int64_t u = s / p->per_unit, k = s % p->per_unit;
    *c0 = u * p->unit + k * p->sbc;
    *c1 = *c0 + p->sbc < (u + 1) * p->unit ? *c0 + p->sbc : (u + 1) * p->unit;
}

/* ---- per-block operands ---- */

/* A (N, SC_W) of the block of `lanes` channels from c0 (zeros past them). */
static inline void sc_load_A(float *restrict dst, const cc_scan_args *a, int64_t c0, int lanes)
{
    for (int64_t n = 0; n < a->N; n++)
        for (int j = 0; j < SC_W; j++)
            dst[n * SC_W + j] = j < lanes ? cc_load_f32(a->A, a->A_dtype, (c0 + j) * a->A_stride[0] + n * a->A_stride[1])
                                          : 0.0f;
}

/* A per-channel vector (Di) of the block into dst (SC_W), `none` where p is NULL or past the block. */
static inline void sc_load_vec(float *restrict dst, const void *p, int dtype, int64_t stride, int64_t c0, int lanes,
                               float none)
{
    for (int j = 0; j < SC_W; j++) dst[j] = p && j < lanes ? cc_load_f32(p, dtype, (c0 + j) * stride) : none;
}

/* Time-invariant B or C (N, SC_W) of the block: m[c, n] per lane. */
static inline void sc_load_bc_lanes(float *restrict dst, const cc_scan_bc *m, const cc_scan_args *a, int64_t c0,
                                    int lanes)
{
    for (int64_t n = 0; n < a->N; n++)
        for (int j = 0; j < SC_W; j++)
            dst[n * SC_W + j] = j < lanes ? cc_load_f32(m->data, m->dtype, ss_bc_at(m, a->Di, 0, c0 + j, n, 0)) : 0.0f;
}

/* A per-state tensor (Bt, Di, N) of row b for the block's lanes, (N, SC_W), zeros past them or
   where p is NULL (initial_state, dlast_state). */
static inline void sc_load_state(float *restrict dst, const void *p, int dtype, const int64_t *stride,
                                 const cc_scan_args *a, int64_t b, int64_t c0, int lanes)
{
    for (int64_t n = 0; n < a->N; n++)
        for (int j = 0; j < SC_W; j++)
            dst[n * SC_W + j] = p && j < lanes ? cc_load_f32(p, dtype, sc_off3(stride, b, c0 + j, n)) : 0.0f;
}

/* The operands of block k of a task that stay put along L: A, time-invariant B / C (NW each at
   k * NW), D and delta_bias (SC_W each at k * SC_W), and the initial state into h (NW at k * NW). */
static inline void sc_load_block(float *A, float *B, float *C, float *D, float *bias, float *h, const cc_scan_args *a,
                                 int64_t b, int64_t k, int64_t ck, int lanes)
{
    int64_t NW = a->N * SC_W;
    sc_load_A(A + k * NW, a, ck, lanes);
    if (a->B.is_const) sc_load_bc_lanes(B + k * NW, &a->B, a, ck, lanes);
    if (a->C.is_const) sc_load_bc_lanes(C + k * NW, &a->C, a, ck, lanes);
    sc_load_vec(D + k * SC_W, a->D, a->D_dtype, a->D_stride, ck, lanes, 0.0f);
    sc_load_vec(bias + k * SC_W, a->delta_bias, a->delta_bias_dtype, a->delta_bias_stride, ck, lanes, 0.0f);
    sc_load_state(h + k * NW, a->initial_state, a->initial_state_dtype, a->initial_state_stride, a, b, ck, lanes);
}

/* Variable B or C (n, N) of row b, the group of channel c, positions t0 .. t0+n, position-major
   (dst[t * N + k]) so that a token's N values are contiguous; tmp (n) scratch. */
static inline void sc_load_bc_chunk(float *restrict dst, float *restrict tmp, const cc_scan_bc *m,
                                    const cc_scan_args *a, int64_t b, int64_t c, int64_t t0, int64_t n)
{
    int64_t N = a->N;
    for (int64_t k = 0; k < N; k++) {
        cv_load_row(tmp, cv_at(m->data, m->dtype, ss_bc_at(m, a->Di, b, c, k, t0)), m->dtype, m->stride[3], n);
        for (int64_t t = 0; t < n; t++) dst[t * N + k] = tmp[t];
    }
}

/* dt and dt * u of a tile (n, SC_W): dt = delta + bias, through softplus when asked; dt holds
   delta on entry. */
static inline void sc_make_dt(float *restrict dt, float *restrict dtu, const float *restrict u,
                              const float *restrict bias, int64_t n, int softplus)
{
    for (int64_t t = 0; t < n; t++) {
        float *d = dt + t * SC_W;
        if (softplus) {
            #pragma omp simd
            for (int j = 0; j < SC_W; j++) d[j] = sc_softplus(d[j] + bias[j]);
        } else {
            for (int j = 0; j < SC_W; j++) d[j] += bias[j];
        }
        for (int j = 0; j < SC_W; j++) dtu[t * SC_W + j] = d[j] * u[t * SC_W + j];
    }
}

/* ---- the recurrence ---- */

/* One token of one block: h (N, SC_W) <- exp(dt A) h + dt u B (h taken as 0 when reset).
   A (N, SC_W); Bp / Cp the token's B / C, (N) broadcast to every lane or (N, SC_W) per lane when
   bl / cl (time-invariant). wy: y (SC_W) = sum_n C h. keep: eA, hp (N, SC_W) get the factor
   exp(dt A) and the state before the token, which the backward keeps (not written for a reset).
   The flags are constants at every call, so each use inlines to its own branch-free loop. */
SC_INLINE void sc_token(float *restrict h, const float *restrict A, const float *restrict Bp,
                        const float *restrict Cp, const float *restrict dt, const float *restrict dtu, int64_t N,
                        int reset, int bl, int cl, int wy, float *restrict y, int keep, float *restrict eA,
                        float *restrict hp)
{
    float acc[SC_W] = { 0 };
    for (int64_t n = 0; n < N; n++) {
        float *hn = h + n * SC_W;
        #pragma omp simd
        for (int j = 0; j < SC_W; j++) {
            float x = dtu[j] * (bl ? Bp[n * SC_W + j] : Bp[n]);
            float v;
            if (reset) {
                v = x;
            } else {
                float e = cv_exp(dt[j] * A[n * SC_W + j]);
                if (keep) {
                    eA[n * SC_W + j] = e;
                    hp[n * SC_W + j] = hn[j];
                }
                v = CV_FMA(e, hn[j], x);
            }
            hn[j] = v;
            if (wy) acc[j] = CV_FMA(cl ? Cp[n * SC_W + j] : Cp[n], v, acc[j]);
        }
    }
    if (wy)
        for (int j = 0; j < SC_W; j++) y[j] = acc[j];
}

#endif
