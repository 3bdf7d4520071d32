/* Shared by the CPU causal conv1d kernels (reference and fast): byte addressing, the work plan of the
   fast kernels, f32 row conversions, and the vectorisable exp / SiLU of the fast paths. The dtype
   vocabulary is kernels/dtype.h; the rows, segments and final-state rule are kernels/causal_conv1d.h. */
#ifndef CC_CPU_CONV_COMMON_H
#define CC_CPU_CONV_COMMON_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "causal_conv1d.h"
#include "ops_common.h"   /* CC_OMP_MIN_WORK */
#include "conv_avx2.h"    /* the 8-lane SiLU loops */
#include <omp.h>
#if defined(__AVX__) || defined(__F16C__) || defined(__AVX512F__)
#include <immintrin.h>
#endif

/* Byte address of element offset i of a typed base pointer. */
static inline const void *cv_at(const void *p, int dtype, int64_t i)
{
    return (const char *)p + i * cc_dtype_bytes(dtype);
}

static inline void *cv_at_mut(void *p, int dtype, int64_t i)
{
    return (char *)p + i * cc_dtype_bytes(dtype);
}

/* final_states[row.s, c, :] of one channel (the rule: cv_write_final_state, kernels/causal_conv1d.h). */
static inline void cv_write_final_states(const cc_conv1d_args *a, const cv_row *row, int64_t c)
{
    for (int64_t j = 0; j < a->W - 1; j++) cv_write_final_state(a, row, c, j);
}

/* ---- fast-kernel plumbing ---- */

/* The unit of work of the fast kernels along L, and of their dweight / dbias partial sums. A
   constant, so the summation order never depends on the thread count. */
#define CV_CHUNK 512

/* Work list: task i covers positions [chunk[i], chunk[i] + CV_CHUNK) of row row[i] and owns
   partial-sum slot i. Every row gets at least one task, so empty rows still write their final
   states / dinitial states. Consecutive tasks of one row are grouped into segments of up to
   CV_SEG tasks, segment s = tasks seg[s] .. seg[s+1]-1: the unit a thread takes, long enough
   for the hardware prefetchers to stream each channel row, short enough to give every thread
   work (at least min_segments when there are that many tasks). Segments only schedule: sums
   are kept per task, so results do not depend on them. */
#define CV_SEG 16

typedef struct cv_plan {
    int64_t ntasks, nseg;
    int64_t *row;
    int64_t *chunk;
    int64_t *seg;
} cv_plan;

/* Positions of the task starting at t0 of row: CV_CHUNK, fewer at the row's end, 0 for an empty row. */
static inline int64_t cv_task_len(const cv_row *row, int64_t t0)
{
    int64_t n = row->len - t0;
    return n > CV_CHUNK ? CV_CHUNK : n < 0 ? 0 : n;
}

static inline void cv_plan_free(cv_plan *p)
{
    free(p->row);
    free(p->chunk);
    free(p->seg);
}

static inline int cv_plan_make(cv_plan *p, const cc_conv1d_args *a, int64_t min_segments)
{
    int64_t R = cv_num_rows(a), n = 0;
    for (int64_t r = 0; r < R; r++) {
        int64_t len = cv_get_row(a, r).len;
        n += len > 0 ? (len + CV_CHUNK - 1) / CV_CHUNK : 1;
    }
    p->ntasks = n;
    p->nseg = 0;
    p->row = malloc((size_t)(n + 1) * sizeof(int64_t));
    p->chunk = malloc((size_t)(n + 1) * sizeof(int64_t));
    p->seg = malloc((size_t)(n + 1) * sizeof(int64_t));
    if (!p->row || !p->chunk || !p->seg) {
        cv_plan_free(p);
        return CC_ERR_MEMORY;
    }
    int64_t per_seg = min_segments > 0 ? n / min_segments : CV_SEG;
    if (per_seg > CV_SEG) per_seg = CV_SEG;
    if (per_seg < 1) per_seg = 1;
    int64_t i = 0;
    for (int64_t r = 0; r < R; r++) {
        int64_t len = cv_get_row(a, r).len;
        int64_t t0 = 0;
        do {
            if (t0 % (per_seg * CV_CHUNK) == 0) p->seg[p->nseg++] = i;
            p->row[i] = r;
            p->chunk[i++] = t0;
            t0 += CV_CHUNK;
        } while (t0 < len);
    }
    p->seg[p->nseg] = n;
    return CC_OK;
}

