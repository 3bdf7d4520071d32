/* Entry points of the selective scan ops (Mamba's SSM): validate every argument, fill the
   argument blocks of kernels/selective_scan.h, dispatch to the CPU fast kernels, the CPU reference
   kernels (cc_set_reference_kernels(1)) or the CUDA kernels. Nothing is computed or written here
   before every argument has passed.

   Semantics (mamba_ssm's selective_scan_ref and selective_state_update_ref, plus seq_idx and the
   gradient through the last state; Bt batch, Di channels, L length, N state size, G groups):

   Forward, for row (b, c), state n, token t, with g = c / (Di / G) the group of channel c:
     v[t]     = delta[b, c, t] + delta_bias[c]                 (delta_bias 0 when absent)
     dt[t]    = softplus(v[t]) = log1p(exp(v[t])) for v <= 20, v above (PyTorch's threshold),
                or v[t] without delta_softplus
     dA[n, t] = exp(dt[t] * A[c, n])
     h[n, t]  = dA[n, t] * h[n, t-1] + dt[t] * B[b, g, n, t] * u[b, c, t],
                h[n, -1] = initial_state[b, c, n] (0 when absent)
     y[t]     = sum_n C[b, g, n, t] * h[n, t] + D[c] * u[b, c, t]   (D 0 when absent)
     out[t]   = y[t] * silu(z[b, c, t]) with z, else y[t]
     last_state[b, c, n] = h[n, L-1]
   B and C are variable (Bt, N, L) (one group), grouped (Bt, G, N, L) with G dividing Di, or
   time-invariant (Di, N) (B[c, n] at every b and t); B and C may be of different kinds.
   seq_idx (Bt, L) i32, the conv's meaning (one seq_idx drives both ops in a packed batch): the
     running segment starts as seq_idx[b, 0] (the initial state belongs to it) and follows the last
     non-padding token. A token with seq_idx < 0 is padding: out = 0, h unchanged. A non-padding
     token whose id differs from the running segment starts a new one: h[n, t-1] is taken as 0.
     last_state is thus the state after the last non-padding token (the initial state when every
     token is padding).
   Arithmetic in f32 (f64 when u is f64); out in u's dtype, last_state f32 (f64 for f64 u).

   Backward (g = dout; every step of the forward differentiated, with h recomputed):
     with z: s = sigmoid(z), dz = g * y * s * (1 + z * (1 - s)), gy = g * silu(z); else gy = g.
     lambda[n, t] = dlast_state[n] (t = L-1 only) + gy[t] * C[n, t] + a[n, t+1] * lambda[n, t+1],
       a[n, t] = dA[n, t] for a step, 0 for a reset token; padding tokens pass lambda through.
     hp[n, t] = h[n, t-1] (0 for a reset token), then per non-padding token:
       du[t]     = D * gy[t] + sum_n lambda * dt * B
       ddt[t]    = sum_n lambda * (A * dA * hp + B * u);  ddelta[t] = ddt * sigmoid(v) (v <= 20
                   with softplus), ddt otherwise
       dA[c, n]  += lambda * hp * dA * dt;  dB += lambda * dt * u;  dC += gy * h;  dD[c] += gy * u;
       ddelta_bias[c] += ddelta[t];  dinitial_state[n] = the lambda that reaches h[n, -1]
     Padding tokens get du = ddelta = dz = 0 and give nothing. dA, dD, ddelta_bias and the summed
     dB / dC accumulate in f32 (f64 for f64 u) in an order fixed by the shapes alone, so results
     do not depend on the thread count; they are written in their tensor's dtype.

   State update (decode, one token): row b uses state row i = state_batch_indices[b] (b without
     indices); i < 0 is a padding row (out = 0, no state touched); i past the pool, or two rows
     naming one state row, are errors. dt = softplus(dt + dt_bias) or dt + dt_bias;
     state[i, c, n] = state * exp(dt * A[c, n]) + dt * B[b, g, n] * x[b, c];
     out[b, c] = (sum_n state[i, c, n] * C[b, g, n] + D[c] * x[b, c]) * silu(z[b, c]) (z given),
     arithmetic in f32 (f64 for f64 x), out in x's dtype, state written back in its dtype. */
