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
#include <stdlib.h>
#include "internal.h"
#include "causal_conv1d.h"

#define TRY(expr) do { cc_status st_ = (expr); if (st_ != CC_OK) return st_; } while (0)

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

static cc_status check_same_dtype(const char *op, const char *arg, const cc_tensor *t, int dtype, const char *owner)
{
    if (t && t->dtype != dtype) {
        char d[160];
        return cc_error(CC_ERR_DTYPE, "%s: %s: expected dtype %s (the dtype of %s), got %s",
                        op, arg, cc_dtype_name(dtype), owner, cc_describe(d, sizeof d, t));
    }
    return CC_OK;
}

/* t (out, dout, dx) has x's shape and dtype. */
static cc_status check_like_x(const char *op, const char *arg, const cc_tensor *t, const cc_tensor *x)
{
    TRY(cc_check_shape(op, arg, t, x->ndim, x->shape));
    return check_same_dtype(op, arg, t, x->dtype, "x");
}

/* weight (D, W) with 1 <= W <= 16, bias (D) or NULL; both float, dtypes independent of x. */
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

/* Optional state tensor of shape (R, D, ext); all state tensors of one call share one dtype,
   recorded in *state_dtype (-1 until the first one is seen). */
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
    return check_same_dtype(op, arg, t, *state_dtype, *state_owner);
}

/* Outputs must be writable element by element: no zero (expanded) or negative strides. */
static cc_status check_writable(const char *op, const char *arg, const cc_tensor *t)
{
    for (int i = 0; i < t->ndim; i++) {
        if (t->shape[i] > 1 && t->stride[i] <= 0) {
            char d[160];
            return cc_error(CC_ERR_ARGUMENT,
                            "%s: %s: expected an output with positive strides, got stride %lld in dim %d of %s "
                            "(an expanded or reversed view cannot be written)",
                            op, arg, (long long)t->stride[i], i, cc_describe(d, sizeof d, t));
        }
    }
    return CC_OK;
}

/* One device for everything; outputs writable, disjoint from every input and from each other. */
static cc_status check_io(const char *op, int nout, const cc_tensor *const *outs, const char *const *out_names,
                          int nin, const cc_tensor *const *ins, const char *const *in_names)
{
    const cc_tensor *all[16];
    const char *names[16];
    int n = 0;
    for (int i = 0; i < nout; i++) { all[n] = outs[i]; names[n++] = out_names[i]; }
    for (int i = 0; i < nin; i++) { all[n] = ins[i]; names[n++] = in_names[i]; }
    TRY(cc_check_same_device(op, n, all, names));
    for (int i = 0; i < nout; i++) {
        if (!outs[i]) continue;
        TRY(check_writable(op, out_names[i], outs[i]));
        for (int j = 0; j < nin; j++) TRY(cc_check_no_overlap(op, out_names[i], outs[i], in_names[j], ins[j]));
        for (int j = i + 1; j < nout; j++) TRY(cc_check_no_overlap(op, out_names[i], outs[i], out_names[j], outs[j]));
    }
    return CC_OK;
}

/* The device of the call: the first tensor's (all were checked to agree). */
static int call_device(const cc_tensor *t) { return t->device; }

#ifndef CC_WITH_CUDA
static cc_status cuda_unavailable(const char *op)
{
    return cc_error(CC_ERR_UNSUPPORTED, "%s: the tensors are on cuda but this build has no CUDA support", op);
}
#endif

/* A CPU kernel only fails for want of scratch memory. */
static cc_status cpu_status(const char *op, int st)
{
    if (st == CC_OK) return CC_OK;
    return cc_error((cc_status)st, "%s: out of memory for kernel scratch buffers", op);
}

static void bump(cc_tensor *t)
{
    if (t) cc_tensor_bump_version(t);
}

static void strides3(int64_t dst[3], const cc_tensor *t)
{
    if (!t) return;
    for (int i = 0; i < 3; i++) dst[i] = t->stride[i];
}

static const void *data_or_null(const cc_tensor *t) { return t ? cc_tensor_data(t) : NULL; }

