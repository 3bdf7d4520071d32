/* Tensor ops under autograd against plain scalar loops written here: every op and backward in
   f64 and f32 (some in f16/bf16), strided and stride-0 (broadcast) inputs, fast and reference
   kernels, thread-count independence, and error paths that leave outputs untouched. */
#include <stdlib.h>
#include "test.h"

/* ---- helpers ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static double urand(double lo, double hi)
{
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return lo + (hi - lo) * (double)(rng >> 11) / 9007199254740992.0;
}

static int64_t numel_of(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    return n;
}

static void unravel(const cc_tensor *t, int64_t lin, int64_t *idx)
{
    for (int d = t->ndim - 1; d >= 0; d--) { idx[d] = lin % t->shape[d]; lin /= t->shape[d]; }
}

static double get(const cc_tensor *t, const int64_t *idx)
{
    double v = 0;
    cc_tensor_get(t, idx, &v);
    return v;
}

static double get_lin(const cc_tensor *t, int64_t lin)
{
    int64_t idx[8];
    unravel(t, lin, idx);
    return get(t, idx);
}

static void set_lin(cc_tensor *t, int64_t lin, double v)
{
    int64_t idx[8];
    unravel(t, lin, idx);
    cc_tensor_set(t, idx, v);
}

static cc_tensor *dense(int ndim, const int64_t *shape, int dtype)
{
    cc_tensor *t = NULL;
    cc_tensor_empty(&t, ndim, shape, dtype, CC_CPU, 0);
    return t;
}

/* layout 0: contiguous; 1: every dim reversed in memory (a permuted buffer); 2: a narrowed window
   of a larger buffer (gaps between rows) */
static cc_tensor *make(int ndim, const int64_t *shape, int dtype, int layout, double lo, double hi)
{
    cc_tensor *t = NULL, *base = NULL;
    if (layout == 1 && ndim > 1) {
        int64_t rs[8];
        int perm[8];
        for (int d = 0; d < ndim; d++) { rs[d] = shape[ndim - 1 - d]; perm[d] = ndim - 1 - d; }
        base = dense(ndim, rs, dtype);
        cc_tensor_permute(&t, base, ndim, perm);
    } else if (layout == 2 && ndim > 0) {
        int64_t bs[8];
        for (int d = 0; d < ndim; d++) bs[d] = shape[d] + (d == ndim - 1 ? 3 : 1);
        base = dense(ndim, bs, dtype);
        t = base;
        for (int d = 0; d < ndim; d++) {
            cc_tensor *n = NULL;
            cc_tensor_narrow(&n, t, d, 1, shape[d]);
            if (t != base) cc_tensor_free(t);
            t = n;
        }
    } else {
        t = dense(ndim, shape, dtype);
    }
    if (base && base != t) cc_tensor_free(base);   /* the view keeps the storage */
    int64_t n = numel_of(ndim, shape);
    for (int64_t i = 0; i < n; i++) set_lin(t, i, urand(lo, hi));
    return t;
}

static cc_tensor *fill_const(cc_tensor *t, double v)
{
    cc_tensor_fill(t, v);
    return t;
}

static double tol_of(int dtype)
{
    return dtype == CC_F64 ? 1e-11 : dtype == CC_F32 ? 2e-5 : dtype == CC_F16 ? 4e-3 : 3e-2;
}

/* every element of got within atol + rtol * |want| of want[lin] (NaN matches NaN) */
static int near(const cc_tensor *got, const double *want, double rtol, double atol, const char *what)
{
    int64_t n = cc_tensor_numel(got), bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double g = get_lin(got, i), w = want[i];
        int ok = (isnan(w) && isnan(g)) || (isinf(w) && g == w) || fabs(g - w) <= atol + rtol * fabs(w);
        if (!ok && bad++ < 3) printf("    %s: element %lld: got %.10g, want %.10g\n", what, (long long)i, g, w);
    }
    return bad == 0;
}

static int all_equal(const cc_tensor *t, double v)
{
    int64_t n = cc_tensor_numel(t);
    for (int64_t i = 0; i < n; i++)
        if (get_lin(t, i) != v) return 0;
    return 1;
}

static int bitwise_same(const cc_tensor *a, const cc_tensor *b)
{
    int64_t n = cc_tensor_numel(a);
    for (int64_t i = 0; i < n; i++) {
        double x = get_lin(a, i), y = get_lin(b, i);
        if (memcmp(&x, &y, sizeof x) != 0) return 0;
    }
    return 1;
}

static void free_all(cc_tensor **ts, int n)
{
    for (int i = 0; i < n; i++) cc_tensor_free(ts[i]);
}

static const int float_dtypes[2] = { CC_F64, CC_F32 };

/* ---- unary ---- */

static double sig(double x) { return 1.0 / (1.0 + exp(-x)); }

static double unary_ref(int op, double x, double s)
{
    switch (op) {
    case CC_UNARY_NEG: return -x;
    case CC_UNARY_EXP: return exp(x);
    case CC_UNARY_LOG: return log(x);
    case CC_UNARY_SQRT: return sqrt(x);
    case CC_UNARY_RSQRT: return pow(x, -0.5);
    case CC_UNARY_ABS: return x < 0 ? -x : x;
    case CC_UNARY_SIGMOID: return sig(x);
    case CC_UNARY_SILU: return x * sig(x);
    case CC_UNARY_SOFTPLUS: return x > 20 ? x : log(1.0 + exp(x));
    case CC_UNARY_TANH: return tanh(x);
    case CC_UNARY_RELU: return x > 0 ? x : 0;
    case CC_UNARY_POW_SCALAR: return pow(x, s);
    case CC_UNARY_ADD_SCALAR: return x + s;
    case CC_UNARY_MUL_SCALAR: return x * s;
    case CC_UNARY_RPOW_SCALAR: return pow(s, x);
    default: return s / x;
    }
}

