/* Plain scalar reference kernels for every causal conv1d path: the test oracle
   (cc_set_reference_kernels(1)) and the f64 path. They follow core/causal_conv1d.c's rule block
   word for word, accumulate in f64 and favour obviousness over speed. OpenMP only splits
   independent (row, channel) or channel loops, so results do not depend on the thread count, and
   only above CC_OMP_MIN_WORK elements (small calls, e.g. gradcheck's, stay on the calling thread). */
#include "activation.h"
#include "conv_common.h"

/* xe[p] of (row, c): x for 0 <= p < len, the initial state (or 0) for -(W-1) <= p < 0. */
static double ref_xe(const cc_conv1d_args *a, const cv_row *row, int64_t c, int64_t p)
{
    if (p >= 0)
        return cc_load_f64(a->x, a->x_dtype,
                         row->b * a->x_stride[0] + c * a->x_stride[1] + (row->start + p) * a->x_stride[2]);
    if (!a->initial_states) return 0.0;
    const int64_t *is = a->initial_states_stride;
    return cc_load_f64(a->initial_states, a->state_dtype, row->s * is[0] + c * is[1] + (a->W - 1 + p) * is[2]);
}

static double ref_weight(const cc_conv1d_args *a, int64_t c, int64_t k)
{
    return cc_load_f64(a->weight, a->weight_dtype, c * a->weight_stride[0] + k * a->weight_stride[1]);
}

static double ref_bias(const cc_conv1d_args *a, int64_t c)
{
    return a->bias ? cc_load_f64(a->bias, a->bias_dtype, c * a->bias_stride) : 0.0;
}

/* Pre-activation at output position t (0 <= t < len) of a non-padding token: bias plus the taps
   whose input lies in t's segment. */
static double ref_pre(const cc_conv1d_args *a, const cv_row *row, int64_t c, int64_t t)
{
    int64_t ext = a->W - 1;
    int32_t st = cv_seg(a, row, t);
    double pre = ref_bias(a, c);
    for (int64_t k = 0; k < a->W; k++) {
        int64_t p = t - ext + k;
        if (cv_seg(a, row, p) == st) pre += ref_weight(a, c, k) * ref_xe(a, row, c, p);
    }
    return pre;
}

int cc_cpu_causal_conv1d_forward_ref(const cc_conv1d_args *a)
{
    int64_t R = cv_num_rows(a), D = a->D;
    #pragma omp parallel for schedule(dynamic) if (a->B * a->L * D > CC_OMP_MIN_WORK)
    for (int64_t rc = 0; rc < R * D; rc++) {
        int64_t r = rc / D, c = rc % D;
        cv_row row = cv_get_row(a, r);
        /* out (B, D, L), row positions start..start+len-1 */
        for (int64_t t = 0; t < row.len; t++) {
            double v = 0.0;
            if (cv_seg(a, &row, t) >= 0) {
                double pre = ref_pre(a, &row, c, t);
                v = a->silu ? cc_silu_f64(pre) : pre;
            }
            cc_store_f64(a->out, a->x_dtype,
                       row.b * a->out_stride[0] + c * a->out_stride[1] + (row.start + t) * a->out_stride[2], v);
        }
        if (a->final_states) cv_write_final_states(a, &row, c);
    }
    return CC_OK;
}

/* dfinal_states[j] flows straight back to xe[p] (p = len-(W-1)+j) when final_states took it. */
static double ref_dfinal_at(const cc_conv1d_args *a, const cv_row *row, int64_t c, int64_t p)
{
    int64_t ext = a->W - 1, j = p - (row->len - ext);
    if (!a->dfinal_states || j < 0 || j >= ext || !cv_final_keeps(a, row, p)) return 0.0;
    const int64_t *fs = a->dfinal_states_stride;
    return cc_load_f64(a->dfinal_states, a->state_dtype, row->s * fs[0] + c * fs[1] + j * fs[2]);
}