/* dbias (backward, may be given without bias) fixes the bias dtype when there is no bias. */
static void set_weight_bias(cc_conv1d_args *a, const cc_tensor *weight, const cc_tensor *bias, const cc_tensor *dbias)
{
    a->weight_dtype = weight->dtype;
    a->bias_dtype = bias ? bias->dtype : dbias ? dbias->dtype : weight->dtype;
    a->weight = cc_tensor_data(weight);
    a->weight_stride[0] = weight->stride[0];
    a->weight_stride[1] = weight->stride[1];
    a->bias = data_or_null(bias);
    a->bias_stride = bias ? bias->stride[0] : 0;
}

/* Backend choice of the dense and varlen forward: CUDA, CPU reference (tests) or CPU fast. */
static cc_status run_forward(const char *op, const cc_conv1d_args *a, int device)
{
    if (device == CC_CUDA) {
#ifdef CC_WITH_CUDA
        return (cc_status)cc_cuda_causal_conv1d_forward(a);
#else
        return cuda_unavailable(op);
#endif
    }
    int st = cc_get_reference_kernels() ? cc_cpu_causal_conv1d_forward_ref(a) : cc_cpu_causal_conv1d_forward(a);
    return cpu_status(op, st);
}

/* ---- reading small index tensors (host copy first for cuda ones) ---- */

static cc_status host_copy(const char *op, const char *arg, const cc_tensor *t, cc_tensor **h)
{
    cc_status st = t->device == CC_CPU ? cc_tensor_alias(h, t) : cc_tensor_to(h, t, t->dtype, CC_CPU, 0);
    if (st != CC_OK) return cc_error(st, "%s: %s: cannot read the values: %s", op, arg, cc_last_error());
    return CC_OK;
}

static int64_t index_at(const cc_tensor *h, int64_t i)
{
    const char *base = cc_tensor_data(h);
    if (h->dtype == CC_I64) return ((const int64_t *)base)[i * h->stride[0]];
    return ((const int32_t *)base)[i * h->stride[0]];
}

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
    cc_tensor *h = NULL;
    TRY(host_copy(op, "cu_seqlens", cu, &h));
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
    return st;
}

/* ---- forward ---- */

cc_status cc_causal_conv1d_forward(cc_tensor *out, cc_tensor *final_states,
                                   const cc_tensor *x, const cc_tensor *weight, const cc_tensor *bias,
                                   const cc_tensor *seq_idx, const cc_tensor *initial_states,
                                   int activation)
{
    const char *op = "causal_conv1d_forward";
    TRY(check_activation(op, activation));
    TRY(cc_check_ndim(op, "x", x, 3));
    TRY(check_float(op, "x", x));
    int64_t B = x->shape[0], D = x->shape[1], L = x->shape[2];
    TRY(check_weight_bias(op, weight, bias, D));
    int64_t W = weight->shape[1], ext = W - 1;
    int64_t sshape[2] = {B, L};
    TRY(check_like_x(op, "out", out, x));
    if (seq_idx) {
        TRY(cc_check_shape(op, "seq_idx", seq_idx, 2, sshape));
        TRY(cc_check_dtype(op, "seq_idx", seq_idx, 1u << CC_I32));
    }
    int state_dtype = -1;
    const char *state_owner = NULL;
    TRY(check_state(op, "initial_states", initial_states, B, D, ext, &state_dtype, &state_owner));
    TRY(check_state(op, "final_states", final_states, B, D, ext, &state_dtype, &state_owner));
    const cc_tensor *outs[2] = {out, final_states};
    const char *out_names[2] = {"out", "final_states"};
    const cc_tensor *ins[5] = {x, weight, bias, seq_idx, initial_states};
    const char *in_names[5] = {"x", "weight", "bias", "seq_idx", "initial_states"};
    TRY(check_io(op, 2, outs, out_names, 5, ins, in_names));

    cc_conv1d_args a = {0};
    a.B = B; a.D = D; a.L = L; a.W = W;
    a.x_dtype = x->dtype;
    a.state_dtype = state_dtype >= 0 ? state_dtype : x->dtype;
    a.silu = activation == CC_ACT_SILU;
    a.x = cc_tensor_data(x); strides3(a.x_stride, x);
    set_weight_bias(&a, weight, bias, NULL);
    a.seq_idx = data_or_null(seq_idx);
    if (seq_idx) { a.seq_idx_stride[0] = seq_idx->stride[0]; a.seq_idx_stride[1] = seq_idx->stride[1]; }
    a.initial_states = data_or_null(initial_states); strides3(a.initial_states_stride, initial_states);
    a.out = cc_tensor_data(out); strides3(a.out_stride, out);
    a.final_states = final_states ? cc_tensor_data(final_states) : NULL; strides3(a.final_states_stride, final_states);

    TRY(run_forward(op, &a, call_device(x)));
    bump(out);
    bump(final_states);
    return CC_OK;
}

