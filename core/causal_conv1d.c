/* Entry points of the causal depthwise conv1d ops: validate every argument, fill the argument
   block of kernels/causal_conv1d.h, dispatch to the CPU fast kernels, the CPU reference kernels
   (cc_set_reference_kernels(1)) or the CUDA kernels. Nothing is computed or written here before
   every argument has passed.

   Semantics (the rules every backend implements; B batch, D channels, L length, W width,
   ext = W-1, w[c, W-1] multiplies the current token):

   Extended input of row (b, c): xe[p] = x[b, c, p] for 0 <= p < L; for -ext <= p < 0,
   xe[p] = initial_states[b, c, ext + p], or 0 without initial_states.
   Segments: seg(p) = seq_idx[b, p] for p >= 0 and seg(p) = seq_idx[b, 0] for p < 0 (the initial
   state and the zero padding belong to the first token's segment). Without seq_idx every
   position is in segment 0.

   Forward: out[t] = 0 when seg(t) < 0 (a padding token; the bias is not added). Otherwise
     pre[t] = bias[c] + sum_k w[c, k] * xe[t - ext + k] over the taps with seg(t - ext + k) == seg(t),
     out[t] = pre[t], or silu(pre[t]) = pre[t] / (1 + exp(-pre[t])) computed in f32 (f64 for f64 x)
     and rounded to x's dtype.
   Final states: final[b, c, j] = xe[L - ext + j] (j < ext) when that position is in the segment
     of the last token and that segment id is >= 0, else 0. Without seq_idx this is Dao's rule:
     the last ext elements of concat(initial_states or zeros, x), L < ext included. A row whose
     last token is padding gets zeros. Final states are copies: bitwise when dtypes match.

   Backward (g = dout): gz[t] = 0 for padding tokens, else g[t] (or g[t] * s * (1 + pre*(1 - s)),
     s = sigmoid(pre[t]), pre recomputed). For -ext <= p < L:
     dxe[p] = sum_k w[c, k] * gz[p + ext - k] over 0 <= p + ext - k < L with seg(p + ext - k) == seg(p),
              + dfinal[b, c, j] for p = L - ext + j when final[b, c, j] took xe[p];
     dx[p] = dxe[p] for p >= 0, dinitial_states[b, c, ext + p] = dxe[p] for p < 0;
     dweight[c, k] = sum_{b, t} gz[t] * xe[t - ext + k] over the same-segment taps; dbias[c] = sum gz.
     Padding tokens therefore neither receive nor give gradient (dx = 0 there, no dweight, dbias or
     dinitial contribution). dweight / dbias accumulate in f32 (f64 for f64 x) in a fixed order
     whatever the thread count, then are written in the weight / bias dtype.

   Update (decode): row b uses state row i = conv_state_indices[b] (b without indices); i < 0 is a
     padding row: out = 0, no state touched; i >= pool size and two rows naming one state row are
     errors. With SL = state_len: the history h = the ext tokens before the new ones, read before
     any write: state[SL - ext .. SL - 1], or with cache_seqlens (a circular buffer) state[(r - ext
     + j) mod SL] with r = ((cache_seqlens[b] % SL) + SL) % SL (a true modulo: negative values count
     back from the end). out[i] = act(bias + sum_k w[k] * v[i + k]) with v = concat(h, x).
     New state: without cache_seqlens the last SL elements of concat(state, x) (S >= SL keeps x's
     tail); with it x[i] is written at slot (r + i) mod SL in order i = 0..S-1 (later tokens win).
     cache_seqlens is read, never incremented.

   Varlen: x (T, D) packs N sequences, sequence n = tokens cu_seqlens[n] .. cu_seqlens[n+1]-1.
     cu_seqlens must start at 0, be non-decreasing and end at T. Each sequence is one row of the
     dense rules (no seq_idx), with initial / final / dinitial / dfinal states indexed by n.
   varlen_states: states[n, c, j] = x[end_n - SL + j, c] for the last min(len_n, SL) slots, zeros
     before (never a neighbour's tokens); bitwise copies when dtypes match. */
