/* Fast CPU backward of the causal depthwise conv1d, dense (B rows) and varlen (N packed rows).
   x, dout, dx (B, D, L); weight, dweight (D, W); bias, dbias (D); seq_idx (B, L);
   initial / dinitial / dfinal states (rows, D, W-1).

   Same tasks as the forward (CV_CHUNK positions of one row x a block of channels). A task needs
   xe on [t0 - ext, t0 + n + ext) and dout on [t0, t0 + n + ext): it recomputes gz (the gradient of
   the pre-activation) on its W-1 right-halo positions instead of exchanging them, then
   dx[p] = sum_k w[k] gz[p + ext - k]. dweight / dbias: each task writes its f32 partial sums to
   its own slot of a scratch array; the slots are summed afterwards in task order (f64), so the
   result is identical for any thread count. f64 x runs the reference kernel. */
#include "conv_avx512.h"
#include "conv_transpose.h"
#include "conv_rows.h"

#define CF_CB 64   /* channels per channel-first task */
#define CL_CB 1024  /* channels per channel-last task */
#define CL_LT 32   /* positions per channel-last sub-tile */
#define CL_SB 256  /* channels per block of the fused W = 4 channel-last pass */
#define CL_RS (CL_SB + 16)   /* scratch row stride of that pass: rows not 4 KiB apart (no 4K aliasing) */
#define CL_PF 16   /* channel-last software prefetch distance, in positions */

#define GT_LD (CV_CHUNK + 48)   /* row stride of the transposed dout tile (a gb row each) */

/* Index of the tap masks: position t0 + u, u in [-ext, CV_CHUNK + ext), lives at MI(u). */
#define MSTRIDE (CV_CHUNK + 32)
#define MI(u) ((u) + 16)

/* A backward task's scratch. The three layouts are alternatives (a task uses one), each from the
   start of the thread's block; the block is sized for the largest the call can use. */
typedef struct bwd_scratch {
    struct {   /* channel-first, one channel row at a time */
        float *xs;    /* xe[t0 - ext .. t0 + n + ext) */
        float *gb;    /* gz[t0 - ext .. t0 + n + ext), zeros outside [0, nu) */
        float *pre;   /* pre[t0 .. t0 + nu) */
        float *dxb;   /* dxe[t0 - ext .. t0 + n) at dxb[ext + i] */
        uint8_t *m;   /* tap masks, see build_masks */
        float *gt;    /* channel-last dout: CF_CB rows of GT_LD, laid out as gb, see load_dout_cl */
        float *tt;    /* 16 rows of CF_CB: dout rows on their way into gt */
    } cf;
    struct {   /* channel-last tiles of CL_LT positions x CL_CB channels */
        float *xs;    /* xe[p0 - ext .. p0 + lt + ext), rows of CL_CB */
        float *gs;    /* gz[p0 - ext .. p0 + lt + ext) */
        float *dxs;   /* dxe[p0 - ext .. p0 + lt) */
        float *acc;   /* (W + 1) x CL_CB partial sums, then a pre-activation row */
        uint8_t *m;
    } cl;
    struct {   /* the fused channel-last W = 4 pass, rows of stride CL_RS */
        float *ring;    /* gz row of position q at ring[(q + 8) & 7] (8: the AVX-512 tile works mod 8) */
        float *xring;   /* xe row p at xring[(p + 4) & 3] (staged rows) */
        float *dst;     /* dxe[-3 .. 0), then the staged dx row */
        float *gst;     /* staged dout row */
        float *acc;     /* 5 x CL_RS partial sums */
        float *gtile;   /* f32 channel-first dout: CL_LT positions transposed, position rows */
    } w4;
} bwd_scratch;

/* Lays s out from base (NULL: only sizes it); returns the size in floats of the layouts used with
   channel-last (cl) or channel-first x of width W. */
static int64_t bwd_scratch_at(bwd_scratch *s, float *base, int cl, int64_t W)
{
    int64_t mask = ((W + 1) * MSTRIDE + 3) / 4, rows = CL_LT + 2 * (CC_CONV_MAX_WIDTH - 1);
    if (!cl) {
        cv_carve c = {base, 0};
        s->cf.xs = cv_take(&c, CV_CHUNK + 32);
        s->cf.gb = cv_take(&c, CV_CHUNK + 48);
        s->cf.pre = cv_take(&c, CV_CHUNK + 16);
        s->cf.dxb = cv_take(&c, CV_CHUNK + 16);
        s->cf.m = (uint8_t *)cv_take(&c, mask);
        s->cf.gt = cv_take(&c, CF_CB * GT_LD);
        s->cf.tt = cv_take(&c, 16 * CF_CB);
        return c.used;
    }
    cv_carve c = {base, 0}, c4 = {base, 0};
    s->cl.xs = cv_take(&c, rows * CL_CB);
    s->cl.gs = cv_take(&c, rows * CL_CB);
    s->cl.dxs = cv_take(&c, rows * CL_CB);
    s->cl.acc = cv_take(&c, 18 * CL_CB);
    s->cl.m = (uint8_t *)cv_take(&c, mask);
    s->w4.ring = cv_take(&c4, 8 * CL_RS);
    s->w4.xring = cv_take(&c4, 4 * CL_RS);
    s->w4.dst = cv_take(&c4, 4 * CL_RS);
    s->w4.gst = cv_take(&c4, CL_RS);
    s->w4.acc = cv_take(&c4, 5 * CL_RS);
    s->w4.gtile = cv_take(&c4, CL_LT * CL_RS);
    return c.used > c4.used ? c.used : c4.used;
}

