/* Fast CPU forward of the causal depthwise conv1d, dense (B rows) and varlen (N packed rows).
   x and out (B, D, L), weight (D, W), bias (D), seq_idx (B, L), states (rows, D, W-1).

   Work: tasks of CV_CHUNK positions of one row times a block of channels, spread by OpenMP.
   Each task converts its input to f32 in per-thread scratch (any dtype, any strides), runs a
   branch-free tap loop (unrolled for W = 2, 3, 4) and converts back. Channel-first x vectorises
   along L; channel-last x vectorises across channels. An out in the other layout than x (the
   mixed layouts) gets tiles computed in x's layout in f32 scratch, then written transposed
   (conv_transpose.h). seq_idx becomes per-position tap masks built once per task; positions whose
   taps all stay in their segment take the unmasked loops. f64 x runs the reference kernel, which
   computes in f64. */
#include "conv_avx512.h"
#include "conv_transpose.h"
#include "conv_rows.h"

#define CF_CB 64   /* channels per channel-first task */
#define CL_CB 1024  /* channels per channel-last task */
#define CL_LT 32   /* positions per channel-last sub-tile */
#define CL_PF 24    /* channel-last software prefetch distance, in positions */
#define MX_CB 1024   /* channels per task of channel-first x with channel-last out */
#define MX_CG 64   /* channels per transposed tile of channel-first x with channel-last out */
#define MX_LT 128

/* A forward task's scratch: xe rows in f32, the output rows in f32, the tap masks. */
typedef struct fwd_scratch {
    float *xs;    /* channel-first xe[t0 - ext .. t0 + n); channel-last (CL_LT + ext) rows of CL_CB */
    float *ys;    /* channel-first out[t0 .. t0 + n) (channel-last out: MX_CG rows of MX_LT);
                     channel-last CL_LT rows of CL_CB */
    float *tr;    /* 16 x CV_TR_MAX, cv_store_transposed's */
    uint8_t *m;   /* nm blocks of (W + 2) x CV_CHUNK, see build_masks (channel-first seq_idx: one per
                     task of a segment, nm = CV_SEG; else nm = 1) */
    int32_t *run; /* nm blocks of CV_CHUNK + 1 run starts, see build_masks */
} fwd_scratch;

/* Lays s out from base (NULL: only sizes it) with nm mask blocks; returns its size in floats. */
static int64_t fwd_scratch_at(fwd_scratch *s, float *base, int cl, int64_t W, int64_t nm)
{
    cv_carve c = {base, 0};
    s->xs = cv_take(&c, cl ? (CL_LT + CC_CONV_MAX_WIDTH) * CL_CB : CV_CHUNK + CC_CONV_MAX_WIDTH);
    s->ys = cv_take(&c, cl ? CL_LT * CL_CB : (CV_CHUNK > MX_CG * MX_LT ? CV_CHUNK : MX_CG * MX_LT));
    s->tr = cv_take(&c, 16 * CV_TR_MAX);
    s->m = (uint8_t *)cv_take(&c, (nm * (W + 2) * CV_CHUNK + 3) / 4);
    s->run = (int32_t *)cv_take(&c, nm * (CV_CHUNK + 1));
    return c.used;
}

/* Tap masks of positions t0 .. t0+n-1: m[k * CV_CHUNK + i] = 1 when tap k of position t0+i reads
   its own segment and that is not padding; m[W * CV_CHUNK + i] = 1 when position t0+i is padding;
   m[(W + 1) * CV_CHUNK + i] = 1 when every tap of t0+i is kept (most positions: those take the
   unmasked loops). With run != NULL, also the runs of equal m[(W + 1) * CV_CHUNK + i]: run j covers
   [run[j], run[j + 1]); returns their count. */