#include "checks.h"
#include "causal_conv1d.h"
#include "conv_roof.h"

/* ---- checks of the arguments the conv ops share ---- */

static cc_status check_activation(const char *op, int activation)
{
    if (activation != CC_ACT_NONE && activation != CC_ACT_SILU)
        return cc_error(CC_ERR_ARGUMENT, "%s: activation: expected CC_ACT_NONE (0) or CC_ACT_SILU (1), got %d",
                        op, activation);
    return CC_OK;
}

static cc_status check_float(const char *op, const char *arg, const cc_tensor *t)
{
    return cc_check_dtype(op, arg, t, CC_FLOAT_DTYPES);
}

/* t (out, dout, dx) has x's shape and dtype. */
static cc_status check_like_x(const char *op, const char *arg, const cc_tensor *t, const cc_tensor *x)
{
    TRY(cc_check_shape(op, arg, t, x->ndim, x->shape));
    return cc_check_dtype_as(op, arg, t, x->dtype, "x");
}

/* x (B, D, L), or packed (T, D); float. */
static cc_status check_x(const char *op, const cc_tensor *x, int packed)
{
    TRY(cc_check_ndim(op, "x", x, packed ? 2 : 3));
    return check_float(op, "x", x);
}

/* weight (D, W) with 1 <= W <= CC_CONV_MAX_WIDTH, bias (D) or NULL; both float, dtypes independent of x. */
static cc_status check_weight_bias(const char *op, const cc_tensor *weight, const cc_tensor *bias, int64_t D)
{
    char d[160];
    TRY(cc_check_ndim(op, "weight", weight, 2));
    if (weight->shape[0] != D || weight->shape[1] < 1 || weight->shape[1] > CC_CONV_MAX_WIDTH)
        return cc_error(CC_ERR_SHAPE, "%s: weight: expected shape (D, W) = (%lld, *) with 1 <= W <= %d, got %s",
                        op, (long long)D, CC_CONV_MAX_WIDTH, cc_describe(d, sizeof d, weight));
    TRY(check_float(op, "weight", weight));
    if (bias) {
        int64_t want[1] = {D};
        TRY(cc_check_shape(op, "bias", bias, 1, want));
        TRY(check_float(op, "bias", bias));
    }
    return CC_OK;
}

/* An index tensor (B) i32, optional: seq_idx rows, cache_seqlens, conv_state_indices. */
static cc_status check_i32(const char *op, const char *arg, const cc_tensor *t, int ndim, const int64_t *shape)
{
    if (!t) return CC_OK;
    TRY(cc_check_shape(op, arg, t, ndim, shape));
    return cc_check_dtype(op, arg, t, 1u << CC_I32);
}

/* The state tensors of one call (R, D, W-1): all one float dtype, recorded in *state_dtype (-1 until
   the first one is seen) with the name of the first in *state_owner. */
static cc_status check_state(const char *op, const char *arg, const cc_tensor *t, int64_t R, int64_t D, int64_t ext,
                             int *state_dtype, const char **state_owner)
{
    if (!t) return CC_OK;
    int64_t want[3] = {R, D, ext};
    TRY(cc_check_shape(op, arg, t, 3, want));
    TRY(check_float(op, arg, t));
    if (*state_dtype < 0) {
        *state_dtype = t->dtype;
        *state_owner = arg;
        return CC_OK;
    }
    return cc_check_dtype_as(op, arg, t, *state_dtype, *state_owner);
}