/* Layout choice of the fast kernels: channel-last when channels are closer in memory than
   positions (vectorise across channels), channel-first otherwise (vectorise along L). */
static inline int cv_strides_channel_last(const int64_t *st)   /* st: (B, D, L) strides */
{
    int64_t s1 = st[1] < 0 ? -st[1] : st[1];
    int64_t s2 = st[2] < 0 ? -st[2] : st[2];
    return s1 < s2;
}

static inline int cv_channel_last(const cc_conv1d_args *a) { return cv_strides_channel_last(a->x_stride); }

/* Weights and bias in f32, both as [c][k] (channel-first) and transposed [k][c] (channel-last). */
typedef struct cv_weights {
    float *w;    /* (D, W) */
    float *wt;   /* (W, D) */
    float *b;    /* (D), zeros without bias */
} cv_weights;

static inline int cv_weights_make(cv_weights *cw, const cc_conv1d_args *a)
{
    int64_t D = a->D, W = a->W;
    cw->w = malloc((size_t)(2 * D * W + D + 1) * sizeof(float));
    if (!cw->w) return CC_ERR_MEMORY;
    cw->wt = cw->w + D * W;
    cw->b = cw->wt + D * W;
    for (int64_t c = 0; c < D; c++) {
        for (int64_t k = 0; k < W; k++) {
            float v = cc_load_f32(a->weight, a->weight_dtype, c * a->weight_stride[0] + k * a->weight_stride[1]);
            cw->w[c * W + k] = v;
            cw->wt[k * D + c] = v;
        }
        cw->b[c] = a->bias ? cc_load_f32(a->bias, a->bias_dtype, c * a->bias_stride) : 0.0f;
    }
    return CC_OK;
}

/* f32 -> bf16 exactly as cc_f32_to_bf16_inline (ties to even, NaN quieted), written as a select
   instead of a branch so that row loops vectorise. */
static inline uint16_t cv_bf16_from_bits(uint32_t u)
{
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    uint32_t quiet = (u >> 16) | 0x40u;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? quiet : rounded);
}

/* f16 rows <-> f32, bitwise as kernels/dtype.h: by F16C eight at a time where the target has it
   (exact widening; narrowing rounds to nearest even like cc_f32_to_f16_inline, NaN inputs made
   the canonical quiet NaN of their sign first, as dtype.h returns), the scalar conversions for the
   tail and without F16C. The one difference: a signalling f16 NaN widens to a quiet one (dtype.h
   keeps the bits), which only ever feeds arithmetic, never a bitwise copy. */
static inline void cv_f16_row_to_f32(float *restrict dst, const uint16_t *restrict src, int64_t n)
{
    int64_t i = 0;
#ifdef __F16C__
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
#endif
    for (; i < n; i++) dst[i] = cc_f16_to_f32_inline(src[i]);
}

static inline void cv_f32_row_to_f16(uint16_t *restrict dst, const float *restrict src, int64_t n)
{
    int64_t i = 0;
#ifdef __F16C__
    const __m256 sign = _mm256_set1_ps(-0.0f), qnan = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fc00000));
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(src + i);
        __m256 isnan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
        v = _mm256_blendv_ps(v, _mm256_or_ps(_mm256_and_ps(v, sign), qnan), isnan);
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    }
#endif
    for (; i < n; i++) dst[i] = cc_f32_to_f16_inline(src[i]);
}

