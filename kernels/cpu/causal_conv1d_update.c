/* Fast CPU decode update of the causal depthwise conv1d.
   x and out (B, D, S); conv_state (pool, D, state_len) updated in place; weight (D, W); bias (D);
   cache_seqlens (B) and conv_state_indices (B) optional.

   A decode step does a handful of operations per channel, so per-channel loops spend their time
   on loop overhead and scalar SiLU. The fast path turns the work around: for one row b and a
   block of UP_BLOCK channels, each state slot, token and tap is one f32 vector over the channels
   (strided loads into a small buffer), the taps and SiLU run as vector loops, and the rows go
   back strided. The slots a row reads and writes depend on b only (cache_seqlens), never on the
   channel, so one plan serves the block. f64 x runs the reference kernel; an f64 state or a long
   state (more than UP_MAX_ROWS slots and tokens) runs the per-channel loop below, which copies
   state elements as they are. */
#include "conv_common.h"

#define UP_BLOCK 64       /* channels per block: the buffers below stay in L1 */
#define UP_MAX_ROWS 64    /* state slots + new tokens the block buffers hold */

/* Moves state slots j + S -> j (j ascending, so a slot is read before it is overwritten). */
static void shift_state(void *st, int dtype, int64_t so, int64_t ss, int64_t keep, int64_t S)
{
    int64_t es = cc_dtype_bytes(dtype);
    char *base = (char *)st + so * es;
    if (ss == 1) {
        memmove(base, base + S * es, (size_t)(keep * es));
        return;
    }
    for (int64_t j = 0; j < keep; j++) memcpy(base + j * ss * es, base + (j + S) * ss * es, (size_t)es);
}

/* Row b, channels c0 .. c0+n-1 (n <= UP_BLOCK): out and the new state slots, through
   buf = UP_MAX_ROWS rows of UP_BLOCK floats (the state slots the row needs, then the S tokens) and
   w = W rows of UP_BLOCK floats (the taps of these channels, k-major), bias (UP_BLOCK) or NULL. */
static void update_block(const cc_conv1d_update_args *a, int64_t b, int64_t pool, int64_t c0, int64_t n,
                         const float *w, const float *bias, float (*buf)[UP_BLOCK])
{
    int64_t S = a->S, W = a->W, ext = W - 1, SL = a->state_len, sd = a->state_dtype;
    int64_t xcs = a->x_stride[1], ocs = a->out_stride[1];
    int64_t xo = b * a->x_stride[0] + c0 * xcs, o = b * a->out_stride[0] + c0 * ocs;
    float acc[UP_BLOCK];
    if (pool < 0) {   /* padding row: zeros out, state untouched */
        for (int64_t i = 0; i < n; i++) acc[i] = 0.0f;
        for (int64_t t = 0; t < S; t++) cv_store_row(cv_at_mut(a->out, a->x_dtype, o + t * a->out_stride[2]), a->x_dtype, ocs, acc, n);
        return;
    }
    int64_t scs = a->conv_state_stride[1], ss = a->conv_state_stride[2];
    int64_t so = pool * a->conv_state_stride[0] + c0 * scs;
    /* rows 0 .. nold-1 of buf: the old slots in time order (the last ext before the new tokens
       end at row nold-1); then the S tokens. Without cache_seqlens the new state is rows S ..
       S+SL-1 of that sequence, so every old slot is loaded; with it only the ext read ones are. */
    int64_t r = 0, nold = SL;
    if (a->cache_seqlens && SL > 0) {
        r = cv_mod(a->cache_seqlens[b * a->cache_seqlens_stride], SL);
        nold = ext;
    }
    for (int64_t j = 0; j < nold; j++) {
        int64_t slot = a->cache_seqlens ? cv_mod(r - ext + j, SL) : j;
        cv_load_row(buf[j], cv_at(a->conv_state, sd, so + slot * ss), sd, scs, n);
    }
    for (int64_t t = 0; t < S; t++) cv_load_row(buf[nold + t], cv_at(a->x, a->x_dtype, xo + t * a->x_stride[2]), a->x_dtype, xcs, n);
    for (int64_t t = 0; t < S; t++) {
        const float (*win)[UP_BLOCK] = buf + nold - ext + t;   /* tap k reads row nold - ext + t + k */
        for (int64_t i = 0; i < n; i++) acc[i] = bias ? bias[i] : 0.0f;
        for (int64_t k = 0; k < W; k++)
            for (int64_t i = 0; i < n; i++) acc[i] = CV_FMA(w[k * UP_BLOCK + i], win[k][i], acc[i]);
        if (a->silu) cv_silu_row(acc, n);
        cv_store_row(cv_at_mut(a->out, a->x_dtype, o + t * a->out_stride[2]), a->x_dtype, ocs, acc, n);
    }
    if (SL == 0) return;
    if (a->cache_seqlens) {
        for (int64_t t = S > SL ? S - SL : 0; t < S; t++)   /* earlier tokens would be overwritten */
            cv_store_row(cv_at_mut(a->conv_state, sd, so + cv_mod(r + t, SL) * ss), sd, scs, buf[nold + t], n);
    } else {
        for (int64_t j = 0; j < SL; j++) cv_store_row(cv_at_mut(a->conv_state, sd, so + j * ss), sd, scs, buf[j + S], n);
    }
}