/* m[k * MSTRIDE + MI(u)]: tap k of output t0+u reads its own segment, which is not padding (padding
   gives nothing to dweight, not 0 * x: its x may be NaN); m[W * MSTRIDE + MI(u)]: t0+u is padding. Built for u in [0, nu) (positions with a gz), zero for the other u in
   [-ext, nall), whose gz is zero anyway. */
static void build_masks(const cc_conv1d_args *a, const cv_row *row, int64_t t0, int64_t nu, int64_t nall, uint8_t *m)
{
    int64_t W = a->W, ext = W - 1;
    for (int64_t k = 0; k <= W; k++)
        for (int64_t u = -ext; u < nall; u++) m[k * MSTRIDE + MI(u)] = 0;
    for (int64_t u = 0; u < nu; u++) {
        int32_t st = cv_seg(a, row, t0 + u);
        for (int64_t k = 0; k < W; k++) m[k * MSTRIDE + MI(u)] = st >= 0 && cv_seg(a, row, t0 + u - ext + k) == st;
        m[W * MSTRIDE + MI(u)] = st < 0;
    }
}

/* dfinal_states[j] of (row, c) if final_states took xe[len - ext + j], else 0. */
static float dfinal_at(const cc_conv1d_args *a, const cv_row *row, int64_t c, int64_t j)
{
    if (!a->dfinal_states || !cv_final_keeps(a, row, row->len - (a->W - 1) + j)) return 0.0f;
    return cc_load_f32(a->dfinal_states, a->state_dtype, cv_off3(a->dfinal_states_stride, row->s, c, j));
}

/* ---- channel-first: one channel row at a time, vectorised along L ---- */

/* y[u] = bias + sum_k w[k] x[u + k] (masked taps dropped), u < n. */
static void pre_cf(float *restrict y, const float *restrict x, const float *restrict w, float bias, int64_t n,
                   int64_t W, const uint8_t *m)
{
    if (!m && W == 4) {
        float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
        for (int64_t i = 0; i < n; i++) y[i] = CV_FMA(w3, x[i + 3], CV_FMA(w2, x[i + 2], CV_FMA(w1, x[i + 1], CV_FMA(w0, x[i], bias))));
        return;
    }
    for (int64_t i = 0; i < n; i++) y[i] = bias;
    for (int64_t k = 0; k < W; k++) {
        float wk = w[k];
        if (m) {
            const uint8_t *mk = m + k * MSTRIDE + MI(0);
            for (int64_t i = 0; i < n; i++) y[i] += mk[i] ? wk * x[i + k] : 0.0f;
        } else {
            for (int64_t i = 0; i < n; i++) y[i] = CV_FMA(wk, x[i + k], y[i]);
        }
    }
}

/* dx[i] = sum_k w[k] g[i + ext - k] for i in [lo, n), g indexed from u = -ext (g[u] at gb[ext + u]). */
static void dx_cf(float *restrict dx, const float *restrict gb, const float *restrict w, int64_t lo, int64_t n,
                  int64_t W, const uint8_t *m)
{
    int64_t ext = W - 1;
    if (!m && W == 4) {
        float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3];
        for (int64_t i = lo; i < n; i++) {
            const float *g = gb + ext + i;   /* g[j] = gz[i + j] */
            dx[i] = CV_FMA(w0, g[3], CV_FMA(w1, g[2], CV_FMA(w2, g[1], w3 * g[0])));
        }
        return;
    }
    for (int64_t i = lo; i < n; i++) dx[i] = 0.0f;
    for (int64_t k = W - 1; k >= 0; k--) {
        float wk = w[k];
        const float *g = gb + ext + ext - k;   /* g[i] = gz[i + ext - k] */
        if (m) {
            const uint8_t *mk = m + k * MSTRIDE + MI(ext - k);
            for (int64_t i = lo; i < n; i++) dx[i] += mk[i] ? wk * g[i] : 0.0f;
        } else {
            for (int64_t i = lo; i < n; i++) dx[i] = CV_FMA(wk, g[i], dx[i]);
        }
    }
}

/* The common case: f32 rows with unit position strides, W = 4, no seq_idx, any chunk of the row.
   x, dout and dx are used in place; gz goes through scratch g (g[3 + u] = gz[t0 + u]) unless the
   chunk is interior and has no SiLU. The row's ends are handled apart from the branch-free main
   loops: xe[-3 .. 3) is staged in xh for the first chunk (whose first 3 outputs and the dinitial
   positions see p < 0), gz is zero past the row's end, dfinal is added to the last 3 dx. */