#include "checks.h"
#include "scan_roof.h"
#include "selective_scan.h"

#define CC_PARAM_DTYPES ((1u << CC_F32) | (1u << CC_F64))

/* ---- checks ---- */

static const void *data_or_null(const cc_tensor *t) { return t ? cc_tensor_data(t) : NULL; }

static void copy_strides(int64_t *dst, const cc_tensor *t, int n)
{
    for (int i = 0; i < n; i++) dst[i] = t ? t->stride[i] : 0;
}

/* t, when given, has ref's shape and a float dtype (any of the four). */
static cc_status check_like(const char *op, const char *arg, const cc_tensor *t, const char *ref_arg,
                            const cc_tensor *ref)
{
    if (!t) return CC_OK;
    TRY(cc_check_shape_as(op, arg, t, ref_arg, ref));
    return cc_check_dtype(op, arg, t, CC_FLOAT_DTYPES);
}

/* t, when given, has shape (n0 [, n1 [, n2]]) and one of the allowed dtypes. */
static cc_status check_opt(const char *op, const char *arg, const cc_tensor *t, int ndim, const int64_t *shape,
                           unsigned allowed)
{
    if (!t) return CC_OK;
    TRY(cc_check_shape(op, arg, t, ndim, shape));
    return cc_check_dtype(op, arg, t, allowed);
}

/* A gradient output: present only with its input when requires (dD with D, dz with z), the
   input's shape and, when the input is given, its dtype. */
static cc_status check_grad(const char *op, const char *arg, const cc_tensor *g, const char *in_arg,
                            const cc_tensor *in, int ndim, const int64_t *shape, int requires)
{
    if (!g) return CC_OK;
    if (!in && requires)
        return cc_error(CC_ERR_ARGUMENT, "%s: %s: expected nil without %s, got a tensor", op, arg, in_arg);
    TRY(check_opt(op, arg, g, ndim, shape, CC_FLOAT_DTYPES));
    return in ? cc_check_dtype_as(op, arg, g, in->dtype, in_arg) : CC_OK;
}

/* B or C: (Di, N) time-invariant, (Bt, N, L) or (Bt, G, N, L) with G dividing Di; float. */
static cc_status check_bc(const char *op, const char *arg, const cc_tensor *m, int64_t Bt, int64_t Di, int64_t N,
                          int64_t L, cc_scan_bc *bc)
{
    char d[160];
    TRY(cc_check_present(op, arg, m));
    TRY(cc_check_dtype(op, arg, m, CC_FLOAT_DTYPES));
    *bc = (cc_scan_bc){.data = cc_tensor_data(m), .dtype = m->dtype};
    const int64_t *s = m->stride;
    if (m->ndim == 2 && m->shape[0] == Di && m->shape[1] == N) {
        bc->G = Di > 0 ? Di : 1;
        bc->is_const = 1;
        bc->stride[1] = s[0];
        bc->stride[2] = s[1];
    } else if (m->ndim == 3 && m->shape[0] == Bt && m->shape[1] == N && m->shape[2] == L) {
        bc->G = 1;
        bc->stride[0] = s[0];
        bc->stride[2] = s[1];
        bc->stride[3] = s[2];
    } else if (m->ndim == 4 && m->shape[0] == Bt && m->shape[1] >= 1 && Di % m->shape[1] == 0 && m->shape[2] == N &&
               m->shape[3] == L) {
        bc->G = m->shape[1];
        copy_strides(bc->stride, m, 4);
    } else {
        return cc_error(CC_ERR_SHAPE,
                        "%s: %s: expected shape (Bt, N, L) = (%lld, %lld, %lld), (Bt, G, N, L) with G dividing Di = %lld, "
                        "or (Di, N) = (%lld, %lld), got %s", op, arg, (long long)Bt, (long long)N, (long long)L,
                        (long long)Di, (long long)Di, (long long)N, cc_describe(d, sizeof d, m));
    }
    return CC_OK;
}

