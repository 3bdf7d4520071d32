/* Fast CPU decode update of the causal depthwise conv1d.
   x and out (B, D, S); conv_state (pool, D, state_len) updated in place; weight (D, W); bias (D);
   cache_seqlens (B) and conv_state_indices (B) optional.

   Decode moves little data, so this is the reference loop made cheap: OpenMP over (row, channel),
   f32 compute with a rolling register window, state writes as plain element copies (bitwise
   equal to the reference). f64 x runs the reference kernel. */
#include "conv_common.h"

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

int cc_cpu_causal_conv1d_update(const cc_conv1d_update_args *a)
{
    if (a->x_dtype == CC_F64) return cc_cpu_causal_conv1d_update_ref(a);
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
    return CC_OK;
}