/* The per-channel loop, for f64 states and long states. */
static void update_channels(const cc_conv1d_update_args *a)
{
    int64_t B = a->B, D = a->D, S = a->S, W = a->W, ext = W - 1, SL = a->state_len;
    #pragma omp parallel for schedule(static) if (B * D * (S + SL) > CC_OMP_MIN_WORK)
    for (int64_t bc = 0; bc < B * D; bc++) {
        int64_t b = bc / D, c = bc % D;
        int64_t pool = a->conv_state_indices ? a->conv_state_indices[b * a->conv_state_indices_stride] : b;
        int64_t o = b * a->out_stride[0] + c * a->out_stride[1], xo = b * a->x_stride[0] + c * a->x_stride[1];
        int64_t os = a->out_stride[2], xs = a->x_stride[2];
        if (pool < 0) {   /* padding row */
            for (int64_t i = 0; i < S; i++) cc_store_f32(a->out, a->x_dtype, o + i * os, 0.0f);
            continue;
        }
        int64_t so = pool * a->conv_state_stride[0] + c * a->conv_state_stride[1], ss = a->conv_state_stride[2];
        int64_t r = (a->cache_seqlens && SL > 0) ? cv_mod(a->cache_seqlens[b * a->cache_seqlens_stride], SL) : 0;
        float w[CC_CONV_MAX_WIDTH], v[CC_CONV_MAX_WIDTH];   /* v: the window, v[W-1] = the current token */
        for (int64_t k = 0; k < W; k++)
            w[k] = cc_load_f32(a->weight, a->weight_dtype, c * a->weight_stride[0] + k * a->weight_stride[1]);
        float bias = a->bias ? cc_load_f32(a->bias, a->bias_dtype, c * a->bias_stride) : 0.0f;
        for (int64_t j = 0; j < ext; j++) {
            int64_t slot = a->cache_seqlens ? cv_mod(r - ext + j, SL) : SL - ext + j;
            v[j] = cc_load_f32(a->conv_state, a->state_dtype, so + slot * ss);
        }
        for (int64_t i = 0; i < S; i++) {
            v[ext] = cc_load_f32(a->x, a->x_dtype, xo + i * xs);
            float pre = bias;
            for (int64_t k = 0; k < W; k++) pre += w[k] * v[k];
            if (a->silu) pre = cv_silu(pre);
            cc_store_f32(a->out, a->x_dtype, o + i * os, pre);
            for (int64_t k = 0; k < ext; k++) v[k] = v[k + 1];
        }
        if (SL == 0) continue;
        if (a->cache_seqlens) {
            int64_t first = S > SL ? S - SL : 0;   /* earlier tokens would be overwritten */
            for (int64_t i = first; i < S; i++)
                cc_copy_element(a->conv_state, a->state_dtype, so + cv_mod(r + i, SL) * ss, a->x, a->x_dtype, xo + i * xs);
        } else {
            int64_t keep = SL > S ? SL - S : 0;
            if (keep > 0) shift_state(a->conv_state, a->state_dtype, so, ss, keep, S);
            for (int64_t j = keep; j < SL; j++)
                cc_copy_element(a->conv_state, a->state_dtype, so + j * ss, a->x, a->x_dtype, xo + (S - SL + j) * xs);
        }
    }
}

int cc_cpu_causal_conv1d_update(const cc_conv1d_update_args *a)
{
    if (a->x_dtype == CC_F64) return cc_cpu_causal_conv1d_update_ref(a);
    int64_t B = a->B, D = a->D, S = a->S, W = a->W, SL = a->state_len;
    if (a->state_dtype == CC_F64 || SL + S > UP_MAX_ROWS) {
        update_channels(a);
        return CC_OK;
    }
    int64_t nblocks = (D + UP_BLOCK - 1) / UP_BLOCK;
    /* (block, row) pairs, rows inner: a thread loads a block's taps once for its run of rows */
    #pragma omp parallel if (B * D * (S + SL) > CC_OMP_MIN_WORK)
    {
        float w[CC_CONV_MAX_WIDTH * UP_BLOCK], bias[UP_BLOCK];
        float buf[UP_MAX_ROWS][UP_BLOCK];
        int64_t loaded = -1;
        #pragma omp for schedule(static)
        for (int64_t jb = 0; jb < nblocks * B; jb++) {
            int64_t blk = jb / B, b = jb % B, c0 = blk * UP_BLOCK;
            int64_t n = D - c0 < UP_BLOCK ? D - c0 : UP_BLOCK;
            if (blk != loaded) {
                for (int64_t k = 0; k < W; k++)
                    cv_load_row(w + k * UP_BLOCK, cv_at(a->weight, a->weight_dtype, c0 * a->weight_stride[0] + k * a->weight_stride[1]),
                                a->weight_dtype, a->weight_stride[0], n);
                if (a->bias) cv_load_row(bias, cv_at(a->bias, a->bias_dtype, c0 * a->bias_stride), a->bias_dtype, a->bias_stride, n);
                loaded = blk;
            }
            int64_t pool = a->conv_state_indices ? a->conv_state_indices[b * a->conv_state_indices_stride] : b;
            update_block(a, b, pool, c0, n, w, a->bias ? bias : NULL, buf);
        }
    }
    return CC_OK;
}