static void bwd_cf_w4(const cc_conv1d_args *a, const cv_weights *cw, const cv_row *row, int64_t t0, int64_t n,
                      int64_t c, float *g, float *xh, float *pc)
{
    const float *w = cw->w + c * 4;
    float w0 = w[0], w1 = w[1], w2 = w[2], w3 = w[3], bias = cw->b[c];
    int64_t len = row->len;
    int64_t nu = len - t0 < n + 3 ? len - t0 : n + 3;   /* positions with a gz */
    int64_t head = t0 == 0 ? (nu < 3 ? nu : 3) : 0;     /* gz positions whose taps reach p < 0 */
    const float *xp = (const float *)a->x + cv_off3(a->x_stride, row->b, c, row->start + t0 - 3);
    const float *gp = (const float *)a->dout + cv_off3(a->dout_stride, row->b, c, row->start + t0);
    float *dx = (float *)a->dx + cv_off3(a->dx_stride, row->b, c, row->start + t0);
    const float *gz = gp - 3;   /* gz[3 + u] */
    if (t0 == 0) cv_load_xe(xh, a, row, c, -3, 6);
    if (a->silu || head > 0 || nu < n + 3) {
        const float *restrict xr = xp;
        float *restrict gr = g + 3;
        for (int64_t u = 0; u < head; u++) {
            float v = gp[u];
            if (a->silu) {
                float pre = CV_FMA(w3, xh[u + 3], CV_FMA(w2, xh[u + 2], CV_FMA(w1, xh[u + 1], CV_FMA(w0, xh[u], bias))));
                v *= cv_dsilu(pre);
            }
            gr[u] = v;
        }
        if (a->silu) {
            #pragma omp simd
            for (int64_t u = cv8_dsilu_cf_w4(gr, gp, xr, w, bias, head, nu); u < nu; u++) {
                float pre = CV_FMA(w3, xr[u + 3], CV_FMA(w2, xr[u + 2], CV_FMA(w1, xr[u + 1], CV_FMA(w0, xr[u], bias))));
                gr[u] = gp[u] * cv_dsilu(pre);
            }
        } else {
            for (int64_t u = head; u < nu; u++) gr[u] = gp[u];
        }
        for (int64_t u = nu > 0 ? nu : 0; u < n + 3; u++) gr[u] = 0.0f;
        for (int64_t u = -3; u < 0; u++) gr[u] = 0.0f;
        gz = g;
    }
    {
        const float *restrict gq = gz + 3;
        float *restrict d = dx;
        for (int64_t i = 0; i < n; i++) d[i] = CV_FMA(w0, gq[i + 3], CV_FMA(w1, gq[i + 2], CV_FMA(w2, gq[i + 1], w3 * gq[i])));
    }
    if (t0 == 0 && a->dinitial_states) {   /* dxe[-3 .. 0) */
        float di[3];
        for (int64_t i = -3; i < 0; i++)
            di[i + 3] = CV_FMA(w0, g[6 + i], CV_FMA(w1, g[5 + i], CV_FMA(w2, g[4 + i], w3 * g[3 + i])));
        for (int64_t j = 0; j < 3; j++) {
            int64_t i = len - 3 + j;
            if (i < 0) di[i + 3] += dfinal_at(a, row, c, j);
        }
        cv_store_row(cv_at_mut(a->dinitial_states, a->state_dtype, cv_off3(a->dinitial_states_stride, row->s, c, 0)),
                     a->state_dtype, a->dinitial_states_stride[2], di, 3);
    }
    if (a->dfinal_states)
        for (int64_t j = 0; j < 3; j++) {
            int64_t i = len - 3 + j - t0;
            if (i >= 0 && i < n && i + t0 >= 0) dx[i] += dfinal_at(a, row, c, j);
        }
    const float *restrict gq = gz + 3, *restrict xr = xp;
    float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f, sb = 0.0f;
    int64_t h = head < n ? head : n;
    for (int64_t u = 0; u < h; u++) {
        s0 = CV_FMA(gq[u], xh[u], s0);
        s1 = CV_FMA(gq[u], xh[u + 1], s1);
        s2 = CV_FMA(gq[u], xh[u + 2], s2);
        s3 = CV_FMA(gq[u], xh[u + 3], s3);
        sb += gq[u];
    }
    pc[0] = s0;
    pc[1] = s1;
    pc[2] = s2;
    pc[3] = s3;
    pc[4] = sb;
    cv_dw_sums_w4(pc, gq, xr, h, n);
}

/* Channel-first x with a channel-last dout (the backward of the mixed forward): dout[t0 .. t0+nu) of
   channels [c0, c1) read a row of positions at a time (contiguous channels) and transposed into
   gt, row c - c0 at gt + (c - c0) * GT_LD + ext, so each channel's gz row is then contiguous. */
static void load_dout_cl(const cc_conv1d_args *a, const cv_row *row, int64_t t0, int64_t nu, int64_t c0, int64_t c1,
                         const bwd_scratch *scr)
{
    int64_t ext = a->W - 1, cb = c1 - c0;
    for (int64_t p = 0; p < nu; p += 16) {
        int64_t pb = nu - p < 16 ? nu - p : 16;
        for (int64_t i = 0; i < pb; i++)
            cv_load_row(scr->cf.tt + i * CF_CB,
                        cv_at(a->dout, a->x_dtype, cv_off3(a->dout_stride, row->b, c0, row->start + t0 + p + i)),
                        a->x_dtype, a->dout_stride[1], cb);
        cv_transpose_f32(scr->cf.gt + ext + p, GT_LD, scr->cf.tt, CF_CB, pb, cb, 0);
    }
}