static int64_t build_masks(const cc_conv1d_args *a, const cv_row *row, int64_t t0, int64_t n, uint8_t *m,
                           int32_t *run)
{
    int64_t W = a->W, ext = W - 1, nr = 0;
    uint8_t *full = m + (W + 1) * CV_CHUNK;
    for (int64_t i = 0; i < n; i++) {
        int32_t st = cv_seg(a, row, t0 + i);
        full[i] = st >= 0;
        for (int64_t k = 0; k < W; k++) {
            m[k * CV_CHUNK + i] = st >= 0 && cv_seg(a, row, t0 + i - ext + k) == st;
            full[i] &= m[k * CV_CHUNK + i];
        }
        m[W * CV_CHUNK + i] = st < 0;
        if (run && (i == 0 || full[i] != full[i - 1])) run[nr++] = (int32_t)i;
    }
    if (run) run[nr] = (int32_t)n;
    return nr;
}

#ifdef __AVX512F__
/* conv_dense for W = 4 with SiLU, its 64-byte aligned blocks of y written by streaming stores
   (cv512_conv_w4_silu_stream); head and tail by conv_dense, so bitwise its result. The caller
   fences (_mm_sfence) before the stores must be seen by other threads. */
static void conv_w4_silu_stream(float *restrict y, const float *restrict x, const float *restrict w, float bias,
                                int64_t n)
{
    int64_t i = (int64_t)((64 - ((uintptr_t)y & 63)) & 63) / 4;
    if (i > n) i = n;
    conv_dense(y, x, w, bias, i, 4, 1);
    i += cv512_conv_w4_silu_stream(y + i, x + i, w, bias, n - i);
    conv_dense(y + i, x + i, w, bias, n - i, 4, 1);
}
#endif

/* As conv_dense, taking only the taps whose mask is set. */
static void conv_masked(float *restrict y, const float *restrict x, const float *restrict w, float bias,
                        int64_t n, int64_t W, const uint8_t *restrict m)
{
    for (int64_t i = 0; i < n; i++) y[i] = bias;
    for (int64_t k = 0; k < W; k++) {
        float wk = w[k];
        const uint8_t *mk = m + k * CV_CHUNK;
        for (int64_t i = 0; i < n; i++) y[i] += mk[i] ? wk * x[i + k] : 0.0f;
    }
}

/* Positions [i0, i0+len) of a channel-first task (relative to t0) through f32 scratch: their xe
   loaded, the taps (masked where seq_idx cuts them), SiLU, padding zeroed, the outputs stored. */
static void fwd_cf_span(const cc_conv1d_args *a, const cv_row *row, int64_t c, int64_t t0, int64_t i0,
                        int64_t len, const float *w, float bias, int64_t o, const uint8_t *m, const fwd_scratch *scr)
{
    int64_t W = a->W;
    float *xs = scr->xs, *ys = scr->ys;
    cv_load_xe(xs, a, row, c, t0 + i0 - (W - 1), len + W - 1);
    if (!a->seq_idx || m[(W + 1) * CV_CHUNK + i0]) {
        conv_dense(ys, xs, w, bias, len, W, a->silu);
    } else {
        conv_masked(ys, xs, w, bias, len, W, m + i0);
        if (a->silu) cv_silu_row(ys, len);
        const uint8_t *pad = m + W * CV_CHUNK + i0;
        for (int64_t i = 0; i < len; i++) ys[i] = pad[i] ? 0.0f : ys[i];
    }
    cv_store_row(cv_at_mut(a->out, a->x_dtype, o + i0 * a->out_stride[2]), a->x_dtype, a->out_stride[2], ys, len);
}

/* Channel-first task: positions [t0, t0+n) of channel c of row. f32 rows with unit position
   stride are read and written in place, except the first W-1 positions of a row (their taps
   reach the initial state) and, with seq_idx, the runs of positions whose taps cross a segment
   boundary: those, and any other dtype or stride, go through f32 scratch (fwd_cf_span). With
   seq_idx, m and run are the task's masks and its nr runs (build_masks); without, unused. */