/* ---- backward ---- */

/* Checks shared by the dense and the varlen backward: the gradient outputs and their dtypes. */
static cc_status check_grad_outputs(const char *op, const cc_tensor *dweight, const cc_tensor *dbias,
                                    const cc_tensor *weight, const cc_tensor *bias, int64_t D, int64_t W)
{
    int64_t wshape[2] = {D, W}, bshape[1] = {D};
    TRY(cc_check_shape(op, "dweight", dweight, 2, wshape));
    TRY(check_same_dtype(op, "dweight", dweight, weight->dtype, "weight"));
    if (dbias) {
        TRY(cc_check_shape(op, "dbias", dbias, 1, bshape));
        TRY(check_float(op, "dbias", dbias));
        if (bias) TRY(check_same_dtype(op, "dbias", dbias, bias->dtype, "bias"));
    }
    return CC_OK;
}

static cc_status run_backward(const char *op, cc_conv1d_args *a, int device)
{
    if (device == CC_CUDA) {
#ifdef CC_WITH_CUDA
        return (cc_status)cc_cuda_causal_conv1d_backward(a);
#else
        return cuda_unavailable(op);
#endif
    }
    int st = cc_get_reference_kernels() ? cc_cpu_causal_conv1d_backward_ref(a) : cc_cpu_causal_conv1d_backward(a);
    return cpu_status(op, st);
}