static void bwd_cf(const cc_conv1d_args *a, const cv_weights *cw, const cv_row *row, int64_t t0,
                   int64_t c0, int64_t c1, const bwd_scratch *scr, float *part)
{
    int64_t W = a->W, ext = W - 1, n = cv_task_len(row, t0);
    int64_t nu = row->len - t0 < n + ext ? row->len - t0 : n + ext;   /* positions with a gz */
    if (nu < 0) nu = 0;
    int64_t lo = t0 == 0 ? -ext : 0;                                  /* chunk 0 also feeds dinitial */
    float *xs = scr->cf.xs, *gb = scr->cf.gb, *pre = scr->cf.pre, *dxb = scr->cf.dxb;
    uint8_t *m = scr->cf.m;
    const uint8_t *mk = a->seq_idx ? m : NULL;
    if (W == 4 && !a->seq_idx && a->x_dtype == CC_F32 && a->x_stride[2] == 1 && a->dout_stride[2] == 1 &&
        a->dx_stride[2] == 1) {
        for (int64_t c = c0; c < c1; c++) bwd_cf_w4(a, cw, row, t0, n, c, gb, xs, part + (c - c0) * (W + 1));
        return;
    }
    int dout_cl = cv_strides_channel_last(a->dout_stride);
    if (a->seq_idx) build_masks(a, row, t0, nu, n + ext, m);
    if (dout_cl) load_dout_cl(a, row, t0, nu, c0, c1, scr);
    for (int64_t c = c0; c < c1; c++) {
        const float *w = cw->w + c * W;
        cv_load_xe(xs, a, row, c, t0 - ext, n + 2 * ext);
        if (dout_cl) gb = scr->cf.gt + (c - c0) * GT_LD;
        float *g = gb + ext;
        for (int64_t u = -ext; u < 0; u++) g[u] = 0.0f;
        if (!dout_cl)
            cv_load_row(g, cv_at(a->dout, a->x_dtype, cv_off3(a->dout_stride, row->b, c, row->start + t0)),
                        a->x_dtype, a->dout_stride[2], nu);
        for (int64_t u = nu; u < n + ext; u++) g[u] = 0.0f;
        if (a->silu) {
            pre_cf(pre, xs, w, cw->b[c], nu, W, mk);
            cv_dsilu_row(g, pre, nu);
        }
        if (a->seq_idx) {
            const uint8_t *pad = m + W * MSTRIDE + MI(0);
            for (int64_t u = 0; u < nu; u++) g[u] = pad[u] ? 0.0f : g[u];
        }
        float *dx = dxb + ext;
        dx_cf(dx, gb, w, lo, n, W, mk);
        for (int64_t j = 0; j < ext; j++) {
            int64_t i = row->len - ext + j - t0;
            if (i >= lo && i < n) dx[i] += dfinal_at(a, row, c, j);
        }
        cv_store_row(cv_at_mut(a->dx, a->x_dtype, cv_off3(a->dx_stride, row->b, c, row->start + t0)),
                     a->x_dtype, a->dx_stride[2], dx, n);
        if (lo < 0 && a->dinitial_states)
            cv_store_row(cv_at_mut(a->dinitial_states, a->state_dtype, cv_off3(a->dinitial_states_stride, row->s, c, 0)),
                         a->state_dtype, a->dinitial_states_stride[2], dx - ext, ext);
        /* partial dweight / dbias of this chunk: positions t0 .. t0+n-1 only */
        float *pc = part + (c - c0) * (W + 1);
        for (int64_t k = 0; k < W; k++) {
            float s = 0.0f;
            const float *xk = xs + k;
            if (mk) {
                const uint8_t *mkk = m + k * MSTRIDE + MI(0);
                #pragma omp simd reduction(+:s)
                for (int64_t u = 0; u < n; u++) s += mkk[u] ? g[u] * xk[u] : 0.0f;
            } else {
                #pragma omp simd reduction(+:s)
                for (int64_t u = 0; u < n; u++) s = CV_FMA(g[u], xk[u], s);
            }
            pc[k] = s;
        }
        float s = 0.0f;
        #pragma omp simd reduction(+:s)
        for (int64_t u = 0; u < n; u++) s += g[u];
        pc[W] = s;
    }
}

/* ---- channel-last: tiles of CL_LT positions x cb channels, vectorised across channels ---- */

/* W = 4 without seq_idx, f32 rows with unit channel strides: one fused pass per position q over
   the task's channels, gz rows kept in a ring of 8. Step q computes gz row q from x rows q-3 .. q
   and dout row q (SiLU recomputed), dx row q-3 from gz rows q-3 .. q, and adds position q to the
   partial sums; only the few steps at a chunk's or row's ends take the split loops. */