static void fwd_cf(const cc_conv1d_args *a, const cv_weights *cw, const cv_row *row, int64_t t0, int64_t c,
                   const uint8_t *m, const int32_t *run, int64_t nr, const fwd_scratch *scr, int nt)
{
    int64_t W = a->W, ext = W - 1, n = cv_task_len(row, t0);
    (void)nt;   /* streaming stores of whole rows only with AVX-512 (on AVX2 measured slower) */
    int in_place = a->x_dtype == CC_F32 && a->x_stride[2] == 1 && a->out_stride[2] == 1;
    int32_t whole[2] = { 0, (int32_t)n };   /* without seq_idx: one run of unmasked positions */
    if (!a->seq_idx) {
        run = whole;
        nr = 1;
    }
    const uint8_t *full = a->seq_idx ? m + (W + 1) * CV_CHUNK : NULL;
    int64_t head = t0 < ext ? (ext - t0 < n ? ext - t0 : n) : 0;   /* outputs that see p < 0 */
    const float *w = cw->w + c * W;
    float bias = cw->b[c];
    int64_t o = cv_off3(a->out_stride, row->b, c, row->start + t0);
    for (int64_t j = 0; j < nr; j++) {
        int64_t i0 = run[j], i1 = run[j + 1];
        if (!in_place || (a->seq_idx && !full[i0])) {
            fwd_cf_span(a, row, c, t0, i0, i1 - i0, w, bias, o, m, scr);
            continue;
        }
        if (i0 < head) {
            int64_t h = head < i1 ? head : i1;
            fwd_cf_span(a, row, c, t0, i0, h - i0, w, bias, o, m, scr);
            i0 = h;
        }
        if (i0 == i1) continue;
        float *y = (float *)a->out + o + i0;
        const float *xr = (const float *)a->x + cv_off3(a->x_stride, row->b, c, row->start + t0 + i0 - ext);
#ifdef __AVX512F__
        if (nt && W == 4 && a->silu)
            conv_w4_silu_stream(y, xr, w, bias, i1 - i0);
        else
#endif
            conv_dense(y, xr, w, bias, i1 - i0, W, a->silu);
    }
    if (a->final_states && t0 + n == row->len) cv_write_final_states(a, row, c);
}

/* Channel-first x, channel-last out: positions [t0, t0+n) of row, channels [c0, c1), in tiles of
   MX_CG channels x MX_LT positions. Each channel row of a tile is computed along L into f32 scratch
   (f32 x rows with unit position stride read in place past the row's first W-1 positions), then
   the tile is written transposed, so every out row gets MX_CG contiguous channels. */
static void fwd_cf_cl(const cc_conv1d_args *a, const cv_weights *cw, const cv_row *row, int64_t t0,
                      int64_t c0, int64_t c1, const fwd_scratch *scr, int nt)
{
    int64_t W = a->W, ext = W - 1, n = cv_task_len(row, t0);
    float *xs = scr->xs, *ys = scr->ys;
    uint8_t *m = scr->m;
    int in_x = !a->seq_idx && a->x_dtype == CC_F32 && a->x_stride[2] == 1;
    if (a->seq_idx) build_masks(a, row, t0, n, m, NULL);
    for (int64_t tt = 0; tt < n; tt += MX_LT) {
        int64_t lt = n - tt < MX_LT ? n - tt : MX_LT, p0 = t0 + tt;
        for (int64_t cg = c0; cg < c1; cg += MX_CG) {
            int64_t g = c1 - cg < MX_CG ? c1 - cg : MX_CG;
            for (int64_t j = 0; j < g; j++) {
                int64_t c = cg + j;
                const float *w = cw->w + c * W;
                float *y = ys + j * MX_LT;
                const float *xr = xs;
                if (in_x && p0 >= ext)
                    xr = (const float *)a->x + cv_off3(a->x_stride, row->b, c, row->start + p0 - ext);
                else
                    cv_load_xe(xs, a, row, c, p0 - ext, lt + ext);
                if (in_x) {   /* the tile MX_CG channels on (past c1: the first channels' next tile), a
                                 group ahead: more streams than the prefetchers follow, and the row's
                                 own next tile would be evicted from L2 before its turn */
                    int64_t cn = c + MX_CG, pn = p0;
                    if (cn >= c1) cn -= c1 - c0, pn += MX_LT;
                    if (pn + MX_LT <= row->len) {
                        const char *xn = (const char *)a->x + 4 * cv_off3(a->x_stride, row->b, cn, row->start + pn - ext);
                        for (int64_t q = 0; q < 4 * (MX_LT + ext); q += 64) __builtin_prefetch(xn + q);
                    }
                }
                if (a->seq_idx) {
                    conv_masked(y, xr, w, cw->b[c], lt, W, m + tt);
                    if (a->silu) cv_silu_row(y, lt);
                    const uint8_t *pad = m + W * CV_CHUNK + tt;
                    for (int64_t i = 0; i < lt; i++) y[i] = pad[i] ? 0.0f : y[i];
                } else {
                    conv_dense(y, xr, w, cw->b[c], lt, W, a->silu);
                }
            }
            cv_store_transposed(cv_at_mut(a->out, a->x_dtype, cv_off3(a->out_stride, row->b, cg, row->start + p0)),
                                a->x_dtype, a->out_stride[2], a->out_stride[1], ys, MX_LT, g, lt, scr->tr, nt);
        }
    }
    if (a->final_states && t0 + n == row->len)
        for (int64_t c = c0; c < c1; c++) cv_write_final_states(a, row, c);
}