cc_status cc_causal_conv1d_backward(cc_tensor *dx, cc_tensor *dweight, cc_tensor *dbias, cc_tensor *dinitial_states,
                                    const cc_tensor *x, const cc_tensor *weight, const cc_tensor *bias,
                                    const cc_tensor *dout, const cc_tensor *seq_idx,
                                    const cc_tensor *initial_states, const cc_tensor *dfinal_states,
                                    int activation)
{
    const char *op = "causal_conv1d_backward";
    TRY(check_activation(op, activation));
    TRY(cc_check_ndim(op, "x", x, 3));
    TRY(check_float(op, "x", x));
    int64_t B = x->shape[0], D = x->shape[1], L = x->shape[2];
    TRY(check_weight_bias(op, weight, bias, D));
    int64_t W = weight->shape[1], ext = W - 1;
    int64_t sshape[2] = {B, L};
    TRY(check_like_x(op, "dout", dout, x));
    TRY(check_like_x(op, "dx", dx, x));
    TRY(check_grad_outputs(op, dweight, dbias, weight, bias, D, W));
    if (seq_idx) {
        TRY(cc_check_shape(op, "seq_idx", seq_idx, 2, sshape));
        TRY(cc_check_dtype(op, "seq_idx", seq_idx, 1u << CC_I32));
    }
    int state_dtype = -1;
    const char *state_owner = NULL;
    TRY(check_state(op, "initial_states", initial_states, B, D, ext, &state_dtype, &state_owner));
    TRY(check_state(op, "dfinal_states", dfinal_states, B, D, ext, &state_dtype, &state_owner));
    TRY(check_state(op, "dinitial_states", dinitial_states, B, D, ext, &state_dtype, &state_owner));
    const cc_tensor *outs[4] = {dx, dweight, dbias, dinitial_states};
    const char *out_names[4] = {"dx", "dweight", "dbias", "dinitial_states"};
    const cc_tensor *ins[7] = {x, weight, bias, dout, seq_idx, initial_states, dfinal_states};
    const char *in_names[7] = {"x", "weight", "bias", "dout", "seq_idx", "initial_states", "dfinal_states"};
    TRY(check_io(op, 4, outs, out_names, 7, ins, in_names));

    cc_conv1d_args a = {0};
    a.B = B; a.D = D; a.L = L; a.W = W;
    a.x_dtype = x->dtype;
    a.state_dtype = state_dtype >= 0 ? state_dtype : x->dtype;
    a.silu = activation == CC_ACT_SILU;
    a.x = cc_tensor_data(x); strides3(a.x_stride, x);
    set_weight_bias(&a, weight, bias, dbias);
    a.seq_idx = data_or_null(seq_idx);
    if (seq_idx) { a.seq_idx_stride[0] = seq_idx->stride[0]; a.seq_idx_stride[1] = seq_idx->stride[1]; }
    a.initial_states = data_or_null(initial_states); strides3(a.initial_states_stride, initial_states);
    a.dout = cc_tensor_data(dout); strides3(a.dout_stride, dout);
    a.dfinal_states = data_or_null(dfinal_states); strides3(a.dfinal_states_stride, dfinal_states);
    a.dx = cc_tensor_data(dx); strides3(a.dx_stride, dx);
    a.dweight = cc_tensor_data(dweight); a.dweight_stride[0] = dweight->stride[0]; a.dweight_stride[1] = dweight->stride[1];
    a.dbias = dbias ? cc_tensor_data(dbias) : NULL; a.dbias_stride = dbias ? dbias->stride[0] : 0;
    a.dinitial_states = dinitial_states ? cc_tensor_data(dinitial_states) : NULL;
    strides3(a.dinitial_states_stride, dinitial_states);

    TRY(run_backward(op, &a, call_device(x)));
    bump(dx);
    bump(dweight);
    bump(dbias);
    bump(dinitial_states);
    return CC_OK;
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
    TRY(cc_check_ndim(op, "x", x, 3));
    TRY(check_float(op, "x", x));
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
    if (cache_seqlens) {
        TRY(cc_check_shape(op, "cache_seqlens", cache_seqlens, 1, bshape));
        TRY(cc_check_dtype(op, "cache_seqlens", cache_seqlens, 1u << CC_I32));
    }
    if (conv_state_indices) {
        TRY(cc_check_shape(op, "conv_state_indices", conv_state_indices, 1, bshape));
        TRY(cc_check_dtype(op, "conv_state_indices", conv_state_indices, 1u << CC_I32));
    }
    const cc_tensor *outs[2] = {out, conv_state};
    const char *out_names[2] = {"out", "conv_state"};
    const cc_tensor *ins[5] = {x, weight, bias, cache_seqlens, conv_state_indices};
    const char *in_names[5] = {"x", "weight", "bias", "cache_seqlens", "conv_state_indices"};
    TRY(check_io(op, 2, outs, out_names, 5, ins, in_names));
    if (conv_state_indices && B > 0) {
        /* every index < pool, and no state row named twice (two rows would race on it) */
        cc_tensor *h = NULL;
        TRY(host_copy(op, "conv_state_indices", conv_state_indices, &h));
        int64_t *owner = malloc((size_t)(pool > 0 ? pool : 1) * sizeof *owner);
        cc_status st = owner ? CC_OK : cc_error(CC_ERR_MEMORY, "%s: out of memory checking conv_state_indices", op);
        for (int64_t i = 0; st == CC_OK && i < pool; i++) owner[i] = -1;
        for (int64_t b = 0; st == CC_OK && b < B; b++) {
            int64_t v = index_at(h, b);
            if (v >= pool)
                st = cc_error(CC_ERR_ARGUMENT,
                              "%s: conv_state_indices: expected values < %lld (conv_state's first dim) or < 0 for padding, "
                              "got %lld at 0-based position %lld", op, (long long)pool, (long long)v, (long long)b);
            else if (v >= 0 && owner[v] >= 0)
                st = cc_error(CC_ERR_ARGUMENT,
                              "%s: conv_state_indices: expected distinct state rows, got %lld at 0-based positions %lld and %lld",
                              op, (long long)v, (long long)owner[v], (long long)b);
            else if (v >= 0)
                owner[v] = b;
        }
        free(owner);
        cc_tensor_free(h);
        TRY(st);
    }

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

    if (call_device(x) == CC_CUDA) {
#ifdef CC_WITH_CUDA
        TRY((cc_status)cc_cuda_causal_conv1d_update(&a));
#else
        return cuda_unavailable(op);
#endif
    } else {
        int st = cc_get_reference_kernels() ? cc_cpu_causal_conv1d_update_ref(&a) : cc_cpu_causal_conv1d_update(&a);
        TRY(cpu_status(op, st));
    }
    bump(out);
    bump(conv_state);
    return CC_OK;
}

/* ---- varlen: x (T, D) is the single batch row of the dense kernels, viewed as (1, D, T) ---- */