/* n elements at src (element stride `stride`, any dtype) into f32 dst. Kept as vector loops, not
   turned into memcpy calls: glibc's rep-movsb copy is slow for these short unaligned rows. */
__attribute__((optimize("no-tree-loop-distribute-patterns")))
static inline void cv_load_row(float *restrict dst, const void *restrict src, int dtype, int64_t stride, int64_t n)
{
    switch (dtype) {
    case CC_F32: {
        const float *restrict s = src;
        if (stride == 1) for (int64_t i = 0; i < n; i++) dst[i] = s[i];
        else for (int64_t i = 0; i < n; i++) dst[i] = s[i * stride];
        break;
    }
    case CC_F64: {
        const double *restrict s = src;
        for (int64_t i = 0; i < n; i++) dst[i] = (float)s[i * stride];
        break;
    }
    case CC_F16: {
        const uint16_t *restrict s = src;
        if (stride == 1) cv_f16_row_to_f32(dst, s, n);
        else for (int64_t i = 0; i < n; i++) dst[i] = cc_f16_to_f32_inline(s[i * stride]);
        break;
    }
    default: {
        const uint16_t *restrict s = src;
        if (stride == 1) for (int64_t i = 0; i < n; i++) dst[i] = cc_bf16_to_f32_inline(s[i]);
        else for (int64_t i = 0; i < n; i++) dst[i] = cc_bf16_to_f32_inline(s[i * stride]);
        break;
    }
    }
}

__attribute__((optimize("no-tree-loop-distribute-patterns")))
static inline void cv_store_row(void *restrict dst, int dtype, int64_t stride, const float *restrict src, int64_t n)
{
    switch (dtype) {
    case CC_F32: {
        float *restrict d = dst;
        if (stride == 1) for (int64_t i = 0; i < n; i++) d[i] = src[i];
        else for (int64_t i = 0; i < n; i++) d[i * stride] = src[i];
        break;
    }
    case CC_F64: {
        double *restrict d = dst;
        for (int64_t i = 0; i < n; i++) d[i * stride] = src[i];
        break;
    }
    case CC_F16: {
        uint16_t *restrict d = dst;
        if (stride == 1) cv_f32_row_to_f16(d, src, n);
        else for (int64_t i = 0; i < n; i++) d[i * stride] = cc_f32_to_f16_inline(src[i]);
        break;
    }
    default: {
        uint16_t *restrict d = dst;
        uint32_t u;
        if (stride == 1)
            for (int64_t i = 0; i < n; i++) {
                memcpy(&u, &src[i], sizeof u);
                d[i] = cv_bf16_from_bits(u);
            }
        else
            for (int64_t i = 0; i < n; i++) {
                memcpy(&u, &src[i], sizeof u);
                d[i * stride] = cv_bf16_from_bits(u);
            }
        break;
    }
    }
}

/* Row (b, c) of a (B, D, L)-strided tensor as element offset of position p. */
static inline int64_t cv_off3(const int64_t *st, int64_t b, int64_t c, int64_t p)
{
    return b * st[0] + c * st[1] + p * st[2];
}

/* Fills dst[i] (i < n) with xe[p0 + i] of (row, c) in f32: x inside the row, the initial state
   (or 0) before it, 0 past its end. */
static inline void cv_load_xe(float *restrict dst, const cc_conv1d_args *a, const cv_row *row, int64_t c,
                              int64_t p0, int64_t n)
{
    int64_t ext = a->W - 1, i = 0;
    for (; i < n && p0 + i < 0; i++) {
        int64_t p = p0 + i;
        dst[i] = (a->initial_states && p >= -ext)
                     ? cc_load_f32(a->initial_states, a->state_dtype,
                                 cv_off3(a->initial_states_stride, row->s, c, ext + p))
                     : 0.0f;
    }
    int64_t hi = n;
    if (p0 + hi > row->len) hi = row->len - p0;
    if (hi > i) {
        cv_load_row(dst + i, cv_at(a->x, a->x_dtype, cv_off3(a->x_stride, row->b, c, row->start + p0 + i)),
                    a->x_dtype, a->x_stride[2], hi - i);
        i = hi;
    }
    for (; i < n; i++) dst[i] = 0.0f;
}