static void cl_step_w4(float *restrict gq, float *restrict d, const float *const *xr, const float *restrict dout,
                       const float *restrict g0, const float *restrict g1, const float *restrict g2,
                       const float *restrict wt, const float *restrict b, float *restrict acc, int64_t D,
                       int64_t cb, int silu, int zero)
{
    const float *restrict w0 = wt, *restrict w1 = wt + D, *restrict w2 = wt + 2 * D, *restrict w3 = wt + 3 * D;
    float *restrict a0 = acc, *restrict a1 = acc + CL_RS, *restrict a2 = acc + 2 * CL_RS;
    float *restrict a3 = acc + 3 * CL_RS, *restrict ab = acc + 4 * CL_RS;
    if (zero) {
        for (int64_t c = 0; c < cb; c++) gq[c] = 0.0f;
    } else {
        const float *restrict x0 = xr[0], *restrict x1 = xr[1], *restrict x2 = xr[2], *restrict x3 = xr[3];
        if (d && acc && silu) {   /* the main step */
            #pragma omp simd
            for (int64_t c = cv8_bwd_cl_step_w4(gq, d, xr, dout, g0, g1, g2, wt, b, acc, CL_RS, D, cb); c < cb; c++) {
                float pre = CV_FMA(w3[c], x3[c], CV_FMA(w2[c], x2[c], CV_FMA(w1[c], x1[c], CV_FMA(w0[c], x0[c], b[c]))));
                float g = dout[c] * cv_dsilu(pre);
                gq[c] = g;
                d[c] = CV_FMA(w0[c], g, CV_FMA(w1[c], g2[c], CV_FMA(w2[c], g1[c], w3[c] * g0[c])));
                a0[c] = CV_FMA(g, x0[c], a0[c]);
                a1[c] = CV_FMA(g, x1[c], a1[c]);
                a2[c] = CV_FMA(g, x2[c], a2[c]);
                a3[c] = CV_FMA(g, x3[c], a3[c]);
                ab[c] += g;
            }
            return;
        }
        if (silu) {
            #pragma omp simd
            for (int64_t c = 0; c < cb; c++) {
                float pre = CV_FMA(w3[c], x3[c], CV_FMA(w2[c], x2[c], CV_FMA(w1[c], x1[c], CV_FMA(w0[c], x0[c], b[c]))));
                gq[c] = dout[c] * cv_dsilu(pre);
            }
        } else {
            for (int64_t c = 0; c < cb; c++) gq[c] = dout[c];
        }
        if (acc)
            for (int64_t c = 0; c < cb; c++) {
                float g = gq[c];
                a0[c] = CV_FMA(g, x0[c], a0[c]);
                a1[c] = CV_FMA(g, x1[c], a1[c]);
                a2[c] = CV_FMA(g, x2[c], a2[c]);
                a3[c] = CV_FMA(g, x3[c], a3[c]);
                ab[c] += g;
            }
    }
    if (d)
        for (int64_t c = 0; c < cb; c++) d[c] = CV_FMA(w0[c], gq[c], CV_FMA(w1[c], g2[c], CV_FMA(w2[c], g1[c], w3[c] * g0[c])));
}

#define RING(q) (ring + (((q) + 8) & 7) * CL_RS)

/* Positions [t0, t0+n) of row, channels [c0, c0+cb): see cl_step_w4. f32 rows with unit channel
   strides are used in place (x rows before the row's start staged from the initial states);
   other dtypes or strides convert each x / dout row once into f32 rings and dx rows back. dxe[-3 .. 0)
   goes through scratch to dinitial. */