/* One output position of a channel-last tile: y[c] = act(b[c] + sum_k wt[k][c] x[k][c]), where
   input row k starts at x + k * xrs; SiLU fused for unmasked W <= 4. */
static void conv_row_cl(float *restrict y, const float *restrict x, int64_t xrs, const float *restrict wt,
                        const float *restrict b, int64_t D, int64_t cb, int64_t W, const uint8_t *mrow, int silu)
{
    if (!mrow && W <= 4 && W >= 2) {
        const float *w0 = wt, *w1 = wt + D, *w2 = wt + 2 * D, *w3 = wt + 3 * D;
        const float *x0 = x, *x1 = x + xrs, *x2 = x + 2 * xrs, *x3 = x + 3 * xrs;
        if (W == 4 && silu) {
            #pragma omp simd
            for (int64_t c = cv8_conv_silu_cl(y, x, xrs, wt, b, D, cb, 4); c < cb; c++) {
                float v = CV_FMA(w3[c], x3[c], CV_FMA(w2[c], x2[c], CV_FMA(w1[c], x1[c], CV_FMA(w0[c], x0[c], b[c]))));
                y[c] = cv_silu(v);
            }
        } else if (W == 4) {
            for (int64_t c = 0; c < cb; c++) y[c] = CV_FMA(w3[c], x3[c], CV_FMA(w2[c], x2[c], CV_FMA(w1[c], x1[c], CV_FMA(w0[c], x0[c], b[c]))));
        } else if (W == 3 && silu) {
            #pragma omp simd
            for (int64_t c = cv8_conv_silu_cl(y, x, xrs, wt, b, D, cb, 3); c < cb; c++) {
                float v = CV_FMA(w2[c], x2[c], CV_FMA(w1[c], x1[c], CV_FMA(w0[c], x0[c], b[c])));
                y[c] = cv_silu(v);
            }
        } else if (W == 3) {
            for (int64_t c = 0; c < cb; c++) y[c] = CV_FMA(w2[c], x2[c], CV_FMA(w1[c], x1[c], CV_FMA(w0[c], x0[c], b[c])));
        } else if (silu) {
            #pragma omp simd
            for (int64_t c = cv8_conv_silu_cl(y, x, xrs, wt, b, D, cb, 2); c < cb; c++) {
                float v = CV_FMA(w1[c], x1[c], CV_FMA(w0[c], x0[c], b[c]));
                y[c] = cv_silu(v);
            }
        } else {
            for (int64_t c = 0; c < cb; c++) y[c] = CV_FMA(w1[c], x1[c], CV_FMA(w0[c], x0[c], b[c]));
        }
        return;
    }
    int64_t c0 = mrow ? 0 : cv8_conv_taps_cl(y, x, xrs, wt, b, D, cb, W, silu);
    for (int64_t c = c0; c < cb; c++) y[c] = b[c];
    for (int64_t k = 0; k < W; k++) {
        if (mrow && !mrow[k * CV_CHUNK]) continue;   /* a whole row of one tap is masked at once */
        const float *wk = wt + k * D, *xk = x + k * xrs;
        for (int64_t c = c0; c < cb; c++) y[c] = CV_FMA(wk[c], xk[c], y[c]);
    }
    if (silu) cv_silu_row(y + c0, cb - c0);
}