/* Per-thread scratch: one block of `per_thread` floats for each possible OpenMP thread,
   allocated before any output is written. */
static inline float *cv_scratch(int64_t per_thread, int *nthreads)
{
    *nthreads = omp_get_max_threads();
    return malloc((size_t)(per_thread * *nthreads) * sizeof(float));
}

/* What a fast forward or backward call sets up before its parallel loop: the work plan over blocks
   of cb channels, f32 weights, and per_thread floats of scratch for each thread. */
typedef struct cv_setup {
    cv_plan plan;
    cv_weights cw;
    float *scratch;
    int64_t cb, ncb;   /* channels per block, blocks */
} cv_setup;

static inline void cv_setup_free(cv_setup *s)
{
    free(s->scratch);
    free(s->cw.w);
    cv_plan_free(&s->plan);
}

static inline int cv_setup_make(cv_setup *s, const cc_conv1d_args *a, int64_t cb, int64_t per_thread)
{
    int nthreads;
    s->cb = cb;
    s->ncb = (a->D + cb - 1) / cb;
    s->cw.w = NULL;
    s->scratch = NULL;
    /* segments enough for every thread to get work: four per thread over the channel blocks */
    if (cv_plan_make(&s->plan, a, (4 * omp_get_max_threads() + s->ncb - 1) / s->ncb) != CC_OK) return CC_ERR_MEMORY;
    if (cv_weights_make(&s->cw, a) != CC_OK || !(s->scratch = cv_scratch(per_thread, &nthreads))) {
        cv_setup_free(s);
        return CC_ERR_MEMORY;
    }
    return CC_OK;
}

/* A scratch layout is one function that takes a task's regions in order from its thread's block:
   run with base NULL it only counts, which sizes the block, so sizes and offsets are written once.
   Regions start 64-byte aligned. */
typedef struct cv_carve {
    float *base;
    int64_t used;   /* floats */
} cv_carve;

static inline float *cv_take(cv_carve *c, int64_t floats)
{
    float *p = c->base ? c->base + c->used : NULL;
    c->used += (floats + 15) & ~(int64_t)15;
    return p;
}

/* a * b + c, fused where the target has FMA (gcc contracts nothing itself under -std=c11), so the
   SiLU and tap loops below cost one vector op per term. */
#ifdef __FMA__
#define CV_FMA(a, b, c) fmaf(a, b, c)
#else
#define CV_FMA(a, b, c) ((a) * (b) + (c))
#endif

/* exp(x) in f32 for the fast kernels' SiLU, inlined so that the row loops vectorise (glibc's
   vector expf is a call that costs as much as streaming the row). Cephes-style: n = round(x log2 e)
   by the 1.5 * 2^23 shifter (n read from the float's bits, no float-to-int conversion), r = x - n ln2
   in two steps (the first exact), exp(r) by a degree-6 polynomial on |r| <= ln2 / 2, times 2^n.
   Accuracy: relative error < 1e-7 (measured 7.9e-8, about 1 ulp) against f64 exp for
   -87.3 <= x <= 88.37. Ends: x < -87.3 gives exp(-87.3) ~ 1.2e-38 instead of a subnormal; x > 88.37
   (n = 128) and +inf give +inf (expf overflows from 88.72; nothing below cares about the values in
   between, they only ever appear as 1 + e >= 1.7e38); NaN stays NaN. So silu(v) = v / (1 + exp(-v))
   is v for v >= 87.3, -0 for v < -88.37, NaN for v = -inf (as the reference's -inf * 0), +inf for +inf. */