static void bwd_cl_w4(const cc_conv1d_args *a, const cv_weights *cw, const cv_row *row, int64_t t0, int64_t n,
                      int64_t c0, int64_t cb, const bwd_scratch *scr, float *part, int nt)
{
    int64_t len = row->len;
    (void)nt;   /* streaming stores only with AVX-512 */
    int xin = a->x_dtype == CC_F32 && a->x_stride[1] == 1;
    int gin = a->x_dtype == CC_F32 && a->dout_stride[1] == 1;
    int din = a->x_dtype == CC_F32 && a->dx_stride[1] == 1;
    int gcf = !gin && a->x_dtype == CC_F32 && a->dout_stride[2] == 1;   /* channel-first f32 dout: by tiles */
#ifdef __AVX512F__
    int tin = CV_AVX512_BF16 && a->x_dtype == CC_BF16 && a->x_stride[1] == 1 && a->dout_stride[1] == 1 &&
              a->dx_stride[1] == 1;   /* bf16 rows: the tiles convert in registers */
#endif
    float *ring = scr->w4.ring, *xring = scr->w4.xring, *dst = scr->w4.dst, *gst = scr->w4.gst, *acc = scr->w4.acc;
    for (int64_t i = 0; i < 5 * CL_RS; i++) acc[i] = 0.0f;
    if (t0 == 0)
        for (int64_t i = 5 * CL_RS; i < 8 * CL_RS; i++) ring[i] = 0.0f;   /* gz[-3 .. 0) */
    for (int64_t p = t0 - 3; p < t0; p++)
        if (!xin || p < 0) cv_load_tile(xring + ((p + 4) & 3) * CL_RS, CL_CB, a, row, c0, cb, p, 1);
    const float *wt = cw->wt + c0, *b = cw->b + c0;
    for (int64_t q = t0; q < t0 + n + 3; q++) {
        int64_t p = q - 3;
#ifdef __AVX512F__
        if ((tin || (xin && gin && din)) && a->silu && p >= t0 && q + CV_TP - 1 < t0 + n && q + CV_TP - 1 < len &&
            (!a->dfinal_states || p + CV_TP - 1 < len - 3)) {   /* interior: a register tile of positions */
            int64_t es = tin ? 2 : 4;
            const char *x0 = (const char *)a->x + cv_off3(a->x_stride, row->b, c0, row->start + p) * es;
            const char *g = (const char *)a->dout + cv_off3(a->dout_stride, row->b, c0, row->start + q) * es;
            char *d = (char *)a->dx + cv_off3(a->dx_stride, row->b, c0, row->start + p) * es;
            float *rp[8];
            for (int64_t k = 0; k < 8; k++) rp[k] = ring + k * CL_RS;
            if (q + CV_TP + CL_PF < len)
                for (int64_t c = 0; c < cb; c += 64 / es)
                    for (int64_t k = 0; k < CV_TP; k++) {
                        __builtin_prefetch(x0 + ((3 + k + CL_PF) * a->x_stride[2] + c) * es);
                        __builtin_prefetch(g + ((k + CL_PF) * a->dout_stride[2] + c) * es);
                    }
            cv512_bwd_cl_tile_w4(rp, d, a->dx_stride[2], x0, a->x_stride[2], g, a->dout_stride[2], wt, b, acc, CL_RS,
                                 a->D, cb, q, tin, nt && !tin && ((uintptr_t)d & 63) == 0 && a->dx_stride[2] % 16 == 0);
            q += CV_TP - 1;
            if (tin)   /* the staged x rows the single steps after the tile read */
                for (int64_t k = 1; k <= 3; k++)
                    cv_load_tile(xring + ((q - 3 + k + 4) & 3) * CL_RS, CL_CB, a, row, c0, cb, q - 3 + k, 1);
            continue;
        }
#endif
        const float *xr[4] = {0};
        const float *dout = NULL;
        if (q < len) {
            if (!xin) cv_load_tile(xring + ((q + 4) & 3) * CL_RS, CL_CB, a, row, c0, cb, q, 1);
            for (int64_t k = 0; k < 4; k++)
                xr[k] = xin && p + k >= 0 ? (const float *)a->x + cv_off3(a->x_stride, row->b, c0, row->start + p + k)
                                          : xring + ((p + k + 4) & 3) * CL_RS;
            int64_t go = cv_off3(a->dout_stride, row->b, c0, row->start + q);
            if (xin && gin && q + CL_PF < len) {   /* rows ahead: strided streams the hardware prefetcher misses */
                const float *xf = (const float *)a->x + cv_off3(a->x_stride, row->b, c0, row->start + q + CL_PF);
                const float *gf = (const float *)a->dout + go + CL_PF * a->dout_stride[2];
                for (int64_t c = 0; c < cb; c += 16) {
                    __builtin_prefetch(xf + c);
                    __builtin_prefetch(gf + c);
                }
            }
            if (gin) {
                dout = (const float *)a->dout + go;
            } else if (gcf) {   /* CL_LT positions of dout transposed at once, rows of channels */
                int64_t qt = t0 + (q - t0) / CL_LT * CL_LT;
                if (q == qt) {
                    int64_t np = len < t0 + n + 3 ? len : t0 + n + 3;
                    np = (np < qt + CL_LT ? np : qt + CL_LT) - q;
                    for (int64_t cs = 0; cs < cb; cs += CV_TR_MAX)
                        cv_transpose_f32(scr->w4.gtile + cs, CL_RS,
                                         (const float *)a->dout + go + cs * a->dout_stride[1], a->dout_stride[1],
                                         cb - cs < CV_TR_MAX ? cb - cs : CV_TR_MAX, np, 0);
                }
                dout = scr->w4.gtile + (q - qt) * CL_RS;
            } else {
                cv_load_row(gst, cv_at(a->dout, a->x_dtype, go), a->x_dtype, a->dout_stride[1], cb);
                dout = gst;
            }
        }
        float *d = NULL;
        if (t0 == 0 || p >= t0)
            d = p < 0 ? dst + (p + 3) * CL_RS
                      : din ? (float *)a->dx + cv_off3(a->dx_stride, row->b, c0, row->start + p) : dst + 3 * CL_RS;
        cl_step_w4(RING(q), d, xr, dout, RING(q - 3), RING(q - 2), RING(q - 1), wt, b, q < t0 + n ? acc : NULL,
                   a->D, cb, a->silu, q >= len);
        int64_t j = p - (len - 3);
        if (d && a->dfinal_states && j >= 0 && j < 3)
            for (int64_t c = 0; c < cb; c++) d[c] += dfinal_at(a, row, c0 + c, j);
        if (d && p >= 0 && !din)
            cv_store_row(cv_at_mut(a->dx, a->x_dtype, cv_off3(a->dx_stride, row->b, c0, row->start + p)), a->x_dtype,
                         a->dx_stride[1], d, cb);
    }
    if (t0 == 0 && a->dinitial_states)
        for (int64_t i = 0; i < 3; i++)
            cv_store_row(cv_at_mut(a->dinitial_states, a->state_dtype, cv_off3(a->dinitial_states_stride, row->s, c0, i)),
                         a->state_dtype, a->dinitial_states_stride[1], dst + i * CL_RS, cb);
    for (int64_t c = 0; c < cb; c++)
        for (int64_t k = 0; k <= 4; k++) part[c * 5 + k] = acc[k * CL_RS + c];
}