static double unary_grad_ref(int op, double x, double s)
{
    switch (op) {
    case CC_UNARY_NEG: return -1;
    case CC_UNARY_EXP: return exp(x);
    case CC_UNARY_LOG: return 1 / x;
    case CC_UNARY_SQRT: return 0.5 * pow(x, -0.5);
    case CC_UNARY_RSQRT: return -0.5 * pow(x, -1.5);
    case CC_UNARY_ABS: return x > 0 ? 1 : x < 0 ? -1 : 0;
    case CC_UNARY_SIGMOID: return sig(x) * (1 - sig(x));
    case CC_UNARY_SILU: return sig(x) + x * sig(x) * (1 - sig(x));
    case CC_UNARY_SOFTPLUS: return x > 20 ? 1 : sig(x);
    case CC_UNARY_TANH: return 1 - tanh(x) * tanh(x);
    case CC_UNARY_RELU: return x > 0 ? 1 : 0;
    case CC_UNARY_POW_SCALAR: return s * pow(x, s - 1);
    case CC_UNARY_ADD_SCALAR: return 1;
    case CC_UNARY_MUL_SCALAR: return s;
    case CC_UNARY_RPOW_SCALAR: return pow(s, x) * log(s);
    default: return -s / (x * x);
    }
}

static int positive_domain(int op)
{
    return op == CC_UNARY_LOG || op == CC_UNARY_SQRT || op == CC_UNARY_RSQRT || op == CC_UNARY_POW_SCALAR ||
           op == CC_UNARY_RDIV_SCALAR;
}

TEST_GROUP(ops_unary)
{
    int64_t s0 = cc_live_storages();
    for (int ref = 0; ref < 2; ref++) {
        cc_set_reference_kernels(ref);
        for (int di = 0; di < 2; di++)
            for (int op = CC_UNARY_NEG; op <= CC_UNARY_RDIV_SCALAR; op++) {
                int dt = float_dtypes[di], layout = (op % 3);
                double lo = positive_domain(op) ? 0.25 : -4, hi = positive_domain(op) ? 3 : 4, s = 1.7;
                if (op == CC_UNARY_SOFTPLUS) { lo = -25; hi = 25; }
                cc_tensor *x = make(3, SHAPE(3, 40, 7), dt, layout, lo, hi);
                cc_tensor *dout = make(3, SHAPE(3, 40, 7), dt, 2 - layout, -1, 1);
                cc_tensor *out = make(3, SHAPE(3, 40, 7), dt, (layout + 1) % 3, 0, 0);
                cc_tensor *dx = make(3, SHAPE(3, 40, 7), dt, 0, 0, 0);
                int64_t n = cc_tensor_numel(x);
                double *want = malloc(sizeof(double) * (size_t)n), *wantg = malloc(sizeof(double) * (size_t)n);
                for (int64_t i = 0; i < n; i++) {
                    double v = get_lin(x, i);
                    want[i] = unary_ref(op, v, s);
                    wantg[i] = get_lin(dout, i) * unary_grad_ref(op, v, s);
                }
                CHECK_OK(cc_unary_forward(out, x, op, s));
                CHECK_MSG(near(out, want, tol_of(dt), tol_of(dt), "unary"), "unary op %d dtype %d ref %d", op, dt, ref);
                CHECK_OK(cc_unary_backward(dx, x, dout, op, s));
                CHECK_MSG(near(dx, wantg, tol_of(dt), tol_of(dt), "unary_backward"), "unary_backward op %d dtype %d ref %d", op, dt, ref);
                /* in place: out is x itself */
                CHECK_OK(cc_unary_forward(x, x, op, s));
                CHECK_MSG(near(x, want, tol_of(dt), tol_of(dt), "unary in place"), "unary in place op %d dtype %d", op, dt);
                free(want); free(wantg);
                cc_tensor *ts[4] = { x, dout, out, dx };
                free_all(ts, 4);
            }
    }
    cc_set_reference_kernels(0);
    /* half types, a big tensor (parallel path), relu/abs at 0, softplus threshold */
    for (int dt = CC_F16; dt <= CC_BF16; dt++) {
        cc_tensor *x = make(2, SHAPE(300, 257), dt, 1, -3, 3), *out = make(2, SHAPE(300, 257), dt, 0, 0, 0);
        int64_t n = cc_tensor_numel(x);
        double *want = malloc(sizeof(double) * (size_t)n);
        for (int64_t i = 0; i < n; i++) want[i] = unary_ref(CC_UNARY_SILU, get_lin(x, i), 0);
        CHECK_OK(cc_unary_forward(out, x, CC_UNARY_SILU, 0));
        CHECK(near(out, want, tol_of(dt), tol_of(dt), "silu half"));
        free(want);
        cc_tensor_free(x); cc_tensor_free(out);
    }
    {
        cc_tensor *x = dense(1, SHAPE(4), CC_F64), *g = fill_const(dense(1, SHAPE(4), CC_F64), 1), *dx = dense(1, SHAPE(4), CC_F64);
        double xs[4] = { 0.0, -0.0, 20.0, 21.0 };
        for (int i = 0; i < 4; i++) set_lin(x, i, xs[i]);
        CHECK_OK(cc_unary_backward(dx, x, g, CC_UNARY_ABS, 0));
        CHECK(get_lin(dx, 0) == 0 && get_lin(dx, 1) == 0);
        CHECK_OK(cc_unary_backward(dx, x, g, CC_UNARY_RELU, 0));
        CHECK(get_lin(dx, 0) == 0);
        CHECK_OK(cc_unary_forward(dx, x, CC_UNARY_SOFTPLUS, 0));
        CHECK(get_lin(dx, 2) == log1p(exp(20.0)) && get_lin(dx, 3) == 21.0);
        CHECK_OK(cc_unary_backward(dx, x, g, CC_UNARY_SOFTPLUS, 0));
        CHECK(get_lin(dx, 3) == 1.0 && fabs(get_lin(dx, 2) - sig(20.0)) < 1e-15);
        cc_tensor *ts[3] = { x, g, dx };
        free_all(ts, 3);
    }
    CHECK_EQ_I(cc_live_storages(), s0);
}