static inline float cv_exp(float x)
{
    x = x < -87.3f ? -87.3f : x;   /* comparisons, so NaN passes through */
    x = x > 89.0f ? 89.0f : x;
    float t = CV_FMA(x, 1.44269504f, 12582912.0f);   /* 1.5 * 2^23: the low mantissa bits hold round(x log2 e) */
    float n = t - 12582912.0f;
    uint32_t tb;
    memcpy(&tb, &t, sizeof tb);
    float r = CV_FMA(n, -0.693359375f, x);   /* ln2 split: the first part has 9 bits, n * it is exact */
    r = CV_FMA(n, 2.12194440e-4f, r);
    float p = 1.9875691500e-4f;
    p = CV_FMA(p, r, 1.3981999507e-3f);
    p = CV_FMA(p, r, 8.3334519073e-3f);
    p = CV_FMA(p, r, 4.1665795894e-2f);
    p = CV_FMA(p, r, 1.6666665459e-1f);
    p = CV_FMA(p, r, 5.0000001201e-1f);
    p = CV_FMA(p * r, r, r) + 1.0f;
    uint32_t sb = (tb - 0x4b400000u + 127u) << 23;   /* 2^n for n in [-126, 127]; n = 128 gives +inf */
    float scale;
    memcpy(&scale, &sb, sizeof scale);
    return p * scale;
}

/* silu(v) = v / (1 + exp(-v)) */
static inline float cv_silu(float v)
{
    return v / (1.0f + cv_exp(-v));
}

/* silu'(pre) = s * (1 + pre * (1 - s)), s = sigmoid(pre) */
static inline float cv_dsilu(float pre)
{
    float s = 1.0f / (1.0f + cv_exp(-pre));
    return s * (1.0f + pre * (1.0f - s));
}

/* y = silu(y) in f32. */
static inline void cv_silu_row(float *restrict y, int64_t n)
{
    for (int64_t i = cv8_silu_row(y, n); i < n; i++) y[i] = cv_silu(y[i]);
}

/* g *= silu'(pre). */
static inline void cv_dsilu_row(float *restrict g, const float *restrict pre, int64_t n)
{
    for (int64_t i = cv8_dsilu_row(g, pre, n); i < n; i++) g[i] *= cv_dsilu(pre[i]);
}

/* Outputs above this many bytes (an eighth of a 32 MiB L3 and more) are written by streaming
   stores where a kernel has them. */
#define CV_NT_BYTES ((int64_t)4 << 20)

/* Orders a task's streaming stores before the task ends (they are weakly ordered). */
static inline void cv_stream_fence(int nt)
{
#ifdef __AVX__
    if (nt) _mm_sfence();
#else
    (void)nt;
#endif
}


/* Loads the (rows x cb) tile xe[p0 .. p0 + rows) of channels [c0, c0+cb) of a channel-last row
   into xs (row stride rs floats): x inside the row, initial states (or zeros) before it, zeros after. */
static inline void cv_load_tile(float *xs, int64_t rs, const cc_conv1d_args *a, const cv_row *row, int64_t c0,
                                int64_t cb, int64_t p0, int64_t rows)
{
    int64_t ext = a->W - 1;
    for (int64_t r = 0; r < rows; r++) {
        int64_t p = p0 + r;
        float *dst = xs + r * rs;
        if (p >= 0 && p < row->len)
            cv_load_row(dst, cv_at(a->x, a->x_dtype, cv_off3(a->x_stride, row->b, c0, row->start + p)),
                        a->x_dtype, a->x_stride[1], cb);
        else if (p < 0 && p >= -ext && a->initial_states)
            cv_load_row(dst, cv_at(a->initial_states, a->state_dtype,
                                   cv_off3(a->initial_states_stride, row->s, c0, ext + p)),
                        a->state_dtype, a->initial_states_stride[1], cb);
        else
            for (int64_t c = 0; c < cb; c++) dst[c] = 0.0f;
    }
}

#endif