/* dweight (D, W) in weight's dtype; dbias (D), in bias's dtype when there is a bias. */
static cc_status check_grad_outputs(const char *op, const cc_tensor *dweight, const cc_tensor *dbias,
                                    const cc_tensor *weight, const cc_tensor *bias, int64_t D, int64_t W)
{
    int64_t wshape[2] = {D, W}, bshape[1] = {D};
    TRY(cc_check_shape(op, "dweight", dweight, 2, wshape));
    TRY(cc_check_dtype_as(op, "dweight", dweight, weight->dtype, "weight"));
    if (dbias) {
        TRY(cc_check_shape(op, "dbias", dbias, 1, bshape));
        TRY(check_float(op, "dbias", dbias));
        if (bias) TRY(cc_check_dtype_as(op, "dbias", dbias, bias->dtype, "bias"));
    }
    return CC_OK;
}

/* ---- reading small index tensors (cc_host_view: a host copy first for cuda ones) ---- */

static int64_t index_at(const cc_tensor *h, int64_t i) { return cc_load_index(cc_tensor_data(h), h->dtype, i * h->stride[0]); }

/* cu_seqlens (N+1) i32 or i64, contiguous, 0 = cu[0] <= cu[1] <= ... <= cu[N] = T. */
static cc_status check_cu_seqlens(const char *op, const cc_tensor *cu, int64_t T, int64_t *N)
{
    char d[160];
    TRY(cc_check_ndim(op, "cu_seqlens", cu, 1));
    TRY(cc_check_dtype(op, "cu_seqlens", cu, CC_INDEX_DTYPES));
    if (cu->shape[0] < 1)
        return cc_error(CC_ERR_SHAPE, "%s: cu_seqlens: expected shape (N+1) with N >= 0, got %s",
                        op, cc_describe(d, sizeof d, cu));
    if (cu->shape[0] > 1 && cu->stride[0] != 1)
        return cc_error(CC_ERR_ARGUMENT, "%s: cu_seqlens: expected a contiguous tensor (stride 1), got stride %lld",
                        op, (long long)cu->stride[0]);
    *N = cu->shape[0] - 1;
    if (cc_index_checked(cu, CC_INDEX_CU_SEQLENS, T, 0)) return CC_OK;
    cc_tensor *h = NULL;
    TRY(cc_host_view(op, "cu_seqlens", cu, &h));
    cc_status st = CC_OK;
    int64_t prev = index_at(h, 0);
    if (prev != 0)
        st = cc_error(CC_ERR_ARGUMENT, "%s: cu_seqlens: expected cu_seqlens[0] = 0, got %lld", op, (long long)prev);
    for (int64_t i = 1; st == CC_OK && i <= *N; i++) {
        int64_t v = index_at(h, i);
        if (v < prev)
            st = cc_error(CC_ERR_ARGUMENT,
                          "%s: cu_seqlens: expected non-decreasing values, got %lld then %lld at 0-based positions %lld, %lld",
                          op, (long long)prev, (long long)v, (long long)(i - 1), (long long)i);
        prev = v;
    }
    if (st == CC_OK && prev != T)
        st = cc_error(CC_ERR_ARGUMENT,
                      "%s: cu_seqlens: expected the last value to equal the token count T = %lld (x's first dim), got %lld",
                      op, (long long)T, (long long)prev);
    cc_tensor_free(h);
    if (st == CC_OK) cc_index_mark_checked(cu, CC_INDEX_CU_SEQLENS, T, 0);
    return st;
}

/* ---- the argument block: dense x (B, D, L), or packed x (T, D) as the single row (1, D, T) ---- */

/* The tensors of one forward or backward call (NULL where absent). */
typedef struct conv_call {
    const cc_tensor *x, *weight, *bias, *seq_idx, *cu_seqlens, *initial_states;
    cc_tensor *out, *final_states;                                  /* forward */
    const cc_tensor *dout, *dfinal_states;                          /* backward */
    cc_tensor *dx, *dweight, *dbias, *dinitial_states;
} conv_call;

static void strides3(int64_t dst[3], const cc_tensor *t)
{
    if (!t) return;
    for (int i = 0; i < 3; i++) dst[i] = t->stride[i];
}