static void bwd_cl(const cc_conv1d_args *a, const cv_weights *cw, const cv_row *row, int64_t t0,
                   int64_t c0, int64_t c1, const bwd_scratch *scr, float *part, int nt)
{
    int64_t W = a->W, ext = W - 1, D = a->D, cb = c1 - c0, n = cv_task_len(row, t0);
    if (W == 4 && !a->seq_idx && (a->x_dtype == CC_F32 || (CV_AVX512_BF16 && a->silu && a->x_dtype == CC_BF16))) {   /* channel blocks whose rings and sums stay in L1 */
        for (int64_t cs = 0; cs < cb; cs += CL_SB)
            bwd_cl_w4(a, cw, row, t0, n, c0 + cs, cb - cs < CL_SB ? cb - cs : CL_SB, scr, part + cs * 5, nt);
        return;
    }
    float *xs = scr->cl.xs, *gs = scr->cl.gs, *dxs = scr->cl.dxs, *acc = scr->cl.acc;
    uint8_t *m = scr->cl.m;
    int64_t nu_task = row->len - t0 < n + ext ? row->len - t0 : n + ext;
    if (nu_task < 0) nu_task = 0;
    if (a->seq_idx) build_masks(a, row, t0, nu_task, n + ext, m);
    for (int64_t i = 0; i < (W + 1) * CL_CB; i++) acc[i] = 0.0f;
    int f32rows = a->x_dtype == CC_F32 && a->x_stride[1] == 1 && a->dx_stride[1] == 1;
    int64_t tt = 0;
    do {
        int64_t lt = n - tt < CL_LT ? n - tt : CL_LT;
        int64_t p0 = t0 + tt;
        int64_t nu = row->len - p0 < lt + ext ? row->len - p0 : lt + ext;
        if (nu < 0) nu = 0;
        int64_t lo = p0 == 0 ? -ext : 0;
        /* x rows (row r = position p0 - ext + r) and dxe rows (row ext + i = position p0 + i):
           in place for f32 rows away from the row's ends, else through scratch */
        int in_place = f32rows && p0 - ext >= 0 && p0 + lt + ext <= row->len;
        const float *xr = xs;
        int64_t xrs = CL_CB;
        float *dr = dxs;
        int64_t drs = CL_CB;
        if (in_place) {
            xr = (const float *)a->x + cv_off3(a->x_stride, row->b, c0, row->start + p0 - ext);
            xrs = a->x_stride[2];
            dr = (float *)a->dx + cv_off3(a->dx_stride, row->b, c0, row->start + p0 - ext);
            drs = a->dx_stride[2];
        } else {
            cv_load_tile(xs, CL_CB, a, row, c0, cb, p0 - ext, lt + 2 * ext);
        }
        /* gz rows: row ext + u holds position p0 + u */
        for (int64_t u = -ext; u < lt + ext; u++) {
            float *g = gs + (ext + u) * CL_CB;
            int64_t mu = tt + u;   /* mask index (relative to t0) */
            if (u < 0 || u >= nu || (a->seq_idx && m[W * MSTRIDE + MI(mu)])) {
                for (int64_t c = 0; c < cb; c++) g[c] = 0.0f;
                continue;
            }
            cv_load_row(g, cv_at(a->dout, a->x_dtype, cv_off3(a->dout_stride, row->b, c0, row->start + p0 + u)),
                        a->x_dtype, a->dout_stride[1], cb);
            if (a->silu) {
                float *pr = acc + W * CL_CB + CL_CB;   /* one spare row past the sums */
                for (int64_t c = 0; c < cb; c++) pr[c] = cw->b[c0 + c];
                for (int64_t k = 0; k < W; k++) {
                    if (a->seq_idx && !m[k * MSTRIDE + MI(mu)]) continue;
                    const float *wk = cw->wt + k * D + c0, *xk = xr + (u + k) * xrs;
                    for (int64_t c = 0; c < cb; c++) pr[c] = CV_FMA(wk[c], xk[c], pr[c]);
                }
                cv_dsilu_row(g, pr, cb);
            }
        }
        /* dxe rows i in [lo, lt): row ext + i */
        for (int64_t i = lo; i < lt; i++) {
            float *d = dr + (ext + i) * drs;
            for (int64_t c = 0; c < cb; c++) d[c] = 0.0f;
            for (int64_t k = W - 1; k >= 0; k--) {
                int64_t u = i + ext - k;   /* output position p0 + u reads this input with tap k */
                if (a->seq_idx && !m[k * MSTRIDE + MI(tt + u)]) continue;
                const float *wk = cw->wt + k * D + c0, *g = gs + (ext + u) * CL_CB;
                for (int64_t c = 0; c < cb; c++) d[c] = CV_FMA(wk[c], g[c], d[c]);
            }
            int64_t j = p0 + i - (row->len - ext);
            if (a->dfinal_states && j >= 0 && j < ext)
                for (int64_t c = 0; c < cb; c++) d[c] += dfinal_at(a, row, c0 + c, j);
        }
        if (!in_place)
            for (int64_t i = 0; i < lt; i++)
                cv_store_row(cv_at_mut(a->dx, a->x_dtype, cv_off3(a->dx_stride, row->b, c0, row->start + p0 + i)),
                             a->x_dtype, a->dx_stride[1], dxs + (ext + i) * CL_CB, cb);
        if (lo < 0 && a->dinitial_states)
            for (int64_t i = -ext; i < 0; i++)
                cv_store_row(cv_at_mut(a->dinitial_states, a->state_dtype,
                                       cv_off3(a->dinitial_states_stride, row->s, c0, ext + i)),
                             a->state_dtype, a->dinitial_states_stride[1], dxs + (ext + i) * CL_CB, cb);
        /* partial sums over this sub-tile's own positions */
        for (int64_t u = 0; u < lt; u++) {
            const float *g = gs + (ext + u) * CL_CB;
            for (int64_t k = 0; k < W; k++) {
                if (a->seq_idx && !m[k * MSTRIDE + MI(tt + u)]) continue;
                float *ak = acc + k * CL_CB;
                const float *xk = xr + (u + k) * xrs;
                for (int64_t c = 0; c < cb; c++) ak[c] = CV_FMA(g[c], xk[c], ak[c]);
            }
            float *ab = acc + W * CL_CB;
            for (int64_t c = 0; c < cb; c++) ab[c] += g[c];
        }
        tt += CL_LT;
    } while (tt < n);
    for (int64_t c = 0; c < cb; c++)
        for (int64_t k = 0; k <= W; k++) part[c * (W + 1) + k] = acc[k * CL_CB + c];
}