/* ---- binary ---- */

TEST_GROUP(ops_binary)
{
    int64_t s0 = cc_live_storages();
    for (int ref = 0; ref < 2; ref++) {
        cc_set_reference_kernels(ref);
        for (int di = 0; di < 2; di++)
            for (int op = CC_BINARY_ADD; op <= CC_BINARY_DIV; op++) {
                int dt = float_dtypes[di];
                cc_tensor *a = make(3, SHAPE(4, 33, 5), dt, 1, -2, 2);
                cc_tensor *bsmall = make(3, SHAPE(1, 33, 1), dt, 0, 0.5, 2), *b = NULL;   /* broadcast: stride 0 */
                cc_tensor_expand(&b, bsmall, 3, SHAPE(4, 33, 5));
                cc_tensor *out = make(3, SHAPE(4, 33, 5), dt, 2, 0, 0);
                int64_t n = cc_tensor_numel(a);
                double *want = malloc(sizeof(double) * (size_t)n);
                for (int64_t i = 0; i < n; i++) {
                    double u = get_lin(a, i), v = get_lin(b, i);
                    want[i] = op == CC_BINARY_ADD ? u + v : op == CC_BINARY_SUB ? u - v : op == CC_BINARY_MUL ? u * v : u / v;
                }
                CHECK_OK(cc_binary_forward(out, a, b, op));
                CHECK_MSG(near(out, want, tol_of(dt), 0, "binary"), "binary op %d dtype %d ref %d", op, dt, ref);
                CHECK_OK(cc_binary_forward(a, a, b, op));   /* in place into a */
                CHECK_MSG(near(a, want, tol_of(dt), 0, "binary in place"), "binary in place op %d", op);
                free(want);
                cc_tensor *ts[4] = { a, bsmall, b, out };
                free_all(ts, 4);
            }
    }
    cc_set_reference_kernels(0);
    /* bf16 big (parallel) */
    {
        cc_tensor *a = make(1, SHAPE(100003), CC_BF16, 0, -2, 2), *b = make(1, SHAPE(100003), CC_BF16, 0, -2, 2);
        cc_tensor *out = dense(1, SHAPE(100003), CC_BF16);
        double *want = malloc(sizeof(double) * 100003);
        for (int64_t i = 0; i < 100003; i++) want[i] = cc_bf16_to_f32(cc_f32_to_bf16((float)(get_lin(a, i) * get_lin(b, i))));
        CHECK_OK(cc_binary_forward(out, a, b, CC_BINARY_MUL));
        CHECK(near(out, want, 0, 0, "bf16 mul exact rounding"));
        free(want);
        cc_tensor *ts[3] = { a, b, out };
        free_all(ts, 3);
    }
    CHECK_EQ_I(cc_live_storages(), s0);
}

/* ---- sum_to ---- */

/* want[o] = scale * sum of x over positions that map to out element o */
static void sum_ref(const cc_tensor *x, const cc_tensor *out, double scale, double *want)
{
    int64_t no = cc_tensor_numel(out), nx = cc_tensor_numel(x), lead = x->ndim - out->ndim;
    for (int64_t o = 0; o < no; o++) want[o] = 0;
    for (int64_t i = 0; i < nx; i++) {
        int64_t idx[8], o = 0;
        unravel(x, i, idx);
        for (int d = 0; d < out->ndim; d++) o = o * out->shape[d] + (out->shape[d] == 1 ? 0 : idx[lead + d]);
        want[o] += get_lin(x, i);
    }
    for (int64_t o = 0; o < no; o++) want[o] *= scale;
}