static void packed_strides(int64_t dst[3], const cc_tensor *t)
{
    dst[0] = 0;
    dst[1] = t->stride[1];
    dst[2] = t->stride[0];
}

cc_status cc_causal_conv1d_varlen_forward(cc_tensor *out, cc_tensor *final_states,
                                          const cc_tensor *x, const cc_tensor *weight, const cc_tensor *bias,
                                          const cc_tensor *cu_seqlens, const cc_tensor *initial_states,
                                          int activation)
{
    const char *op = "causal_conv1d_varlen_forward";
    TRY(check_activation(op, activation));
    TRY(cc_check_ndim(op, "x", x, 2));
    TRY(check_float(op, "x", x));
    int64_t T = x->shape[0], D = x->shape[1];
    TRY(check_weight_bias(op, weight, bias, D));
    int64_t W = weight->shape[1], ext = W - 1;
    TRY(check_like_x(op, "out", out, x));
    int64_t N = 0;
    TRY(check_cu_seqlens(op, cu_seqlens, T, &N));
    int state_dtype = -1;
    const char *state_owner = NULL;
    TRY(check_state(op, "initial_states", initial_states, N, D, ext, &state_dtype, &state_owner));
    TRY(check_state(op, "final_states", final_states, N, D, ext, &state_dtype, &state_owner));
    const cc_tensor *outs[2] = {out, final_states};
    const char *out_names[2] = {"out", "final_states"};
    const cc_tensor *ins[5] = {x, weight, bias, cu_seqlens, initial_states};
    const char *in_names[5] = {"x", "weight", "bias", "cu_seqlens", "initial_states"};
    TRY(check_io(op, 2, outs, out_names, 5, ins, in_names));

    cc_conv1d_args a = {0};
    a.B = 1; a.D = D; a.L = T; a.W = W; a.N = N;
    a.x_dtype = x->dtype;
    a.state_dtype = state_dtype >= 0 ? state_dtype : x->dtype;
    a.silu = activation == CC_ACT_SILU;
    a.x = cc_tensor_data(x); packed_strides(a.x_stride, x);
    set_weight_bias(&a, weight, bias, NULL);
    a.initial_states = data_or_null(initial_states); strides3(a.initial_states_stride, initial_states);
    a.out = cc_tensor_data(out); packed_strides(a.out_stride, out);
    a.final_states = final_states ? cc_tensor_data(final_states) : NULL; strides3(a.final_states_stride, final_states);
    a.cu_seqlens = cc_tensor_data(cu_seqlens); a.cu_seqlens_dtype = cu_seqlens->dtype;

    TRY(run_forward(op, &a, call_device(x)));
    bump(out);
    bump(final_states);
    return CC_OK;
}