/* dB or dC: the shape and dtype of B or C, its strides in the same (Bt, G, N, L) view. */
static cc_status check_bc_grad(const char *op, const char *arg, const cc_tensor *g, const char *in_arg,
                               const cc_tensor *in, cc_scan_bc *bc)
{
    if (!g) return CC_OK;
    TRY(check_like(op, arg, g, in_arg, in));
    TRY(cc_check_dtype_as(op, arg, g, in->dtype, in_arg));
    bc->grad = cc_tensor_data(g);
    bc->grad_dtype = g->dtype;
    const int64_t *s = g->stride;
    int64_t *gs = bc->grad_stride;
    if (g->ndim == 2) { gs[1] = s[0]; gs[2] = s[1]; }
    else if (g->ndim == 3) { gs[0] = s[0]; gs[2] = s[1]; gs[3] = s[2]; }
    else copy_strides(gs, g, 4);
    return CC_OK;
}

/* The inputs the forward and backward share. */
typedef struct scan_call {
    const cc_tensor *u, *delta, *A, *B, *C, *D, *z, *delta_bias, *initial_state, *seq_idx;
} scan_call;

/* Checks the shared inputs and fills their part of the argument block. */
static cc_status check_inputs(const char *op, const scan_call *k, int delta_softplus, cc_scan_args *a)
{
    char d[160];
    *a = (cc_scan_args){0};
    if (delta_softplus != 0 && delta_softplus != 1)
        return cc_error(CC_ERR_ARGUMENT, "%s: delta_softplus: expected 0 or 1, got %d", op, delta_softplus);
    TRY(cc_check_ndim(op, "u", k->u, 3));
    TRY(cc_check_dtype(op, "u", k->u, CC_FLOAT_DTYPES));
    int64_t Bt = k->u->shape[0], Di = k->u->shape[1], L = k->u->shape[2];
    TRY(cc_check_present(op, "delta", k->delta));
    TRY(check_like(op, "delta", k->delta, "u", k->u));
    TRY(cc_check_ndim(op, "A", k->A, 2));
    if (k->A->shape[0] != Di)
        return cc_error(CC_ERR_SHAPE, "%s: A: expected shape (Di, N) = (%lld, *), got %s", op, (long long)Di,
                        cc_describe(d, sizeof d, k->A));
    TRY(cc_check_dtype(op, "A", k->A, CC_PARAM_DTYPES));
    int64_t N = k->A->shape[1];
    TRY(check_bc(op, "B", k->B, Bt, Di, N, L, &a->B));
    TRY(check_bc(op, "C", k->C, Bt, Di, N, L, &a->C));
    int64_t dshape[1] = {Di}, sshape[3] = {Bt, Di, N}, qshape[2] = {Bt, L};
    TRY(check_opt(op, "D", k->D, 1, dshape, CC_PARAM_DTYPES));
    TRY(check_like(op, "z", k->z, "u", k->u));
    TRY(check_opt(op, "delta_bias", k->delta_bias, 1, dshape, CC_PARAM_DTYPES));
    TRY(check_opt(op, "initial_state", k->initial_state, 3, sshape, CC_PARAM_DTYPES));
    TRY(check_opt(op, "seq_idx", k->seq_idx, 2, qshape, 1u << CC_I32));

    a->Bt = Bt; a->Di = Di; a->L = L; a->N = N;
    a->delta_softplus = delta_softplus;
    a->u = cc_tensor_data(k->u); a->u_dtype = k->u->dtype; copy_strides(a->u_stride, k->u, 3);
    a->delta = cc_tensor_data(k->delta); a->delta_dtype = k->delta->dtype; copy_strides(a->delta_stride, k->delta, 3);
    a->A = cc_tensor_data(k->A); a->A_dtype = k->A->dtype; copy_strides(a->A_stride, k->A, 2);
    a->D = data_or_null(k->D); a->D_dtype = k->D ? k->D->dtype : CC_F32; a->D_stride = k->D ? k->D->stride[0] : 0;
    a->z = data_or_null(k->z); a->z_dtype = k->z ? k->z->dtype : CC_F32; copy_strides(a->z_stride, k->z, 3);
    a->delta_bias = data_or_null(k->delta_bias);
    a->delta_bias_dtype = k->delta_bias ? k->delta_bias->dtype : CC_F32;
    a->delta_bias_stride = k->delta_bias ? k->delta_bias->stride[0] : 0;
    a->initial_state = data_or_null(k->initial_state);
    a->initial_state_dtype = k->initial_state ? k->initial_state->dtype : CC_F32;
    copy_strides(a->initial_state_stride, k->initial_state, 3);
    a->seq_idx = data_or_null(k->seq_idx); copy_strides(a->seq_idx_stride, k->seq_idx, 2);
    return CC_OK;
}