/* (B, D, L) strides of x and the tensors shaped like it; packed (T, D) is batch row 0 of (1, D, T). */
static void bdl_strides(int64_t dst[3], const cc_tensor *t, int packed)
{
    if (!t) return;
    if (!packed) {
        strides3(dst, t);
        return;
    }
    dst[0] = 0;
    dst[1] = t->stride[1];
    dst[2] = t->stride[0];
}

static const void *data_or_null(const cc_tensor *t) { return t ? cc_tensor_data(t) : NULL; }

static void fill_args(cc_conv1d_args *a, const conv_call *c, int64_t N, int state_dtype, int activation)
{
    int packed = c->cu_seqlens != NULL;
    const cc_tensor *x = c->x;
    *a = (cc_conv1d_args){0};
    a->B = packed ? 1 : x->shape[0];
    a->D = x->shape[1];
    a->L = packed ? x->shape[0] : x->shape[2];
    a->W = c->weight->shape[1];
    a->N = N;
    a->x_dtype = x->dtype;
    a->weight_dtype = c->weight->dtype;
    /* dbias (backward, may be given without bias) fixes the bias dtype when there is no bias */
    a->bias_dtype = c->bias ? c->bias->dtype : c->dbias ? c->dbias->dtype : c->weight->dtype;
    a->state_dtype = state_dtype >= 0 ? state_dtype : x->dtype;
    a->silu = activation == CC_ACT_SILU;
    a->x = cc_tensor_data(x); bdl_strides(a->x_stride, x, packed);
    a->weight = cc_tensor_data(c->weight);
    a->weight_stride[0] = c->weight->stride[0];
    a->weight_stride[1] = c->weight->stride[1];
    a->bias = data_or_null(c->bias); a->bias_stride = c->bias ? c->bias->stride[0] : 0;
    a->seq_idx = data_or_null(c->seq_idx);
    if (c->seq_idx) { a->seq_idx_stride[0] = c->seq_idx->stride[0]; a->seq_idx_stride[1] = c->seq_idx->stride[1]; }
    a->initial_states = data_or_null(c->initial_states); strides3(a->initial_states_stride, c->initial_states);
    a->out = c->out ? cc_tensor_data(c->out) : NULL; bdl_strides(a->out_stride, c->out, packed);
    a->final_states = c->final_states ? cc_tensor_data(c->final_states) : NULL;
    strides3(a->final_states_stride, c->final_states);
    a->dout = data_or_null(c->dout); bdl_strides(a->dout_stride, c->dout, packed);
    a->dfinal_states = data_or_null(c->dfinal_states); strides3(a->dfinal_states_stride, c->dfinal_states);
    a->dx = c->dx ? cc_tensor_data(c->dx) : NULL; bdl_strides(a->dx_stride, c->dx, packed);
    a->dweight = c->dweight ? cc_tensor_data(c->dweight) : NULL;
    if (c->dweight) { a->dweight_stride[0] = c->dweight->stride[0]; a->dweight_stride[1] = c->dweight->stride[1]; }
    a->dbias = c->dbias ? cc_tensor_data(c->dbias) : NULL; a->dbias_stride = c->dbias ? c->dbias->stride[0] : 0;
    a->dinitial_states = c->dinitial_states ? cc_tensor_data(c->dinitial_states) : NULL;
    strides3(a->dinitial_states_stride, c->dinitial_states);
    a->cu_seqlens = data_or_null(c->cu_seqlens);
    a->cu_seqlens_dtype = c->cu_seqlens ? c->cu_seqlens->dtype : CC_I32;
}

/* Runs the forward or backward on the call's device: CUDA, the CPU reference kernels (tests) or
   the fast CPU kernels. With D = 0 every output is empty and nothing runs; without a single token
   (L = 0: only states to copy, x has no memory) the CPU takes the reference kernels. */