TEST_GROUP(ops_sum_to)
{
    int64_t s0 = cc_live_storages();
    struct { int nd; int64_t shape[3]; } outs[] = {
        { 2, { 4, 1 } }, { 1, { 5 } }, { 0, { 0 } }, { 3, { 3, 1, 5 } }, { 3, { 1, 4, 5 } }, { 3, { 3, 4, 5 } }, { 2, { 1, 1 } },
    };
    for (int ref = 0; ref < 2; ref++) {
        cc_set_reference_kernels(ref);
        for (int di = 0; di < 2; di++)
            for (int layout = 0; layout < 3; layout++)
                for (size_t k = 0; k < sizeof outs / sizeof outs[0]; k++) {
                    int dt = float_dtypes[di];
                    cc_tensor *x = make(3, SHAPE(3, 4, 5), dt, layout, -1, 1);
                    cc_tensor *out = make(outs[k].nd, outs[k].shape, dt, (layout + 1) % 3, 0, 0);
                    double want[64];
                    sum_ref(x, out, 0.5, want);
                    CHECK_OK(cc_sum_to(out, x, 0.5));
                    CHECK_MSG(near(out, want, tol_of(dt), 1e-6, "sum_to"), "sum_to case %zu layout %d dtype %d ref %d", k, layout, dt, ref);
                    cc_tensor_free(x); cc_tensor_free(out);
                }
    }
    cc_set_reference_kernels(0);
    /* big sums: full, over rows, over columns, broadcast input; thread-count independent */
    {
        cc_tensor *base = make(2, SHAPE(1, 3001), CC_F32, 0, -1, 1), *xb = NULL;
        cc_tensor_expand(&xb, base, 2, SHAPE(150, 3001));
        cc_tensor *xs[2] = { make(2, SHAPE(150, 3001), CC_F32, 1, -1, 1), xb };
        struct { int nd; int64_t shape[2]; } bigouts[] = { { 0, { 0 } }, { 2, { 150, 1 } }, { 1, { 3001 } } };
        for (int xi = 0; xi < 2; xi++)
            for (int k = 0; k < 3; k++) {
                cc_tensor *o1 = dense(bigouts[k].nd, bigouts[k].shape, CC_F32), *o2 = dense(bigouts[k].nd, bigouts[k].shape, CC_F32);
                double *want = malloc(sizeof(double) * 3001);
                sum_ref(xs[xi], o1, 1.0 / 7, want);
                int nt = cc_get_num_threads();
                cc_set_num_threads(1);
                CHECK_OK(cc_sum_to(o1, xs[xi], 1.0 / 7));
                cc_set_num_threads(nt > 1 ? nt : 2);
                CHECK_OK(cc_sum_to(o2, xs[xi], 1.0 / 7));
                cc_set_num_threads(nt);
                CHECK_MSG(near(o1, want, 1e-6, 1e-6, "big sum"), "big sum x %d case %d", xi, k);
                CHECK_MSG(bitwise_same(o1, o2), "sum_to depends on the thread count (x %d case %d)", xi, k);
                free(want);
                cc_tensor_free(o1); cc_tensor_free(o2);
            }
        cc_tensor_free(base); cc_tensor_free(xs[0]); cc_tensor_free(xs[1]);
    }
    /* empty reduction writes zeros */
    {
        cc_tensor *x = dense(2, SHAPE(0, 3), CC_F64), *out = fill_const(dense(1, SHAPE(3), CC_F64), 5);
        CHECK_OK(cc_sum_to(out, x, 1.0));
        CHECK(all_equal(out, 0.0));
        cc_tensor_free(x); cc_tensor_free(out);
    }
    CHECK_EQ_I(cc_live_storages(), s0);
}

/* ---- max_dim ---- */

TEST_GROUP(ops_max_dim)
{
    int64_t s0 = cc_live_storages();
    for (int di = 0; di < 2; di++)
        for (int dim = 0; dim < 3; dim++) {
            int dt = float_dtypes[di];
            cc_tensor *x = make(3, SHAPE(4, 6, 5), dt, dim % 3, -3, 3);
            /* ties and a NaN: x[0, *, 0] all equal -> first wins along dim 1; a NaN in row (1, *, 2) */
            for (int64_t j = 0; j < 6; j++) cc_tensor_set(x, (int64_t[]){ 0, j, 0 }, 9.0);
            cc_tensor_set(x, (int64_t[]){ 1, 3, 2 }, NAN);
            int64_t vs[3] = { 4, 6, 5 };
            vs[dim] = 1;
            cc_tensor *v = dense(3, vs, dt), *ix = dense(3, vs, CC_I64);
            CHECK_OK(cc_max_dim(v, ix, x, dim));
            int64_t n = cc_tensor_numel(v), bad = 0;
            for (int64_t o = 0; o < n; o++) {
                int64_t idx[8];
                unravel(v, o, idx);
                double best = -INFINITY;
                int64_t at = -1;
                for (int64_t i = 0; i < x->shape[dim]; i++) {
                    idx[dim] = i;
                    double e = get(x, idx);
                    if (at < 0 || (!isnan(best) && (e > best || isnan(e)))) { best = e; at = i; }
                }
                idx[dim] = 0;
                double gv = get(v, idx), gi = get(ix, idx);
                if (!((gv == best || (isnan(gv) && isnan(best))) && gi == (double)at)) bad++;
            }
            CHECK_MSG(bad == 0, "max_dim dim %d dtype %d: %lld wrong", dim, dt, (long long)bad);
            cc_tensor *ts[3] = { x, v, ix };
            free_all(ts, 3);
        }
    CHECK_EQ_I(cc_live_storages(), s0);
}

/* ---- softmax ---- */