/* Channel-last task: positions [t0, t0+n) of row, channels [c0, c1), in sub-tiles of CL_LT rows.
   f32 with unit channel strides reads x rows and writes out rows in place; otherwise (and for
   the sub-tile whose taps reach p < 0) rows go through f32 scratch. A channel-first out takes
   each sub-tile transposed (CL_LT contiguous positions per channel row). */
static void fwd_cl(const cc_conv1d_args *a, const cv_weights *cw, const cv_row *row, int64_t t0,
                   int64_t c0, int64_t c1, const fwd_scratch *scr, int nt)
{
    int64_t W = a->W, ext = W - 1, D = a->D, cb = c1 - c0, n = cv_task_len(row, t0);
    float *xs = scr->xs, *ys = scr->ys;
    uint8_t *m = scr->m;
    int x_in = a->x_dtype == CC_F32 && a->x_stride[1] == 1, direct = x_in && a->out_stride[1] == 1;
    int out_cf = !cv_strides_channel_last(a->out_stride);
    if (a->seq_idx) build_masks(a, row, t0, n, m, NULL);
    for (int64_t tt = 0; tt < n; tt += CL_LT) {
        int64_t lt = n - tt < CL_LT ? n - tt : CL_LT, p0 = t0 + tt;
        int in_place = direct && p0 >= ext, x_place = x_in && p0 >= ext;
#ifdef __AVX512F__
        int bf = CV_AVX512_BF16 && a->x_dtype == CC_BF16 && a->x_stride[1] == 1 && a->out_stride[1] == 1 && p0 >= ext;
        if ((in_place || bf) && W == 4 && a->silu && !a->seq_idx) {   /* rows in place, in registers */
            int64_t es = bf ? 2 : 4;
            char *y = (char *)a->out + cv_off3(a->out_stride, row->b, c0, row->start + p0) * es;
            const char *x = (const char *)a->x + cv_off3(a->x_stride, row->b, c0, row->start + p0 - ext) * es;
            int64_t xst = a->x_stride[2], yst = a->out_stride[2];
            int tnt = nt && !bf && ((uintptr_t)y & 63) == 0 && yst % 16 == 0;
            for (int64_t t = 0; t < lt; t += CV_TP) {
                if (p0 + t + CL_PF < row->len)   /* the rows ahead: a strided stream the hardware prefetcher misses */
                    for (int64_t c = 0; c < cb; c += 64 / es)
                        for (int64_t i = 0; i < CV_TP; i++) __builtin_prefetch(x + ((t + ext + i + CL_PF) * xst + c) * es);
                cv512_fwd_cl_tile_w4(y + t * yst * es, yst, x + t * xst * es, xst, cw->wt + c0, cw->b + c0, D, cb,
                                     lt - t < CV_TP ? lt - t : CV_TP, bf, tnt);
            }
            continue;
        }
#endif
        const float *xr = xs;
        int64_t xrs = CL_CB;
        if (x_place) {
            xr = (const float *)a->x + cv_off3(a->x_stride, row->b, c0, row->start + p0 - ext);
            xrs = a->x_stride[2];
        } else {
            cv_load_tile(xs, CL_CB, a, row, c0, cb, p0 - ext, lt + ext);
        }
        for (int64_t t = 0; t < lt; t++) {
            float *y = in_place ? (float *)a->out + cv_off3(a->out_stride, row->b, c0, row->start + p0 + t)
                                : ys + t * CL_CB;
            if (x_place && xrs != cb)   /* the rows ahead, when the task's rows are pieces of longer
                                           ones: a short strided stream the hardware prefetcher misses */
                for (int64_t c = 0; c < cb; c += 16) __builtin_prefetch(xr + (t + ext + CL_PF) * xrs + c);
            if (a->seq_idx && m[W * CV_CHUNK + tt + t]) {
                for (int64_t c = 0; c < cb; c++) y[c] = 0.0f;
                continue;
            }
            int masked = a->seq_idx && !m[(W + 1) * CV_CHUNK + tt + t];
            conv_row_cl(y, xr + t * xrs, xrs, cw->wt + c0, cw->b + c0, D, cb, W, masked ? m + tt + t : NULL, a->silu);
        }
        if (in_place) continue;
        if (out_cf)   /* the transposed tiles by streaming stores: on AVX2 measured faster for them */
            cv_store_transposed(cv_at_mut(a->out, a->x_dtype, cv_off3(a->out_stride, row->b, c0, row->start + p0)),
                                a->x_dtype, a->out_stride[1], a->out_stride[2], ys, CL_CB, lt, cb, scr->tr, nt);
        else
            for (int64_t t = 0; t < lt; t++)
                cv_store_row(cv_at_mut(a->out, a->x_dtype, cv_off3(a->out_stride, row->b, c0, row->start + p0 + t)),
                             a->x_dtype, a->out_stride[1], ys + t * CL_CB, cb);
    }
    if (a->final_states && t0 + n == row->len)
        for (int64_t c = c0; c < c1; c++) cv_write_final_states(a, row, c);
}