static cc_status run(const char *op, const cc_conv1d_args *a, int device, int backward)
{
    if (a->D == 0) return CC_OK;
    int st;
    if (device == CC_CUDA) {
#ifdef CC_WITH_CUDA
        st = backward ? cc_cuda_causal_conv1d_backward(a) : cc_cuda_causal_conv1d_forward(a);
#else
        return cc_no_cuda(op);
#endif
    } else if (cc_get_reference_kernels() || a->L == 0) {
        st = backward ? cc_cpu_causal_conv1d_backward_ref(a) : cc_cpu_causal_conv1d_forward_ref(a);
    } else {
        st = backward ? cc_cpu_causal_conv1d_backward(a) : cc_cpu_causal_conv1d_forward(a);
    }
    return cc_kernel_status(op, device, st);
}

/* x's geometry and, for packed x, the sequence count: rows R = B (dense) or N (packed). */
static cc_status check_rows(const char *op, const conv_call *c, int64_t *R, int64_t *N)
{
    const cc_tensor *x = c->x;
    if (c->cu_seqlens) {
        TRY(check_cu_seqlens(op, c->cu_seqlens, x->shape[0], N));
        *R = *N;
        return CC_OK;
    }
    int64_t sshape[2] = {x->shape[0], x->shape[2]};
    TRY(check_i32(op, "seq_idx", c->seq_idx, 2, sshape));
    *R = x->shape[0];
    *N = 0;
    return CC_OK;
}

/* ---- forward ---- */

static cc_status forward(const char *op, const conv_call *c, int activation)
{
    int packed = c->cu_seqlens != NULL;
    TRY(check_activation(op, activation));
    TRY(check_x(op, c->x, packed));
    int64_t D = c->x->shape[1];
    TRY(check_weight_bias(op, c->weight, c->bias, D));
    int64_t ext = c->weight->shape[1] - 1, R, N;
    TRY(check_like_x(op, "out", c->out, c->x));
    TRY(check_rows(op, c, &R, &N));
    int state_dtype = -1;
    const char *state_owner = NULL;
    TRY(check_state(op, "initial_states", c->initial_states, R, D, ext, &state_dtype, &state_owner));
    TRY(check_state(op, "final_states", c->final_states, R, D, ext, &state_dtype, &state_owner));
    const cc_tensor *ins[5] = {c->x, c->weight, c->bias, packed ? c->cu_seqlens : c->seq_idx, c->initial_states};
    const char *in_names[5] = {"x", "weight", "bias", packed ? "cu_seqlens" : "seq_idx", "initial_states"};
    const cc_tensor *outs[2] = {c->out, c->final_states};
    const char *out_names[2] = {"out", "final_states"};
    TRY(cc_check_io(op, 5, ins, in_names, 2, outs, out_names));

    cc_conv1d_args a;
    fill_args(&a, c, N, state_dtype, activation);
    TRY(run(op, &a, c->x->device, 0));
    cc_tensor_bump_version(c->out);
    cc_tensor_bump_version(c->final_states);
    return CC_OK;
}

cc_status cc_causal_conv1d_forward(cc_tensor *out, cc_tensor *final_states,
                                   const cc_tensor *x, const cc_tensor *weight, const cc_tensor *bias,
                                   const cc_tensor *seq_idx, const cc_tensor *initial_states,
                                   int activation)
{
    conv_call c = {.x = x, .weight = weight, .bias = bias, .seq_idx = seq_idx, .initial_states = initial_states,
                   .out = out, .final_states = final_states};
    return forward("causal_conv1d_forward", &c, activation);
}

cc_status cc_causal_conv1d_varlen_forward(cc_tensor *out, cc_tensor *final_states,
                                          const cc_tensor *x, const cc_tensor *weight, const cc_tensor *bias,
                                          const cc_tensor *cu_seqlens, const cc_tensor *initial_states,
                                          int activation)
{
    const char *op = "causal_conv1d_varlen_forward";
    TRY(cc_check_present(op, "cu_seqlens", cu_seqlens));
    conv_call c = {.x = x, .weight = weight, .bias = bias, .cu_seqlens = cu_seqlens, .initial_states = initial_states,
                   .out = out, .final_states = final_states};
    return forward(op, &c, activation);
}