TEST_GROUP(ops_softmax)
{
    int64_t s0 = cc_live_storages();
    for (int ref = 0; ref < 2; ref++) {
        cc_set_reference_kernels(ref);
        for (int di = 0; di < 2; di++)
            for (int lg = 0; lg < 2; lg++)
                for (int dim = 0; dim < 3; dim++) {
                    int dt = float_dtypes[di];
                    int64_t shape[3] = { 3, 7, 11 };
                    cc_tensor *x = make(3, shape, dt, dim % 3, -30, 30), *out = make(3, shape, dt, (dim + 1) % 3, 0, 0);
                    cc_tensor *dout = make(3, shape, dt, 1, -1, 1), *dx = make(3, shape, dt, 2, 0, 0);
                    int64_t n = cc_tensor_numel(x);
                    double *y = malloc(sizeof(double) * (size_t)n), *g = malloc(sizeof(double) * (size_t)n);
                    for (int64_t i = 0; i < n; i++) {
                        int64_t idx[8];
                        unravel(x, i, idx);
                        double m = -INFINITY, s = 0, xi = get(x, idx);
                        for (int64_t k = 0; k < shape[dim]; k++) { idx[dim] = k; m = fmax(m, get(x, idx)); }
                        for (int64_t k = 0; k < shape[dim]; k++) { idx[dim] = k; s += exp(get(x, idx) - m); }
                        y[i] = lg ? xi - m - log(s) : exp(xi - m) / s;
                    }
                    CHECK_OK(cc_softmax_forward(out, x, dim, lg));
                    CHECK_MSG(near(out, y, tol_of(dt), 1e-6, "softmax"), "softmax log %d dim %d dtype %d ref %d", lg, dim, dt, ref);
                    for (int64_t i = 0; i < n; i++) {   /* backward from the forward's output */
                        int64_t idx[8];
                        unravel(x, i, idx);
                        double s = 0, yi = get(out, idx), gi = get(dout, idx);
                        for (int64_t k = 0; k < shape[dim]; k++) {
                            idx[dim] = k;
                            s += lg ? get(dout, idx) : get(dout, idx) * get(out, idx);
                        }
                        g[i] = lg ? gi - exp(yi) * s : yi * (gi - s);
                    }
                    CHECK_OK(cc_softmax_backward(dx, out, dout, dim, lg));
                    CHECK_MSG(near(dx, g, tol_of(dt), 1e-6, "softmax_backward"), "softmax_backward log %d dim %d dtype %d ref %d", lg, dim, dt, ref);
                    free(y); free(g);
                    cc_tensor *ts[4] = { x, out, dout, dx };
                    free_all(ts, 4);
                }
    }
    cc_set_reference_kernels(0);
    CHECK_EQ_I(cc_live_storages(), s0);
}

/* ---- matmul ---- */

static void matmul_case(int dt, int la, int lb, int lo, int expand_b, int ref)
{
    int64_t B = 2, M = 5, K = 7, N = 3;
    cc_tensor *a = make(3, SHAPE(B, M, K), dt, la, -1, 1), *bs = NULL, *b = NULL;
    if (expand_b) {
        bs = make(3, SHAPE(1, K, N), dt, lb, -1, 1);
        cc_tensor_expand(&b, bs, 3, SHAPE(B, K, N));
    } else {
        b = make(3, SHAPE(B, K, N), dt, lb, -1, 1);
    }
    cc_tensor *out = make(3, SHAPE(B, M, N), dt, lo, 0, 0);
    double want[2 * 5 * 3];
    for (int64_t bi = 0; bi < B; bi++)
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) {
                double s = 0;
                for (int64_t k = 0; k < K; k++) s += get(a, (int64_t[]){ bi, i, k }) * get(b, (int64_t[]){ bi, k, j });
                want[(bi * M + i) * N + j] = s;
            }
    CHECK_OK(cc_matmul(out, a, b));
    CHECK_MSG(near(out, want, tol_of(dt), tol_of(dt), "matmul"), "matmul dtype %d layouts %d %d %d expand %d ref %d", dt, la, lb, lo, expand_b, ref);
    cc_tensor *ts[4] = { a, b, out, bs };
    free_all(ts, bs ? 4 : 3);
}

TEST_GROUP(ops_matmul)
{
    int64_t s0 = cc_live_storages();
    for (int ref = 0; ref < 2; ref++) {
        cc_set_reference_kernels(ref);
        for (int dt = CC_F32; dt <= CC_BF16; dt++)
            for (int l = 0; l < 27; l++)
                if (dt <= CC_F64 || l % 5 == 0) matmul_case(dt, l % 3, (l / 3) % 3, l / 9, l % 2, ref);
    }
    cc_set_reference_kernels(0);
    /* K = 0 gives zeros; M = 0 writes nothing */
    {
        cc_tensor *a = dense(2, SHAPE(3, 0), CC_F32), *b = dense(2, SHAPE(0, 4), CC_F32), *out = fill_const(dense(2, SHAPE(3, 4), CC_F32), 5);
        CHECK_OK(cc_matmul(out, a, b));
        CHECK(all_equal(out, 0.0));
        cc_tensor *ts[3] = { a, b, out };
        free_all(ts, 3);
    }
    CHECK_EQ_I(cc_live_storages(), s0);
}

/* ---- index_select / index_add ---- */