/* d loss / d xe[p] for -(W-1) <= p < len, given gz of the row. */
static double ref_dxe(const cc_conv1d_args *a, const cv_row *row, int64_t c, const double *gz, int64_t p)
{
    int64_t ext = a->W - 1;
    int32_t sp = cv_seg(a, row, p);
    double g = ref_dfinal_at(a, row, c, p);
    for (int64_t k = 0; k < a->W; k++) {
        int64_t t = p + ext - k;
        if (t >= 0 && t < row->len && cv_seg(a, row, t) == sp) g += ref_weight(a, c, k) * gz[t];
    }
    return g;
}

int cc_cpu_causal_conv1d_backward_ref(const cc_conv1d_args *a)
{
    int64_t R = cv_num_rows(a), D = a->D, W = a->W, ext = W - 1;
    int64_t maxlen = 1;
    for (int64_t r = 0; r < R; r++) {
        cv_row row = cv_get_row(a, r);
        if (row.len > maxlen) maxlen = row.len;
    }
    int failed = 0;
    #pragma omp parallel for schedule(dynamic) if (a->B * a->L * D > CC_OMP_MIN_WORK)
    for (int64_t c = 0; c < D; c++) {
        double *gz = malloc((size_t)maxlen * sizeof(double));
        if (!gz) {
            #pragma omp atomic write
            failed = 1;
            continue;
        }
        double dw[CC_CONV_MAX_WIDTH] = {0}, db = 0.0;
        for (int64_t r = 0; r < R; r++) {
            cv_row row = cv_get_row(a, r);
            /* gz[t] = dL/dpre[t]; padding tokens (segment < 0) were forced to 0, so they get none */
            for (int64_t t = 0; t < row.len; t++) {
                gz[t] = 0.0;
                if (cv_seg(a, &row, t) < 0) continue;
                double g = cc_load_f64(a->dout, a->x_dtype,
                                     row.b * a->dout_stride[0] + c * a->dout_stride[1] + (row.start + t) * a->dout_stride[2]);
                if (a->silu) {
                    g *= cc_dsilu_f64(ref_pre(a, &row, c, t));
                }
                gz[t] = g;
            }
            for (int64_t p = 0; p < row.len; p++)
                cc_store_f64(a->dx, a->x_dtype,
                           row.b * a->dx_stride[0] + c * a->dx_stride[1] + (row.start + p) * a->dx_stride[2],
                           ref_dxe(a, &row, c, gz, p));
            if (a->dinitial_states) {
                const int64_t *ds = a->dinitial_states_stride;
                for (int64_t i = 0; i < ext; i++)
                    cc_store_f64(a->dinitial_states, a->state_dtype, row.s * ds[0] + c * ds[1] + i * ds[2],
                               ref_dxe(a, &row, c, gz, i - ext));
            }
            for (int64_t t = 0; t < row.len; t++) {
                int32_t st = cv_seg(a, &row, t);
                if (st < 0) continue;   /* padding gives nothing, not 0 * x (x may be NaN there) */
                db += gz[t];
                for (int64_t k = 0; k < W; k++) {
                    int64_t p = t - ext + k;
                    if (cv_seg(a, &row, p) == st) dw[k] += gz[t] * ref_xe(a, &row, c, p);
                }
            }
        }
        for (int64_t k = 0; k < W; k++)
            cc_store_f64(a->dweight, a->weight_dtype, c * a->dweight_stride[0] + k * a->dweight_stride[1], dw[k]);
        if (a->dbias) cc_store_f64(a->dbias, a->bias_dtype, c * a->dbias_stride, db);
        free(gz);
    }
    return failed ? CC_ERR_MEMORY : CC_OK;
}