/* ---- backward ---- */

static cc_status backward(const char *op, const conv_call *c, int activation)
{
    int packed = c->cu_seqlens != NULL;
    TRY(check_activation(op, activation));
    TRY(check_x(op, c->x, packed));
    int64_t D = c->x->shape[1];
    TRY(check_weight_bias(op, c->weight, c->bias, D));
    int64_t W = c->weight->shape[1], ext = W - 1, R, N;
    TRY(check_like_x(op, "dout", c->dout, c->x));
    TRY(check_like_x(op, "dx", c->dx, c->x));
    TRY(check_grad_outputs(op, c->dweight, c->dbias, c->weight, c->bias, D, W));
    TRY(check_rows(op, c, &R, &N));
    int state_dtype = -1;
    const char *state_owner = NULL;
    TRY(check_state(op, "initial_states", c->initial_states, R, D, ext, &state_dtype, &state_owner));
    TRY(check_state(op, "dfinal_states", c->dfinal_states, R, D, ext, &state_dtype, &state_owner));
    TRY(check_state(op, "dinitial_states", c->dinitial_states, R, D, ext, &state_dtype, &state_owner));
    const cc_tensor *ins[7] = {c->x, c->weight, c->bias, c->dout, packed ? c->cu_seqlens : c->seq_idx,
                               c->initial_states, c->dfinal_states};
    const char *in_names[7] = {"x", "weight", "bias", "dout", packed ? "cu_seqlens" : "seq_idx", "initial_states",
                               "dfinal_states"};
    const cc_tensor *outs[4] = {c->dx, c->dweight, c->dbias, c->dinitial_states};
    const char *out_names[4] = {"dx", "dweight", "dbias", "dinitial_states"};
    TRY(cc_check_io(op, 7, ins, in_names, 4, outs, out_names));

    cc_conv1d_args a;
    fill_args(&a, c, N, state_dtype, activation);
    TRY(run(op, &a, c->x->device, 1));
    cc_tensor_bump_version(c->dx);
    cc_tensor_bump_version(c->dweight);
    cc_tensor_bump_version(c->dbias);
    cc_tensor_bump_version(c->dinitial_states);
    return CC_OK;
}

cc_status cc_causal_conv1d_backward(cc_tensor *dx, cc_tensor *dweight, cc_tensor *dbias, cc_tensor *dinitial_states,
                                    const cc_tensor *x, const cc_tensor *weight, const cc_tensor *bias,
                                    const cc_tensor *dout, const cc_tensor *seq_idx,
                                    const cc_tensor *initial_states, const cc_tensor *dfinal_states,
                                    int activation)
{
    conv_call c = {.x = x, .weight = weight, .bias = bias, .seq_idx = seq_idx, .initial_states = initial_states,
                   .dout = dout, .dfinal_states = dfinal_states, .dx = dx, .dweight = dweight, .dbias = dbias,
                   .dinitial_states = dinitial_states};
    return backward("causal_conv1d_backward", &c, activation);
}

cc_status cc_causal_conv1d_varlen_backward(cc_tensor *dx, cc_tensor *dweight, cc_tensor *dbias, cc_tensor *dinitial_states,
                                           const cc_tensor *x, const cc_tensor *weight, const cc_tensor *bias,
                                           const cc_tensor *dout, const cc_tensor *cu_seqlens,
                                           const cc_tensor *initial_states, const cc_tensor *dfinal_states,
                                           int activation)
{
    const char *op = "causal_conv1d_varlen_backward";
    TRY(cc_check_present(op, "cu_seqlens", cu_seqlens));
    conv_call c = {.x = x, .weight = weight, .bias = bias, .cu_seqlens = cu_seqlens, .initial_states = initial_states,
                   .dout = dout, .dfinal_states = dfinal_states, .dx = dx, .dweight = dweight, .dbias = dbias,
                   .dinitial_states = dinitial_states};
    return backward(op, &c, activation);
}