static cc_tensor *index_tensor(int dt, int n, const int64_t *vals, int strided)
{
    cc_tensor *base = dense(1, SHAPE(strided ? 2 * n : n), dt), *t = NULL;
    if (strided) {
        cc_tensor_as_strided(&t, base, 1, SHAPE(n), SHAPE(2), 1);
        cc_tensor_free(base);
    } else {
        t = base;
    }
    for (int i = 0; i < n; i++) set_lin(t, i, (double)vals[i]);
    return t;
}

TEST_GROUP(ops_index)
{
    int64_t s0 = cc_live_storages();
    int64_t vals[6] = { 2, 0, 3, 2, 2, 1 };
    for (int di = 0; di < 2; di++)
        for (int idt = CC_I32; idt <= CC_I64; idt++)
            for (int dim = 0; dim < 3; dim++) {
                int dt = float_dtypes[di];
                int64_t xs[3] = { 4, 5, 6 }, os[3] = { 4, 5, 6 };
                os[dim] = 6;
                cc_tensor *x = make(3, xs, dt, dim % 3, -2, 2), *idx = index_tensor(idt, 6, vals, dim == 1);
                cc_tensor *out = make(3, os, dt, (dim + 1) % 3, 0, 0);
                int64_t n = cc_tensor_numel(out);
                double *want = malloc(sizeof(double) * (size_t)n);
                for (int64_t i = 0; i < n; i++) {
                    int64_t p[8];
                    unravel(out, i, p);
                    p[dim] = vals[p[dim]];
                    want[i] = get(x, p);
                }
                CHECK_OK(cc_index_select(out, x, dim, idx));
                CHECK_MSG(near(out, want, 0, 0, "index_select"), "index_select dim %d dtype %d index %d", dim, dt, idt);
                /* index_add: target (4,5,6) += src (out's shape) at index; duplicates accumulate */
                cc_tensor *acc = make(3, xs, dt, 2, -1, 1);
                int64_t na = cc_tensor_numel(acc);
                double *wa = malloc(sizeof(double) * (size_t)na);
                for (int64_t i = 0; i < na; i++) wa[i] = get_lin(acc, i);
                for (int64_t i = 0; i < n; i++) {
                    int64_t p[8];
                    unravel(out, i, p);
                    double v = get(out, p);
                    p[dim] = vals[p[dim]];
                    int64_t lin = (p[0] * xs[1] + p[1]) * xs[2] + p[2];
                    wa[lin] = dt == CC_F32 ? (double)(float)(wa[lin] + v) : wa[lin] + v;
                }
                CHECK_OK(cc_index_add(acc, dim, idx, out));
                CHECK_MSG(near(acc, wa, tol_of(dt), 1e-6, "index_add"), "index_add dim %d dtype %d index %d", dim, dt, idt);
                free(want); free(wa);
                cc_tensor *ts[4] = { x, idx, out, acc };
                free_all(ts, 4);
            }
    /* embedding-sized index_add is thread-count independent (duplicates in f32) */
    {
        int64_t T = 3000, V = 17, D = 40, *v = malloc(sizeof(int64_t) * (size_t)T);
        for (int64_t i = 0; i < T; i++) v[i] = (int64_t)urand(0, (double)V);
        cc_tensor *idx = index_tensor(CC_I64, (int)T, v, 0), *src = make(2, SHAPE(T, D), CC_F32, 0, -1, 1);
        cc_tensor *o1 = fill_const(dense(2, SHAPE(V, D), CC_F32), 0), *o2 = fill_const(dense(2, SHAPE(V, D), CC_F32), 0);
        int nt = cc_get_num_threads();
        cc_set_num_threads(1);
        CHECK_OK(cc_index_add(o1, 0, idx, src));
        cc_set_num_threads(nt > 1 ? nt : 2);
        CHECK_OK(cc_index_add(o2, 0, idx, src));
        cc_set_num_threads(nt);
        CHECK(bitwise_same(o1, o2));
        free(v);
        cc_tensor *ts[4] = { idx, src, o1, o2 };
        free_all(ts, 4);
    }
    CHECK_EQ_I(cc_live_storages(), s0);
}

/* ---- cross entropy ---- */