/* f32, or f64 for f64 u: the compute dtype, which last_state has. */
static int compute_dtype(const cc_tensor *u) { return u->dtype == CC_F64 ? CC_F64 : CC_F32; }

/* Runs the forward or backward: CUDA (any sizes, empty ones included), the CPU reference kernels
   (tests, and problems without a token, channel or row, whose sums are zeros), or the fast CPU
   kernels. */
static cc_status run_scan(const char *op, const cc_scan_args *a, int device, int backward)
{
    int st;
    if (device == CC_CUDA) {
#ifdef CC_WITH_CUDA
        st = backward ? cc_cuda_selective_scan_backward(a) : cc_cuda_selective_scan_forward(a);
#else
        return cc_no_cuda(op);
#endif
    } else if (cc_get_reference_kernels() || a->Bt * a->Di * a->L == 0) {
        st = backward ? cc_cpu_selective_scan_backward_ref(a) : cc_cpu_selective_scan_forward_ref(a);
    } else {
        st = backward ? cc_cpu_selective_scan_backward(a) : cc_cpu_selective_scan_forward(a);
    }
    return cc_kernel_status(op, device, st);
}

#define SCAN_INPUTS(k) {k.u, k.delta, k.A, k.B, k.C, k.D, k.z, k.delta_bias, k.initial_state, k.seq_idx}
#define SCAN_INPUT_NAMES "u", "delta", "A", "B", "C", "D", "z", "delta_bias", "initial_state", "seq_idx"

cc_status cc_selective_scan_forward(cc_tensor *out, cc_tensor *last_state,
                                    const cc_tensor *u, const cc_tensor *delta, const cc_tensor *A,
                                    const cc_tensor *B, const cc_tensor *C, const cc_tensor *D,
                                    const cc_tensor *z, const cc_tensor *delta_bias,
                                    const cc_tensor *initial_state, const cc_tensor *seq_idx,
                                    int delta_softplus)
{
    const char *op = "selective_scan_forward";
    scan_call k = {u, delta, A, B, C, D, z, delta_bias, initial_state, seq_idx};
    cc_scan_args a;
    TRY(check_inputs(op, &k, delta_softplus, &a));
    TRY(cc_check_present(op, "out", out));
    TRY(cc_check_shape_as(op, "out", out, "u", u));
    TRY(cc_check_dtype_as(op, "out", out, u->dtype, "u"));
    int64_t sshape[3] = {a.Bt, a.Di, a.N};
    if (last_state) {
        TRY(cc_check_shape(op, "last_state", last_state, 3, sshape));
        TRY(cc_check_dtype(op, "last_state", last_state, 1u << compute_dtype(u)));
    }
    const cc_tensor *ins[10] = SCAN_INPUTS(k);
    const char *in_names[10] = {SCAN_INPUT_NAMES};
    const cc_tensor *outs[2] = {out, last_state};
    const char *out_names[2] = {"out", "last_state"};
    TRY(cc_check_io(op, 10, ins, in_names, 2, outs, out_names));

    a.out = cc_tensor_data(out); a.out_dtype = out->dtype; copy_strides(a.out_stride, out, 3);
    a.last_state = last_state ? cc_tensor_data(last_state) : NULL;
    a.last_state_dtype = last_state ? last_state->dtype : CC_F32;
    copy_strides(a.last_state_stride, last_state, 3);
    TRY(run_scan(op, &a, u->device, 0));
    cc_tensor_bump_version(out);
    cc_tensor_bump_version(last_state);
    return CC_OK;
}