/* ---- update ---- */

cc_status cc_causal_conv1d_update(cc_tensor *out, cc_tensor *conv_state,
                                  const cc_tensor *x, const cc_tensor *weight, const cc_tensor *bias,
                                  const cc_tensor *cache_seqlens, const cc_tensor *conv_state_indices,
                                  int activation)
{
    const char *op = "causal_conv1d_update";
    char d[160];
    TRY(check_activation(op, activation));
    TRY(check_x(op, x, 0));
    int64_t B = x->shape[0], D = x->shape[1], S = x->shape[2];
    TRY(check_weight_bias(op, weight, bias, D));
    int64_t W = weight->shape[1];
    int64_t bshape[1] = {B};
    TRY(check_like_x(op, "out", out, x));
    TRY(cc_check_ndim(op, "conv_state", conv_state, 3));
    TRY(check_float(op, "conv_state", conv_state));
    int64_t pool = conv_state->shape[0], SL = conv_state->shape[2];
    if (conv_state->shape[1] != D || SL < W - 1 || (!conv_state_indices && pool != B))
        return cc_error(CC_ERR_SHAPE, "%s: conv_state: expected shape (%s, D, state_len) = (%lld, %lld, >= W-1 = %lld)%s, got %s",
                        op, conv_state_indices ? "pool" : "B", conv_state_indices ? (long long)pool : (long long)B,
                        (long long)D, (long long)(W - 1),
                        conv_state_indices ? "" : " (its first dim must be B unless conv_state_indices is given)",
                        cc_describe(d, sizeof d, conv_state));
    TRY(check_i32(op, "cache_seqlens", cache_seqlens, 1, bshape));
    TRY(check_i32(op, "conv_state_indices", conv_state_indices, 1, bshape));
    const cc_tensor *ins[5] = {x, weight, bias, cache_seqlens, conv_state_indices};
    const char *in_names[5] = {"x", "weight", "bias", "cache_seqlens", "conv_state_indices"};
    const cc_tensor *outs[2] = {out, conv_state};
    const char *out_names[2] = {"out", "conv_state"};
    TRY(cc_check_io(op, 5, ins, in_names, 2, outs, out_names));
    if (conv_state_indices && B > 0)
        TRY(cc_check_state_rows(op, "conv_state_indices", conv_state_indices, B, pool, "conv_state"));

    cc_conv1d_update_args a = {0};
    a.B = B; a.D = D; a.S = S; a.W = W; a.state_len = SL;
    a.x_dtype = x->dtype;
    a.weight_dtype = weight->dtype;
    a.bias_dtype = bias ? bias->dtype : weight->dtype;
    a.state_dtype = conv_state->dtype;
    a.silu = activation == CC_ACT_SILU;
    a.x = cc_tensor_data(x); strides3(a.x_stride, x);
    a.weight = cc_tensor_data(weight); a.weight_stride[0] = weight->stride[0]; a.weight_stride[1] = weight->stride[1];
    a.bias = data_or_null(bias); a.bias_stride = bias ? bias->stride[0] : 0;
    a.out = cc_tensor_data(out); strides3(a.out_stride, out);
    a.conv_state = cc_tensor_data(conv_state); strides3(a.conv_state_stride, conv_state);
    a.cache_seqlens = data_or_null(cache_seqlens); a.cache_seqlens_stride = cache_seqlens ? cache_seqlens->stride[0] : 0;
    a.conv_state_indices = data_or_null(conv_state_indices);
    a.conv_state_indices_stride = conv_state_indices ? conv_state_indices->stride[0] : 0;

    if (B * D > 0) {
        int st;
        if (x->device == CC_CUDA) {
#ifdef CC_WITH_CUDA
            st = cc_cuda_causal_conv1d_update(&a);
#else
            return cc_no_cuda(op);
#endif
        } else {
            st = cc_get_reference_kernels() ? cc_cpu_causal_conv1d_update_ref(&a) : cc_cpu_causal_conv1d_update(&a);
        }
        TRY(cc_kernel_status(op, x->device, st));
    }
    cc_tensor_bump_version(out);
    cc_tensor_bump_version(conv_state);
    return CC_OK;
}