TEST_GROUP(ops_cross_entropy)
{
    int64_t s0 = cc_live_storages();
    int64_t N = 9, C = 6, tv[9] = { 0, 5, -100, 3, 3, 1, -100, 2, 4 };
    for (int di = 0; di < 2; di++)
        for (int layout = 0; layout < 3; layout++) {
            int dt = float_dtypes[di];
            cc_tensor *logits = make(2, SHAPE(N, C), dt, layout, -5, 5), *target = index_tensor(layout == 1 ? CC_I32 : CC_I64, 9, tv, layout == 2);
            cc_tensor *loss = dense(0, NULL, dt), *dloss = fill_const(dense(1, SHAPE(1), dt), 0.75);
            cc_tensor *dlogits = make(2, SHAPE(N, C), dt, (layout + 1) % 3, 0, 0);
            double total = 0, want_d[9 * 6];
            int count = 0;
            for (int64_t r = 0; r < N; r++) if (tv[r] != -100) count++;
            for (int64_t r = 0; r < N; r++) {
                double m = -INFINITY, s = 0;
                for (int64_t c = 0; c < C; c++) m = fmax(m, get(logits, (int64_t[]){ r, c }));
                for (int64_t c = 0; c < C; c++) s += exp(get(logits, (int64_t[]){ r, c }) - m);
                for (int64_t c = 0; c < C; c++)
                    want_d[r * C + c] = tv[r] == -100 ? 0
                        : (exp(get(logits, (int64_t[]){ r, c }) - m) / s - (c == tv[r])) * 0.75 / count;
                if (tv[r] != -100) total += m + log(s) - get(logits, (int64_t[]){ r, tv[r] });
            }
            double want = total / count;
            CHECK_OK(cc_cross_entropy_forward(loss, logits, target, -100));
            CHECK_MSG(near(loss, &want, tol_of(dt), 0, "cross_entropy"), "cross_entropy layout %d dtype %d", layout, dt);
            CHECK_OK(cc_cross_entropy_backward(dlogits, logits, target, dloss, -100));
            CHECK_MSG(near(dlogits, want_d, tol_of(dt), 1e-7, "cross_entropy_backward"), "cross_entropy_backward layout %d dtype %d", layout, dt);
            /* every row ignored: loss 0, gradient 0 */
            cc_tensor *all = index_tensor(CC_I64, 9, (int64_t[]){ 7, 7, 7, 7, 7, 7, 7, 7, 7 }, 0);
            CHECK_OK(cc_cross_entropy_forward(loss, logits, all, 7));
            CHECK(get_lin(loss, 0) == 0.0);
            CHECK_OK(cc_cross_entropy_backward(dlogits, logits, all, dloss, 7));
            CHECK(all_equal(dlogits, 0.0));
            /* a target out of range other than ignore_index: error, outputs untouched */
            fill_const(loss, 3);
            CHECK_ERR(cc_cross_entropy_forward(loss, logits, target, -1), CC_ERR_ARGUMENT, "got -100 at position 2");
            CHECK(all_equal(loss, 3.0));
            cc_tensor *ts[6] = { logits, target, loss, dloss, dlogits, all };
            free_all(ts, 6);
        }
    CHECK_EQ_I(cc_live_storages(), s0);
}

/* ---- rms norm ---- */

TEST_GROUP(ops_rms_norm)
{
    int64_t s0 = cc_live_storages();
    for (int ref = 0; ref < 2; ref++) {
        cc_set_reference_kernels(ref);
        for (int di = 0; di < 2; di++)
            for (int wi = 0; wi < 2; wi++)
                for (int layout = 0; layout < 3; layout++) {
                    int dt = float_dtypes[di], rdt = dt == CC_F64 ? CC_F64 : CC_F32;
                    int64_t R0 = 3, R1 = 70, D = 9;   /* 210 rows: several dweight chunks */
                    double eps = 1e-5;
                    cc_tensor *x = make(3, SHAPE(R0, R1, D), dt, layout, -2, 2), *w = wi ? make(1, SHAPE(D), dt, 0, 0.5, 1.5) : NULL;
                    cc_tensor *out = make(3, SHAPE(R0, R1, D), dt, (layout + 1) % 3, 0, 0), *rstd = make(2, SHAPE(R0, R1), rdt, layout, 0, 0);
                    cc_tensor *dout = make(3, SHAPE(R0, R1, D), dt, 2, -1, 1), *dx = make(3, SHAPE(R0, R1, D), dt, 1, 0, 0);
                    cc_tensor *dw = make(1, SHAPE(D), dt, 0, 0, 0);
                    int64_t n = cc_tensor_numel(x), rows = R0 * R1;
                    double *wo = malloc(sizeof(double) * (size_t)n), *wdx = malloc(sizeof(double) * (size_t)n);
                    double *wr = malloc(sizeof(double) * (size_t)rows), wdw[9] = { 0 };
                    for (int64_t r = 0; r < rows; r++) {
                        double ss = 0, dot = 0;
                        for (int64_t k = 0; k < D; k++) ss += get_lin(x, r * D + k) * get_lin(x, r * D + k);
                        double rs = 1 / sqrt(ss / D + eps);
                        wr[r] = rs;
                        for (int64_t k = 0; k < D; k++) {
                            double wk = w ? get_lin(w, k) : 1, xv = get_lin(x, r * D + k), g = get_lin(dout, r * D + k);
                            wo[r * D + k] = xv * rs * wk;
                            dot += g * wk * xv;
                            wdw[k] += g * xv * rs;
                        }
                        for (int64_t k = 0; k < D; k++) {
                            double wk = w ? get_lin(w, k) : 1, xv = get_lin(x, r * D + k), g = get_lin(dout, r * D + k);
                            wdx[r * D + k] = rs * g * wk - xv * rs * rs * rs * dot / D;
                        }
                    }
                    CHECK_OK(cc_rms_norm_forward(out, rstd, x, w, eps));
                    CHECK_MSG(near(out, wo, tol_of(dt), 1e-6, "rms_norm"), "rms_norm w %d layout %d dtype %d ref %d", wi, layout, dt, ref);
                    CHECK_MSG(near(rstd, wr, tol_of(dt), 0, "rstd"), "rstd w %d layout %d dtype %d", wi, layout, dt);
                    CHECK_OK(cc_rms_norm_backward(dx, dw, x, w, rstd, dout));
                    CHECK_MSG(near(dx, wdx, 10 * tol_of(dt), 1e-5, "rms_norm dx"), "rms_norm dx w %d layout %d dtype %d ref %d", wi, layout, dt, ref);
                    CHECK_MSG(near(dw, wdw, 10 * tol_of(dt), 1e-5, "rms_norm dweight"), "rms_norm dweight w %d layout %d dtype %d ref %d", wi, layout, dt, ref);
                    free(wo); free(wdx); free(wr);
                    cc_tensor *ts[7] = { x, out, rstd, dout, dx, dw, w };
                    free_all(ts, w ? 7 : 6);
                }
    }
    cc_set_reference_kernels(0);
    CHECK_EQ_I(cc_live_storages(), s0);
}