int cc_cpu_causal_conv1d_update_ref(const cc_conv1d_update_args *a)
{
    int64_t B = a->B, D = a->D, S = a->S, W = a->W, ext = W - 1, SL = a->state_len;
    #pragma omp parallel for schedule(static) if (B * D * (S + SL) > CC_OMP_MIN_WORK)
    for (int64_t bc = 0; bc < B * D; bc++) {
        int64_t b = bc / D, c = bc % D;
        int64_t pool = b;
        if (a->conv_state_indices) pool = a->conv_state_indices[b * a->conv_state_indices_stride];
        int64_t o = b * a->out_stride[0] + c * a->out_stride[1], xo = b * a->x_stride[0] + c * a->x_stride[1];
        if (pool < 0) {   /* padding row: zeros out, state untouched */
            for (int64_t i = 0; i < S; i++) cc_store_f64(a->out, a->x_dtype, o + i * a->out_stride[2], 0.0);
            continue;
        }
        int64_t so = pool * a->conv_state_stride[0] + c * a->conv_state_stride[1], ss = a->conv_state_stride[2];
        int64_t r = (a->cache_seqlens && SL > 0) ? cv_mod(a->cache_seqlens[b * a->cache_seqlens_stride], SL) : 0;
        /* the W-1 tokens before the new ones, read before any write */
        double hist[CC_CONV_MAX_WIDTH];
        for (int64_t j = 0; j < ext; j++) {
            int64_t slot = a->cache_seqlens ? cv_mod(r - ext + j, SL) : SL - ext + j;
            hist[j] = cc_load_f64(a->conv_state, a->state_dtype, so + slot * ss);
        }
        for (int64_t i = 0; i < S; i++) {
            double pre = a->bias ? cc_load_f64(a->bias, a->bias_dtype, c * a->bias_stride) : 0.0;
            for (int64_t k = 0; k < W; k++) {
                int64_t m = i + k;   /* index into concat(hist, x) */
                double v = m < ext ? hist[m] : cc_load_f64(a->x, a->x_dtype, xo + (m - ext) * a->x_stride[2]);
                pre += cc_load_f64(a->weight, a->weight_dtype, c * a->weight_stride[0] + k * a->weight_stride[1]) * v;
            }
            cc_store_f64(a->out, a->x_dtype, o + i * a->out_stride[2], a->silu ? cc_silu_f64(pre) : pre);
        }
        if (SL == 0) continue;
        if (a->cache_seqlens) {
            for (int64_t i = 0; i < S; i++)
                cc_copy_element(a->conv_state, a->state_dtype, so + cv_mod(r + i, SL) * ss,
                             a->x, a->x_dtype, xo + i * a->x_stride[2]);
        } else {
            /* new state = last SL elements of concat(state, x) */
            for (int64_t j = 0; j < SL; j++) {
                int64_t m = j + S;   /* index into concat(state, x) */
                if (m < SL)
                    cc_copy_element(a->conv_state, a->state_dtype, so + j * ss, a->conv_state, a->state_dtype, so + m * ss);
                else
                    cc_copy_element(a->conv_state, a->state_dtype, so + j * ss, a->x, a->x_dtype, xo + (m - SL) * a->x_stride[2]);
            }
        }
    }
    return CC_OK;
}

int cc_cpu_causal_conv1d_varlen_states_ref(const cc_conv1d_states_args *a)
{
    int64_t N = a->N, D = a->D, SL = a->state_len;
    #pragma omp parallel for schedule(static) if (N * SL * D > CC_OMP_MIN_WORK)
    for (int64_t nc = 0; nc < N * D; nc++) {
        int64_t n = nc / D, c = nc % D;
        int64_t end = cc_load_index(a->cu_seqlens, a->cu_seqlens_dtype, n + 1);
        int64_t len = end - cc_load_index(a->cu_seqlens, a->cu_seqlens_dtype, n);
        int64_t k = len < SL ? len : SL;   /* tokens of this sequence that fit */
        for (int64_t j = 0; j < SL; j++) {
            int64_t di = n * a->states_stride[0] + c * a->states_stride[1] + j * a->states_stride[2];
            if (j < SL - k) cc_zero_element(a->states, a->state_dtype, di);
            else cc_copy_element(a->states, a->state_dtype, di, a->x, a->x_dtype,
                              (end - SL + j) * a->x_stride[0] + c * a->x_stride[1]);
        }
    }
    return CC_OK;
}