cc_status cc_selective_scan_backward(cc_tensor *du, cc_tensor *ddelta, cc_tensor *dA, cc_tensor *dB, cc_tensor *dC,
                                     cc_tensor *dD, cc_tensor *dz, cc_tensor *ddelta_bias, cc_tensor *dinitial_state,
                                     const cc_tensor *u, const cc_tensor *delta, const cc_tensor *A,
                                     const cc_tensor *B, const cc_tensor *C, const cc_tensor *D,
                                     const cc_tensor *z, const cc_tensor *delta_bias,
                                     const cc_tensor *initial_state, const cc_tensor *seq_idx,
                                     const cc_tensor *dout, const cc_tensor *dlast_state, int delta_softplus)
{
    const char *op = "selective_scan_backward";
    scan_call k = {u, delta, A, B, C, D, z, delta_bias, initial_state, seq_idx};
    cc_scan_args a;
    TRY(check_inputs(op, &k, delta_softplus, &a));
    TRY(cc_check_present(op, "dout", dout));
    TRY(check_like(op, "dout", dout, "u", u));
    int64_t dshape[1] = {a.Di}, sshape[3] = {a.Bt, a.Di, a.N}, ashape[2] = {a.Di, a.N};
    TRY(check_opt(op, "dlast_state", dlast_state, 3, sshape, CC_FLOAT_DTYPES));
    TRY(check_grad(op, "du", du, "u", u, 3, u->shape, 0));
    TRY(check_grad(op, "ddelta", ddelta, "delta", delta, 3, u->shape, 0));
    TRY(check_grad(op, "dA", dA, "A", A, 2, ashape, 0));
    TRY(check_bc_grad(op, "dB", dB, "B", B, &a.B));
    TRY(check_bc_grad(op, "dC", dC, "C", C, &a.C));
    TRY(check_grad(op, "dD", dD, "D", D, 1, dshape, 1));
    TRY(check_grad(op, "dz", dz, "z", z, 3, u->shape, 1));
    TRY(check_grad(op, "ddelta_bias", ddelta_bias, "delta_bias", delta_bias, 1, dshape, 0));
    TRY(check_grad(op, "dinitial_state", dinitial_state, "initial_state", initial_state, 3, sshape, 0));
    if (ddelta_bias && !delta_bias) TRY(cc_check_dtype(op, "ddelta_bias", ddelta_bias, CC_PARAM_DTYPES));
    if (dinitial_state && !initial_state) TRY(cc_check_dtype(op, "dinitial_state", dinitial_state, CC_PARAM_DTYPES));
    const cc_tensor *ins[12] = {u, delta, A, B, C, D, z, delta_bias, initial_state, seq_idx, dout, dlast_state};
    const char *in_names[12] = {SCAN_INPUT_NAMES, "dout", "dlast_state"};
    const cc_tensor *outs[9] = {du, ddelta, dA, dB, dC, dD, dz, ddelta_bias, dinitial_state};
    const char *out_names[9] = {"du", "ddelta", "dA", "dB", "dC", "dD", "dz", "ddelta_bias", "dinitial_state"};
    TRY(cc_check_io(op, 12, ins, in_names, 9, outs, out_names));

    a.dout = cc_tensor_data(dout); a.dout_dtype = dout->dtype; copy_strides(a.dout_stride, dout, 3);
    a.dlast_state = data_or_null(dlast_state); a.dlast_state_dtype = dlast_state ? dlast_state->dtype : CC_F32;
    copy_strides(a.dlast_state_stride, dlast_state, 3);
#define GRAD(name, n) do { a.name = name ? cc_tensor_data(name) : NULL; a.name##_dtype = name ? name->dtype : CC_F32; \
                           copy_strides(&a.name##_stride[0], name, n); } while (0)
    GRAD(du, 3); GRAD(ddelta, 3); GRAD(dA, 2); GRAD(dz, 3); GRAD(dinitial_state, 3);
    a.dD = dD ? cc_tensor_data(dD) : NULL; a.dD_dtype = dD ? dD->dtype : CC_F32; a.dD_stride = dD ? dD->stride[0] : 0;
    a.ddelta_bias = ddelta_bias ? cc_tensor_data(ddelta_bias) : NULL;
    a.ddelta_bias_dtype = ddelta_bias ? ddelta_bias->dtype : CC_F32;
    a.ddelta_bias_stride = ddelta_bias ? ddelta_bias->stride[0] : 0;
#undef GRAD
    TRY(run_scan(op, &a, u->device, 1));
    cc_tensor *written[9] = {du, ddelta, dA, dB, dC, dD, dz, ddelta_bias, dinitial_state};
    for (int i = 0; i < 9; i++) cc_tensor_bump_version(written[i]);
    return CC_OK;
}

/* ---- state update ---- */

/* B or C of the update: (Bt, N) or (Bt, G, N) with G dividing Di, as the (Bt, G, N) view. */
static cc_status check_update_bc(const char *op, const char *arg, const cc_tensor *m, int64_t Bt, int64_t Di,
                                 int64_t N, int64_t *G, int64_t stride[3])
{
    char d[160];
    TRY(cc_check_present(op, arg, m));
    TRY(cc_check_dtype(op, arg, m, CC_FLOAT_DTYPES));
    if (m->ndim == 2 && m->shape[0] == Bt && m->shape[1] == N) {
        *G = 1;
        stride[0] = m->stride[0];
        stride[1] = 0;
        stride[2] = m->stride[1];
    } else if (m->ndim == 3 && m->shape[0] == Bt && m->shape[1] >= 1 && Di % m->shape[1] == 0 && m->shape[2] == N) {
        *G = m->shape[1];
        copy_strides(stride, m, 3);
    } else {
        return cc_error(CC_ERR_SHAPE, "%s: %s: expected shape (Bt, N) = (%lld, %lld) or (Bt, G, N) with G dividing Di = %lld, got %s",
                        op, arg, (long long)Bt, (long long)N, (long long)Di, cc_describe(d, sizeof d, m));
    }
    return CC_OK;
}

cc_status cc_selective_state_update(cc_tensor *out, cc_tensor *state,
                                    const cc_tensor *x, const cc_tensor *dt, const cc_tensor *A,
                                    const cc_tensor *B, const cc_tensor *C, const cc_tensor *D,
                                    const cc_tensor *z, const cc_tensor *dt_bias,
                                    const cc_tensor *state_batch_indices, int dt_softplus)
{
    const char *op = "selective_state_update";
    char d[160];
    if (dt_softplus != 0 && dt_softplus != 1)
        return cc_error(CC_ERR_ARGUMENT, "%s: dt_softplus: expected 0 or 1, got %d", op, dt_softplus);
    TRY(cc_check_ndim(op, "x", x, 2));
    TRY(cc_check_dtype(op, "x", x, CC_FLOAT_DTYPES));
    int64_t Bt = x->shape[0], Di = x->shape[1];
    TRY(cc_check_present(op, "dt", dt));
    TRY(check_like(op, "dt", dt, "x", x));
    TRY(cc_check_ndim(op, "A", A, 2));
    if (A->shape[0] != Di)
        return cc_error(CC_ERR_SHAPE, "%s: A: expected shape (Di, N) = (%lld, *), got %s", op, (long long)Di,
                        cc_describe(d, sizeof d, A));
    TRY(cc_check_dtype(op, "A", A, CC_PARAM_DTYPES));
    int64_t N = A->shape[1];
    cc_scan_update_args a = {0};
    TRY(check_update_bc(op, "B", B, Bt, Di, N, &a.B_G, a.B_stride));
    TRY(check_update_bc(op, "C", C, Bt, Di, N, &a.C_G, a.C_stride));
    int64_t dshape[1] = {Di}, bshape[1] = {Bt};
    TRY(check_opt(op, "D", D, 1, dshape, CC_PARAM_DTYPES));
    TRY(check_like(op, "z", z, "x", x));
    TRY(check_opt(op, "dt_bias", dt_bias, 1, dshape, CC_PARAM_DTYPES));
    TRY(check_opt(op, "state_batch_indices", state_batch_indices, 1, bshape, 1u << CC_I32));
    TRY(cc_check_ndim(op, "state", state, 3));
    TRY(cc_check_dtype(op, "state", state, CC_FLOAT_DTYPES));
    int64_t pool = state->shape[0];
    if (state->shape[1] != Di || state->shape[2] != N || (!state_batch_indices && pool != Bt))
        return cc_error(CC_ERR_SHAPE, "%s: state: expected shape (%s, Di, N) = (%lld, %lld, %lld)%s, got %s", op,
                        state_batch_indices ? "pool" : "Bt", state_batch_indices ? (long long)pool : (long long)Bt,
                        (long long)Di, (long long)N,
                        state_batch_indices ? "" : " (its first dim must be Bt unless state_batch_indices is given)",
                        cc_describe(d, sizeof d, state));
    TRY(cc_check_present(op, "out", out));
    TRY(cc_check_shape_as(op, "out", out, "x", x));
    TRY(cc_check_dtype_as(op, "out", out, x->dtype, "x"));
    const cc_tensor *ins[9] = {x, dt, A, B, C, D, z, dt_bias, state_batch_indices};
    const char *in_names[9] = {"x", "dt", "A", "B", "C", "D", "z", "dt_bias", "state_batch_indices"};
    const cc_tensor *outs[2] = {out, state};
    const char *out_names[2] = {"out", "state"};
    TRY(cc_check_io(op, 9, ins, in_names, 2, outs, out_names));
    if (state_batch_indices && Bt > 0)
        TRY(cc_check_state_rows(op, "state_batch_indices", state_batch_indices, Bt, pool, "state"));

    a.Bt = Bt; a.Di = Di; a.N = N; a.pool = pool;
    a.dt_softplus = dt_softplus;
    a.state = cc_tensor_data(state); a.state_dtype = state->dtype; copy_strides(a.state_stride, state, 3);
    a.x = cc_tensor_data(x); a.x_dtype = x->dtype; copy_strides(a.x_stride, x, 2);
    a.dt = cc_tensor_data(dt); a.dt_dtype = dt->dtype; copy_strides(a.dt_stride, dt, 2);
    a.A = cc_tensor_data(A); a.A_dtype = A->dtype; copy_strides(a.A_stride, A, 2);
    a.B = cc_tensor_data(B); a.B_dtype = B->dtype;
    a.C = cc_tensor_data(C); a.C_dtype = C->dtype;
    a.D = data_or_null(D); a.D_dtype = D ? D->dtype : CC_F32; a.D_stride = D ? D->stride[0] : 0;
    a.z = data_or_null(z); a.z_dtype = z ? z->dtype : CC_F32; copy_strides(a.z_stride, z, 2);
    a.dt_bias = data_or_null(dt_bias); a.dt_bias_dtype = dt_bias ? dt_bias->dtype : CC_F32;
    a.dt_bias_stride = dt_bias ? dt_bias->stride[0] : 0;
    a.state_batch_indices = data_or_null(state_batch_indices);
    a.state_batch_indices_stride = state_batch_indices ? state_batch_indices->stride[0] : 0;
    a.out = cc_tensor_data(out); a.out_dtype = out->dtype; copy_strides(a.out_stride, out, 2);

    if (Bt * Di > 0) {
        int st;
        if (x->device == CC_CUDA) {
#ifdef CC_WITH_CUDA
            st = cc_cuda_selective_state_update(&a);
#else
            return cc_no_cuda(op);
#endif
        } else {
            st = cc_get_reference_kernels() ? cc_cpu_selective_state_update_ref(&a) : cc_cpu_selective_state_update(&a);
        }
        TRY(cc_kernel_status(op, x->device, st));
    }
    cc_tensor_bump_version(out);
    cc_tensor_bump_version(state);
    return CC_OK;
}

/* ---- the compute roof the scan benchmarks stand next to ---- */

cc_status cc_selective_scan_roof(int64_t elements, double *checksum)
{
    const char *op = "selective_scan_roof";
    if (elements < 0)
        return cc_error(CC_ERR_ARGUMENT, "%s: elements: expected a count >= 0, got %lld", op, (long long)elements);
    if (!checksum) return cc_error(CC_ERR_ARGUMENT, "%s: checksum: expected a pointer, got NULL", op);
    return cc_kernel_status(op, CC_CPU, cc_cpu_scan_roof(elements, checksum));
}