/* ---- errors: named op and argument, outputs untouched ---- */

TEST_GROUP(ops_errors)
{
    int64_t s0 = cc_live_storages();
    cc_tensor *x = make(2, SHAPE(3, 4), CC_F32, 0, -1, 1), *x64 = make(2, SHAPE(3, 4), CC_F64, 0, -1, 1);
    cc_tensor *out = fill_const(dense(2, SHAPE(3, 4), CC_F32), 7), *o5 = fill_const(dense(2, SHAPE(3, 5), CC_F32), 7);
    cc_tensor *big = make(2, SHAPE(4, 4), CC_F32, 0, -1, 1), *shifted = NULL, *head = NULL, *bcast = NULL;
    cc_tensor_narrow(&shifted, big, 0, 1, 3);     /* rows 1..3 */
    cc_tensor_narrow(&head, big, 0, 0, 3);        /* rows 0..2: overlaps shifted partially */
    cc_tensor *one = fill_const(dense(2, SHAPE(1, 4), CC_F32), 7);
    cc_tensor_expand(&bcast, one, 2, SHAPE(3, 4));

    CHECK_ERR(cc_unary_forward(out, x, 99, 0), CC_ERR_ARGUMENT, "unary_forward: op");
    CHECK_ERR(cc_unary_forward(out, x64, CC_UNARY_EXP, 0), CC_ERR_DTYPE, "unary_forward: out");
    CHECK_ERR(cc_unary_forward(o5, x, CC_UNARY_EXP, 0), CC_ERR_SHAPE, "unary_forward: x");
    CHECK_ERR(cc_unary_forward(NULL, x, CC_UNARY_EXP, 0), CC_ERR_ARGUMENT, "unary_forward: out");
    CHECK_ERR(cc_unary_forward(shifted, head, CC_UNARY_EXP, 0), CC_ERR_ARGUMENT, "unary_forward");
    CHECK_ERR(cc_unary_forward(bcast, x, CC_UNARY_EXP, 0), CC_ERR_ARGUMENT, "unary_forward: out: expected an output whose elements do not overlap");
    CHECK_ERR(cc_binary_forward(out, x, x64, CC_BINARY_ADD), CC_ERR_DTYPE, "binary_forward: b");
    CHECK_ERR(cc_sum_to(o5, x, 1), CC_ERR_SHAPE, "sum_to: out");
    CHECK_ERR(cc_sum_to(x, x, 1), CC_ERR_ARGUMENT, "sum_to");
    CHECK_ERR(cc_softmax_forward(out, x, 2, 0), CC_ERR_ARGUMENT, "softmax_forward: dim");
    CHECK_ERR(cc_softmax_forward(x, x, 1, 0), CC_ERR_ARGUMENT, "softmax_forward");
    CHECK_ERR(cc_matmul(out, x, x), CC_ERR_SHAPE, "matmul: b");
    {
        cc_tensor *v = dense(2, SHAPE(3, 1), CC_F32), *ix = dense(2, SHAPE(3, 1), CC_I32);
        CHECK_ERR(cc_max_dim(v, ix, x, 1), CC_ERR_DTYPE, "max_dim: indices");
        cc_tensor_free(v); cc_tensor_free(ix);
    }
    {
        cc_tensor *idx = index_tensor(CC_I64, 3, (int64_t[]){ 0, 4, 1 }, 0), *o = fill_const(dense(2, SHAPE(3, 3), CC_F32), 7);
        CHECK_ERR(cc_index_select(o, x, 1, idx), CC_ERR_ARGUMENT, "index_select: index: expected values in [0, 4) (0-based), got 4 at position 1");
        CHECK(all_equal(o, 7.0));
        cc_tensor *src = fill_const(dense(2, SHAPE(3, 3), CC_F32), 1);
        CHECK_ERR(cc_index_add(out, 1, idx, src), CC_ERR_ARGUMENT, "index_add: index");
        cc_tensor_free(idx); cc_tensor_free(o); cc_tensor_free(src);
    }
    {
        cc_tensor *w = dense(1, SHAPE(5), CC_F32), *r = dense(1, SHAPE(3), CC_F64);
        CHECK_ERR(cc_rms_norm_forward(out, NULL, x, w, 1e-5), CC_ERR_SHAPE, "rms_norm_forward: weight");
        CHECK_ERR(cc_rms_norm_forward(out, r, x, NULL, 1e-5), CC_ERR_DTYPE, "rms_norm_forward: rstd");
        CHECK_ERR(cc_rms_norm_forward(out, NULL, x, NULL, -1), CC_ERR_ARGUMENT, "rms_norm_forward: eps");
        cc_tensor_free(w); cc_tensor_free(r);
    }
    CHECK(all_equal(out, 7.0));
    CHECK(all_equal(o5, 7.0));
    CHECK(all_equal(one, 7.0));
    cc_tensor *ts[9] = { x, x64, out, o5, big, shifted, head, one, bcast };
    free_all(ts, 9);
    CHECK_EQ_I(cc_live_storages(), s0);
}