cc_status cc_causal_conv1d_varlen_backward(cc_tensor *dx, cc_tensor *dweight, cc_tensor *dbias, cc_tensor *dinitial_states,
                                           const cc_tensor *x, const cc_tensor *weight, const cc_tensor *bias,
                                           const cc_tensor *dout, const cc_tensor *cu_seqlens,
                                           const cc_tensor *initial_states, const cc_tensor *dfinal_states,
                                           int activation)
{
    const char *op = "causal_conv1d_varlen_backward";
    TRY(check_activation(op, activation));
    TRY(cc_check_ndim(op, "x", x, 2));
    TRY(check_float(op, "x", x));
    int64_t T = x->shape[0], D = x->shape[1];
    TRY(check_weight_bias(op, weight, bias, D));
    int64_t W = weight->shape[1], ext = W - 1;
    TRY(check_like_x(op, "dout", dout, x));
    TRY(check_like_x(op, "dx", dx, x));
    TRY(check_grad_outputs(op, dweight, dbias, weight, bias, D, W));
    int64_t N = 0;
    TRY(check_cu_seqlens(op, cu_seqlens, T, &N));
    int state_dtype = -1;
    const char *state_owner = NULL;
    TRY(check_state(op, "initial_states", initial_states, N, D, ext, &state_dtype, &state_owner));
    TRY(check_state(op, "dfinal_states", dfinal_states, N, D, ext, &state_dtype, &state_owner));
    TRY(check_state(op, "dinitial_states", dinitial_states, N, D, ext, &state_dtype, &state_owner));
    const cc_tensor *outs[4] = {dx, dweight, dbias, dinitial_states};
    const char *out_names[4] = {"dx", "dweight", "dbias", "dinitial_states"};
    const cc_tensor *ins[7] = {x, weight, bias, dout, cu_seqlens, initial_states, dfinal_states};
    const char *in_names[7] = {"x", "weight", "bias", "dout", "cu_seqlens", "initial_states", "dfinal_states"};
    TRY(check_io(op, 4, outs, out_names, 7, ins, in_names));

    cc_conv1d_args a = {0};
    a.B = 1; a.D = D; a.L = T; a.W = W; a.N = N;
    a.x_dtype = x->dtype;
    a.state_dtype = state_dtype >= 0 ? state_dtype : x->dtype;
    a.silu = activation == CC_ACT_SILU;
    a.x = cc_tensor_data(x); packed_strides(a.x_stride, x);
    set_weight_bias(&a, weight, bias, dbias);
    a.initial_states = data_or_null(initial_states); strides3(a.initial_states_stride, initial_states);
    a.dout = cc_tensor_data(dout); packed_strides(a.dout_stride, dout);
    a.dfinal_states = data_or_null(dfinal_states); strides3(a.dfinal_states_stride, dfinal_states);
    a.dx = cc_tensor_data(dx); packed_strides(a.dx_stride, dx);
    a.dweight = cc_tensor_data(dweight); a.dweight_stride[0] = dweight->stride[0]; a.dweight_stride[1] = dweight->stride[1];
    a.dbias = dbias ? cc_tensor_data(dbias) : NULL; a.dbias_stride = dbias ? dbias->stride[0] : 0;
    a.dinitial_states = dinitial_states ? cc_tensor_data(dinitial_states) : NULL;
    strides3(a.dinitial_states_stride, dinitial_states);
    a.cu_seqlens = cc_tensor_data(cu_seqlens); a.cu_seqlens_dtype = cu_seqlens->dtype;

    TRY(run_backward(op, &a, call_device(x)));
    bump(dx);
    bump(dweight);
    bump(dbias);
    bump(dinitial_states);
    return CC_OK;
}

cc_status cc_causal_conv1d_varlen_states(cc_tensor *states, const cc_tensor *x, const cc_tensor *cu_seqlens)
{
    const char *op = "causal_conv1d_varlen_states";
    char d[160];
    TRY(cc_check_ndim(op, "x", x, 2));
    TRY(check_float(op, "x", x));
    int64_t T = x->shape[0], D = x->shape[1];
    int64_t N = 0;
    TRY(check_cu_seqlens(op, cu_seqlens, T, &N));
    TRY(cc_check_ndim(op, "states", states, 3));
    TRY(check_float(op, "states", states));
    if (states->shape[0] != N || states->shape[1] != D)
        return cc_error(CC_ERR_SHAPE, "%s: states: expected shape (N, D, state_len) = (%lld, %lld, *), got %s",
                        op, (long long)N, (long long)D, cc_describe(d, sizeof d, states));
    const cc_tensor *outs[1] = {states};
    const char *out_names[1] = {"states"};
    const cc_tensor *ins[2] = {x, cu_seqlens};
    const char *in_names[2] = {"x", "cu_seqlens"};
    TRY(check_io(op, 1, outs, out_names, 2, ins, in_names));

    cc_conv1d_states_args a = {0};
    a.T = T; a.D = D; a.N = N; a.state_len = states->shape[2];
    a.x_dtype = x->dtype;
    a.state_dtype = states->dtype;
    a.x = cc_tensor_data(x); a.x_stride[0] = x->stride[0]; a.x_stride[1] = x->stride[1];
    a.cu_seqlens = cc_tensor_data(cu_seqlens); a.cu_seqlens_dtype = cu_seqlens->dtype;
    a.states = cc_tensor_data(states); strides3(a.states_stride, states);

    if (call_device(x) == CC_CUDA) {
#ifdef CC_WITH_CUDA
        TRY((cc_status)cc_cuda_causal_conv1d_varlen_states(&a));
#else
        return cuda_unavailable(op);
#endif
    } else {
        int st = cc_get_reference_kernels() ? cc_cpu_causal_conv1d_varlen_states_ref(&a)
                                            : cc_cpu_causal_conv1d_varlen_states(&a);
        TRY(cpu_status(op, st));
    }
    bump(states);
    return CC_OK;
}