int cc_cpu_causal_conv1d_backward(const cc_conv1d_args *a)
{
    if (a->x_dtype == CC_F64) return cc_cpu_causal_conv1d_backward_ref(a);
    int64_t D = a->D, W = a->W;
    int cl = cv_channel_last(a), dout_cl = !cl && cv_strides_channel_last(a->dout_stride);
    bwd_scratch layout;
    int64_t per_thread = bwd_scratch_at(&layout, NULL, cl, W);
    cv_setup s;
    if (cv_setup_make(&s, a, cl ? CL_CB : CF_CB, per_thread) != CC_OK) return CC_ERR_MEMORY;
    const cv_plan *plan = &s.plan;
    const cv_weights *cw = &s.cw;
    int64_t cb = s.cb, ncb = s.ncb;
    /* partial sums: part[(task * D + c) * (W + 1) + k], k = W for the bias */
    float *part = malloc((size_t)(plan->ntasks * D * (W + 1) + 1) * sizeof(float));
    if (!part) {
        cv_setup_free(&s);
        return CC_ERR_MEMORY;
    }
    /* Streaming stores of channel-last dx where it is several times the share of cache a thread may
       use (channel-first dx rows measured slower with them). */
    int nt = cl && a->B * a->L * D * cc_dtype_bytes(a->x_dtype) > CV_NT_BYTES;
    #pragma omp parallel if (a->B * a->L * D > CC_OMP_MIN_WORK)
    {
        bwd_scratch scr_;
        bwd_scratch_at(&scr_, s.scratch + omp_get_thread_num() * per_thread, cl, W);
        const bwd_scratch *scr = &scr_;
        #pragma omp for schedule(dynamic)
        for (int64_t i = 0; i < plan->nseg * ncb; i++) {
            int64_t sg = i / ncb, c0 = (i % ncb) * cb, c1 = c0 + cb < D ? c0 + cb : D;
            int64_t first = plan->seg[sg], last = plan->seg[sg + 1];
            cv_row row = cv_get_row(a, plan->row[first]);
            if (cl || a->seq_idx || dout_cl) {   /* chunk by chunk (channel-first: the masks or the
                                                      transposed dout tile are shared) */
                for (int64_t k = first; k < last; k++) {
                    float *pt = part + (k * D + c0) * (W + 1);
                    if (cl) bwd_cl(a, cw, &row, plan->chunk[k], c0, c1, scr, pt, nt);
                    else bwd_cf(a, cw, &row, plan->chunk[k], c0, c1, scr, pt);
                }
            } else {                  /* channel by channel: one long stream per channel row */
                for (int64_t c = c0; c < c1; c++)
                    for (int64_t k = first; k < last; k++)
                        bwd_cf(a, cw, &row, plan->chunk[k], c, c + 1, scr, part + (k * D + c) * (W + 1));
            }
            cv_stream_fence(nt);
        }
        /* fixed-order reduction of the partial sums, one channel per iteration */
        #pragma omp for schedule(static)
        for (int64_t c = 0; c < D; c++) {
            double s[CC_CONV_MAX_WIDTH + 1] = {0};
            for (int64_t task = 0; task < plan->ntasks; task++)
                for (int64_t k = 0; k <= W; k++) s[k] += part[(task * D + c) * (W + 1) + k];
            for (int64_t k = 0; k < W; k++)
                cc_store_f64(a->dweight, a->weight_dtype, c * a->dweight_stride[0] + k * a->dweight_stride[1], s[k]);
            if (a->dbias) cc_store_f64(a->dbias, a->bias_dtype, c * a->dbias_stride, s[W]);
        }
    }
    free(part);
    cv_setup_free(&s);
    return CC_OK;
}