/* ---- varlen_states ---- */

cc_status cc_causal_conv1d_varlen_states(cc_tensor *states, const cc_tensor *x, const cc_tensor *cu_seqlens)
{
    const char *op = "causal_conv1d_varlen_states";
    char d[160];
    TRY(check_x(op, x, 1));
    int64_t T = x->shape[0], D = x->shape[1];
    int64_t N = 0;
    TRY(cc_check_present(op, "cu_seqlens", cu_seqlens));
    TRY(check_cu_seqlens(op, cu_seqlens, T, &N));
    TRY(cc_check_ndim(op, "states", states, 3));
    TRY(check_float(op, "states", states));
    if (states->shape[0] != N || states->shape[1] != D)
        return cc_error(CC_ERR_SHAPE, "%s: states: expected shape (N, D, state_len) = (%lld, %lld, *), got %s",
                        op, (long long)N, (long long)D, cc_describe(d, sizeof d, states));
    const cc_tensor *ins[2] = {x, cu_seqlens};
    const char *in_names[2] = {"x", "cu_seqlens"};
    const cc_tensor *outs[1] = {states};
    const char *out_names[1] = {"states"};
    TRY(cc_check_io(op, 2, ins, in_names, 1, outs, out_names));

    cc_conv1d_states_args a = {0};
    a.T = T; a.D = D; a.N = N; a.state_len = states->shape[2];
    a.x_dtype = x->dtype;
    a.state_dtype = states->dtype;
    a.x = cc_tensor_data(x); a.x_stride[0] = x->stride[0]; a.x_stride[1] = x->stride[1];
    a.cu_seqlens = cc_tensor_data(cu_seqlens); a.cu_seqlens_dtype = cu_seqlens->dtype;
    a.states = cc_tensor_data(states); strides3(a.states_stride, states);

    if (N * D * a.state_len > 0) {
        int st;
        if (x->device == CC_CUDA) {
#ifdef CC_WITH_CUDA
            st = cc_cuda_causal_conv1d_varlen_states(&a);
#else
            return cc_no_cuda(op);
#endif
        } else {
            st = cc_get_reference_kernels() ? cc_cpu_causal_conv1d_varlen_states_ref(&a)
                                            : cc_cpu_causal_conv1d_varlen_states(&a);
        }
        TRY(cc_kernel_status(op, x->device, st));
    }
    cc_tensor_bump_version(states);
    return CC_OK;
}

/* ---- the compute roof the conv benchmarks stand next to ---- */

cc_status cc_causal_conv1d_roof(int64_t elements, int64_t width, int activation, int backward, double *checksum)
{
    const char *op = "causal_conv1d_roof";
    if (elements < 0)
        return cc_error(CC_ERR_ARGUMENT, "%s: elements: expected a count >= 0, got %lld", op, (long long)elements);
    if (width < 1 || width > CC_CONV_MAX_WIDTH)
        return cc_error(CC_ERR_ARGUMENT, "%s: width: expected 1 .. %d, got %lld", op, CC_CONV_MAX_WIDTH,
                        (long long)width);
    if (backward && width != 4)
        return cc_error(CC_ERR_ARGUMENT, "%s: width: the backward roof has width 4 only, got %lld", op,
                        (long long)width);
    if (activation != CC_ACT_NONE && activation != CC_ACT_SILU)
        return cc_error(CC_ERR_ARGUMENT, "%s: activation: expected none (0) or silu (1), got %d", op, activation);
    if (!checksum) return cc_error(CC_ERR_ARGUMENT, "%s: checksum: expected a pointer, got NULL", op);
    return cc_kernel_status(op, CC_CPU, cc_cpu_conv_roof(elements, width, activation == CC_ACT_SILU, backward != 0,
                                                         checksum));
}