int cc_cpu_causal_conv1d_forward(const cc_conv1d_args *a)
{
    if (a->x_dtype == CC_F64) return cc_cpu_causal_conv1d_forward_ref(a);
    int64_t D = a->D, W = a->W;
    int cl = cv_channel_last(a), out_cl = cv_strides_channel_last(a->out_stride);
    fwd_scratch layout;
    int64_t nm = a->seq_idx && !cl && !out_cl ? CV_SEG : 1;
    int64_t per_thread = fwd_scratch_at(&layout, NULL, cl, W, nm);
    cv_setup s;
    if (cv_setup_make(&s, a, cl ? CL_CB : out_cl ? MX_CB : CF_CB, per_thread) != CC_OK) return CC_ERR_MEMORY;
    const cv_plan *plan = &s.plan;
    const cv_weights *cw = &s.cw;
    int64_t cb = s.cb, ncb = s.ncb;
    /* Streaming stores where out is several times the share of cache a thread may use. */
    int nt = a->B * a->L * D * cc_dtype_bytes(a->x_dtype) > CV_NT_BYTES;
    #pragma omp parallel for schedule(dynamic) if (a->B * a->L * D > CC_OMP_MIN_WORK)
    for (int64_t i = 0; i < plan->nseg * ncb; i++) {
        int64_t sg = i / ncb, c0 = (i % ncb) * cb, c1 = c0 + cb < D ? c0 + cb : D;
        int64_t first = plan->seg[sg], last = plan->seg[sg + 1];
        fwd_scratch scr_;
        fwd_scratch_at(&scr_, s.scratch + omp_get_thread_num() * per_thread, cl, W, nm);
        const fwd_scratch *scr = &scr_;
        cv_row row = cv_get_row(a, plan->row[first]);
        if (cl) {
            for (int64_t k = first; k < last; k++) fwd_cl(a, cw, &row, plan->chunk[k], c0, c1, scr, nt);
        } else if (out_cl) {
            for (int64_t k = first; k < last; k++) fwd_cf_cl(a, cw, &row, plan->chunk[k], c0, c1, scr, nt);
        } else {   /* channel by channel: one long stream per channel row; with seq_idx the tap
                      masks of the segment's tasks built first, shared by the channels */
            int64_t nr[CV_SEG] = { 0 }, ms = a->seq_idx ? (W + 2) * CV_CHUNK : 0, rs = a->seq_idx ? CV_CHUNK + 1 : 0;
            for (int64_t k = first; a->seq_idx && k < last; k++)
                nr[k - first] = build_masks(a, &row, plan->chunk[k], cv_task_len(&row, plan->chunk[k]),
                                            scr->m + (k - first) * ms, scr->run + (k - first) * rs);
            for (int64_t c = c0; c < c1; c++)
                for (int64_t k = first; k < last; k++)
                    fwd_cf(a, cw, &row, plan->chunk[k], c, scr->m + (k - first) * ms, scr->run + (k - first) * rs,
                           nr[k - first], scr, nt);
        }
        cv_stream_fence(nt);
    }
    cv_setup_free(&s);
    return CC_OK;
}
