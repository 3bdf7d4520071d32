/* Argument validation of the conv entry points, through the public API only (core/causalconv.h):
   cc_causal_conv1d_forward / _backward / _update / _varlen_forward / _varlen_backward /
   _varlen_states. The rules are the comment block at the top of core/causal_conv1d.c.

   Every rejected call must return the right status, a message that starts with the op and names
   the argument ("causal_conv1d_forward: weight: ..."), and leave every tensor it was handed
   untouched: outputs are filled with a sentinel before the call and the whole storage of every
   argument is compared byte for byte after it. The accepted cases (optional arguments left out,
   dtypes independent of x, W = 1 and 16, padding rows, interleaved but disjoint outputs) must
   succeed. Zero-size batches, channels and lengths are in their own group, conv_zero_size; each of
   its cases runs in a child process (CC_TEST_NO_FORK=1 runs them in-process, for a debugger), so
   a kernel that crashes on them fails the case instead of the whole run. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
#include "test.h"

enum { FWD, BWD, UPD, VFWD, VBWD, VST, NOPS };
#define MAXA 11

static const char *const op_name[NOPS] = {
    "causal_conv1d_forward", "causal_conv1d_backward", "causal_conv1d_update",
    "causal_conv1d_varlen_forward", "causal_conv1d_varlen_backward", "causal_conv1d_varlen_states",
};
/* the arguments of each op in parameter order; the first n_outs[op] are outputs */
static const char *const arg_name[NOPS][MAXA] = {
    [FWD] = { "out", "final_states", "x", "weight", "bias", "seq_idx", "initial_states" },
    [BWD] = { "dx", "dweight", "dbias", "dinitial_states", "x", "weight", "bias", "dout", "seq_idx", "initial_states",
              "dfinal_states" },
    [UPD] = { "out", "conv_state", "x", "weight", "bias", "cache_seqlens", "conv_state_indices" },
    [VFWD] = { "out", "final_states", "x", "weight", "bias", "cu_seqlens", "initial_states" },
    [VBWD] = { "dx", "dweight", "dbias", "dinitial_states", "x", "weight", "bias", "dout", "cu_seqlens", "initial_states",
               "dfinal_states" },
    [VST] = { "states", "x", "cu_seqlens" },
};
static const int n_args[NOPS] = { 7, 11, 7, 7, 11, 3 };
static const int n_outs[NOPS] = { 2, 4, 2, 2, 4, 1 };

static int is(const char *a, const char *b) { return strcmp(a, b) == 0; }

static int is_required(const char *name)
{
    static const char *const req[] = { "out", "x", "weight", "dx", "dweight", "dout", "conv_state", "cu_seqlens", "states" };
    for (size_t i = 0; i < sizeof req / sizeof req[0]; i++)
        if (is(name, req[i])) return 1;
    return 0;
}

static int is_state(const char *name)
{
    return is(name, "initial_states") || is(name, "final_states") || is(name, "dinitial_states") || is(name, "dfinal_states");
}

/* ---- tensors ------------------------------------------------------------------------------ */

static int is_float(int dt) { return dt == CC_F32 || dt == CC_F64 || dt == CC_F16 || dt == CC_BF16; }

static cc_tensor *mk(int dtype, int ndim, const int64_t *shape)
{
    cc_tensor *t = NULL;
    if (cc_tensor_empty(&t, ndim, shape, dtype, CC_CPU, 0) != CC_OK) {
        printf("  cannot allocate a test tensor: %s\n", cc_last_error());
        abort();
    }
    if (is_float(dtype)) cc_tensor_randn(t, 0, 1);
    else cc_tensor_fill(t, 0);
    return t;
}

/* same shape and values, another dtype */
static cc_tensor *mk_like(const cc_tensor *t, int dtype)
{
    cc_tensor *u = mk(dtype, t->ndim, t->shape);
    if (cc_tensor_numel(t) > 0) cc_tensor_copy(u, t);
    return u;
}

static cc_tensor *clone(const cc_tensor *t)
{
    cc_tensor *u = NULL;
    cc_tensor_clone(&u, t);
    return u;
}

static void set1(cc_tensor *t, int64_t i, double v) { cc_tensor_set(t, (const int64_t[]){ i }, v); }

/* the contiguous strides of shape */
static void contiguous_strides(int ndim, const int64_t *shape, int64_t *stride)
{
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        stride[i] = s;
        s *= shape[i] ? shape[i] : 1;
    }
}

static int all_equal(const cc_tensor *a, double v)
{
    int64_t n = cc_tensor_numel(a), idx[8] = { 0 };
    for (int64_t k = 0; k < n; k++) {
        double x;
        int64_t rem = k;
        for (int i = a->ndim - 1; i >= 0; i--) { idx[i] = rem % a->shape[i]; rem /= a->shape[i]; }
        cc_tensor_get(a, idx, &x);
        if (x != v) return 0;
    }
    return 1;
}

/* ---- one call: its op, activation and arguments (owned) ---------------------------------- */

typedef struct conv_call {
    int op, act;
    cc_tensor *t[MAXA];
} conv_call;

typedef struct conv_cfg {
    int64_t B, D, L, W;        /* L is S for update; varlen takes T from cu */
    int64_t SL, pool;          /* update: state_len and pool rows; varlen_states: state_len */
    int dt, wdt, sdt;          /* dtypes of x, of weight/bias, of the states */
    int ncu;                   /* varlen: cu_seqlens values */
    int64_t cu[8];
} conv_cfg;

static conv_cfg default_cfg(void)
{
    conv_cfg c = { .B = 2, .D = 3, .L = 5, .W = 4, .SL = 5, .pool = 4, .dt = CC_F32, .wdt = CC_F32, .sdt = CC_F32,
                   .ncu = 4, .cu = { 0, 1, 3, 7 } };
    return c;
}

static int slot(const conv_call *c, const char *name)
{
    for (int i = 0; i < n_args[c->op]; i++)
        if (is(arg_name[c->op][i], name)) return i;
    printf("  test bug: %s has no argument %s\n", op_name[c->op], name);
    abort();
}

static cc_tensor *get(const conv_call *c, const char *name) { return c->t[slot(c, name)]; }

/* replaces an argument (the old tensor is freed) */
static void put(conv_call *c, const char *name, cc_tensor *t)
{
    int i = slot(c, name);
    cc_tensor_free(c->t[i]);
    c->t[i] = t;
}

static void free_call(conv_call *c)
{
    for (int i = 0; i < MAXA; i++) cc_tensor_free(c->t[i]);
    memset(c, 0, sizeof *c);
}

static conv_call make_call(int op, const conv_cfg *g)
{
    conv_call c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.act = CC_ACT_SILU;
    int64_t B = g->B, D = g->D, L = g->L, W = g->W, ext = W - 1;
    int64_t N = g->ncu - 1, T = g->cu[g->ncu - 1];
    cc_tensor *x, *weight = mk(g->wdt, 2, SHAPE(D, W)), *bias = mk(g->wdt, 1, SHAPE(D));
    cc_tensor *cu = NULL;
    if (op == VFWD || op == VBWD || op == VST) {
        x = mk(g->dt, 2, SHAPE(T, D));
        cu = mk(CC_I32, 1, SHAPE(g->ncu));
        for (int i = 0; i < g->ncu; i++) set1(cu, i, (double)g->cu[i]);
    } else {
        x = mk(g->dt, 3, SHAPE(B, D, L));
    }
    cc_tensor *seq_idx = NULL;
    if (op == FWD || op == BWD) {
        seq_idx = mk(CC_I32, 2, SHAPE(B, L));
        for (int64_t b = 0; b < B; b++)
            for (int64_t p = 0; p < L; p++) cc_tensor_set(seq_idx, (const int64_t[]){ b, p }, p >= L / 2 ? 1 : 0);
    }
    int64_t R = op == FWD || op == BWD ? B : N;    /* rows of the state tensors */
    switch (op) {
    case FWD:
    case VFWD:
        c.t[0] = mk_like(x, g->dt);                          /* out */
        c.t[1] = mk(g->sdt, 3, SHAPE(R, D, ext));            /* final_states */
        c.t[2] = x;
        c.t[3] = weight;
        c.t[4] = bias;
        c.t[5] = op == FWD ? seq_idx : cu;
        c.t[6] = mk(g->sdt, 3, SHAPE(R, D, ext));            /* initial_states */
        break;
    case BWD:
    case VBWD:
        c.t[0] = mk_like(x, g->dt);                          /* dx */
        c.t[1] = mk(g->wdt, 2, SHAPE(D, W));                 /* dweight */
        c.t[2] = mk(g->wdt, 1, SHAPE(D));                    /* dbias */
        c.t[3] = mk(g->sdt, 3, SHAPE(R, D, ext));            /* dinitial_states */
        c.t[4] = x;
        c.t[5] = weight;
        c.t[6] = bias;
        c.t[7] = mk(g->dt, x->ndim, x->shape);               /* dout */
        c.t[8] = op == BWD ? seq_idx : cu;
        c.t[9] = mk(g->sdt, 3, SHAPE(R, D, ext));            /* initial_states */
        c.t[10] = mk(g->sdt, 3, SHAPE(R, D, ext));           /* dfinal_states */
        break;
    case UPD: {
        c.t[0] = mk_like(x, g->dt);                          /* out */
        c.t[1] = mk(g->sdt, 3, SHAPE(g->pool, D, g->SL));    /* conv_state */
        c.t[2] = x;
        c.t[3] = weight;
        c.t[4] = bias;
        cc_tensor *cs = mk(CC_I32, 1, SHAPE(B)), *ind = mk(CC_I32, 1, SHAPE(B));
        for (int64_t b = 0; b < B; b++) {
            set1(cs, b, (double)(2 + 5 * b));
            set1(ind, b, (double)(g->pool - 1 - b));           /* distinct rows, from the end of the pool */
        }
        c.t[5] = cs;
        c.t[6] = ind;
        break;
    }
    case VST:
        cc_tensor_free(weight);
        cc_tensor_free(bias);
        c.t[0] = mk(g->sdt, 3, SHAPE(N, D, g->SL));          /* states */
        c.t[1] = x;
        c.t[2] = cu;
        break;
    }
    return c;
}

static cc_status run_call(const conv_call *c)
{
    cc_tensor *const *t = c->t;
    switch (c->op) {
    case FWD: return cc_causal_conv1d_forward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], c->act);
    case BWD: return cc_causal_conv1d_backward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], t[10], c->act);
    case UPD: return cc_causal_conv1d_update(t[0], t[1], t[2], t[3], t[4], t[5], t[6], c->act);
    case VFWD: return cc_causal_conv1d_varlen_forward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], c->act);
    case VBWD: return cc_causal_conv1d_varlen_backward(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], t[8], t[9], t[10], c->act);
    default: return cc_causal_conv1d_varlen_states(t[0], t[1], t[2]);
    }
}

/* ---- expectations ------------------------------------------------------------------------- */

#define SENTINEL 7.25

typedef struct snapshot {
    void *bytes[MAXA];
    int64_t len[MAXA];
} snapshot;

static const char *storage_base(const cc_tensor *t)
{
    const char *d = cc_tensor_data(t);
    return d ? d - t->offset * cc_dtype_size(t->dtype) : NULL;
}

/* outputs filled with the sentinel, then the whole storage of every argument copied */
static void take_snapshot(const conv_call *c, snapshot *s)
{
    memset(s, 0, sizeof *s);
    for (int i = 0; i < n_outs[c->op]; i++)
        if (c->t[i]) cc_tensor_fill(c->t[i], SENTINEL);
    for (int i = 0; i < n_args[c->op]; i++) {
        const cc_tensor *t = c->t[i];
        if (!t || !storage_base(t)) continue;
        s->len[i] = cc_tensor_storage_bytes(t);
        s->bytes[i] = malloc((size_t)s->len[i]);
        memcpy(s->bytes[i], storage_base(t), (size_t)s->len[i]);
    }
}

/* the name of the first argument whose storage changed, or NULL; frees the snapshot */
static const char *changed_since(const conv_call *c, snapshot *s)
{
    const char *changed = NULL;
    for (int i = 0; i < n_args[c->op]; i++) {
        if (!s->bytes[i]) continue;
        if (!changed && memcmp(s->bytes[i], storage_base(c->t[i]), (size_t)s->len[i]) != 0) changed = arg_name[c->op][i];
        free(s->bytes[i]);
    }
    return changed;
}

/* msg starts with "<op>: <arg>" followed by ':' or ' ' */
static int names_arg(const char *msg, const char *op, const char *arg)
{
    char p[128];
    snprintf(p, sizeof p, "%s: %s", op, arg);
    size_t n = strlen(p);
    return strncmp(msg, p, n) == 0 && (msg[n] == ':' || msg[n] == ' ');
}

/* The call fails with code, its message starts with the op and argument arg (or arg2, when not
   NULL), contains want (when not NULL), and no argument's storage changed. Frees the call. */
static void expect_fail_at(conv_call *c, cc_status code, const char *arg, const char *arg2, const char *want,
                           const char *what, int line)
{
    snapshot s;
    take_snapshot(c, &s);
    cc_clear_error();
    cc_status st = run_call(c);
    char msg[1100];
    snprintf(msg, sizeof msg, "%s", cc_last_error());
    const char *op = op_name[c->op];
    int named = names_arg(msg, op, arg) || (arg2 && names_arg(msg, op, arg2));
    if (st == code && named && (!want || strstr(msg, want))) cc_test_passed++;
    else
        cc_test_fail(__FILE__, line, "%s, %s: expected status %d naming %s%s%s%s%s%s, got %d: \"%s\"", op, what, (int)code, arg,
                     arg2 ? " or " : "", arg2 ? arg2 : "", want ? " with \"" : "", want ? want : "", want ? "\"" : "",
                     (int)st, msg);
    const char *changed = changed_since(c, &s);
    if (!changed) cc_test_passed++;
    else cc_test_fail(__FILE__, line, "%s, %s: the call returned %d but wrote to %s", op, what, (int)st, changed);
    free_call(c);
}

/* The call succeeds. Does not free the call (the caller may look at the outputs). */
static int expect_ok_at(conv_call *c, const char *what, int line)
{
    cc_clear_error();
    cc_status st = run_call(c);
    if (st == CC_OK) cc_test_passed++;
    else cc_test_fail(__FILE__, line, "%s, %s: expected success, got %d: \"%s\"", op_name[c->op], what, (int)st, cc_last_error());
    return st == CC_OK;
}

#define EXPECT_FAIL(c, code, arg, arg2, want, ...) do {                                        \
    char what_[200];                                                                            \
    snprintf(what_, sizeof what_, __VA_ARGS__);                                                 \
    conv_call c_ = (c);                                                                         \
    expect_fail_at(&c_, (code), (arg), (arg2), (want), what_, __LINE__);                        \
} while (0)

#define EXPECT_OK(c, ...) do {                                                                 \
    char what_[200];                                                                            \
    snprintf(what_, sizeof what_, __VA_ARGS__);                                                 \
    conv_call c_ = (c);                                                                         \
    expect_ok_at(&c_, what_, __LINE__);                                                         \
    free_call(&c_);                                                                             \
} while (0)

/* ---- generic checks: every argument of every op --------------------------------------------- */

/* which dims of an argument may be changed by one and must then be refused (the others are
   defined by the argument itself: x sets B, D, L / T; weight's W sets the state width;
   cu_seqlens sets N; state_len is free) */
static int dim_is_checked(const conv_call *c, const char *name, int dim)
{
    if (is(name, "x") || is(name, "cu_seqlens")) return 0;
    if (is(name, "weight")) return dim == 0;
    if (is(name, "conv_state")) return dim == 1 || (dim == 0 && !get(c, "conv_state_indices"));
    if (is(name, "states")) return dim < 2;
    return 1;
}

static void generic_checks(int op)
{
    conv_cfg g = default_cfg();
    conv_call base = make_call(op, &g);
    expect_ok_at(&base, "every argument valid", __LINE__);
    for (int i = 0; i < n_args[op]; i++) {
        const char *name = arg_name[op][i];
        const cc_tensor *orig = base.t[i];
        conv_call c;

        /* NULL */
        if (is_required(name)) {
            c = make_call(op, &g);
            put(&c, name, NULL);
            EXPECT_FAIL(c, CC_ERR_ARGUMENT, name, NULL, NULL, "%s NULL", name);
        } else if (!is(name, "conv_state_indices")) {   /* without indices the pool must be B: below */
            c = make_call(op, &g);
            put(&c, name, NULL);
            EXPECT_OK(c, "optional %s left out", name);
        }

        /* ndim one more, one less */
        int64_t shape[9];
        memcpy(shape, orig->shape, sizeof orig->shape);
        shape[orig->ndim] = 1;
        c = make_call(op, &g);
        put(&c, name, mk(orig->dtype, orig->ndim + 1, shape));
        EXPECT_FAIL(c, CC_ERR_SHAPE, name, NULL, NULL, "%s with %d dims", name, orig->ndim + 1);
        c = make_call(op, &g);
        put(&c, name, mk(orig->dtype, orig->ndim - 1, orig->shape));
        EXPECT_FAIL(c, CC_ERR_SHAPE, name, NULL, NULL, "%s with %d dims", name, orig->ndim - 1);

        /* each dim one more and one less */
        for (int d = 0; d < orig->ndim; d++) {
            if (!dim_is_checked(&base, name, d)) continue;
            for (int delta = -1; delta <= 1; delta += 2) {
                memcpy(shape, orig->shape, sizeof orig->shape);
                shape[d] += delta;
                c = make_call(op, &g);
                put(&c, name, mk(orig->dtype, orig->ndim, shape));
                EXPECT_FAIL(c, CC_ERR_SHAPE, name, NULL, NULL, "%s with dim %d %+d", name, d, delta);
            }
        }

        /* dtype: float arguments refuse integers; index arguments take i32 (cu_seqlens also i64) */
        if (is_float(orig->dtype)) {
            c = make_call(op, &g);
            put(&c, name, mk_like(get(&c, name), CC_I32));
            EXPECT_FAIL(c, CC_ERR_DTYPE, name, NULL, NULL, "%s i32", name);
        } else {
            c = make_call(op, &g);
            put(&c, name, mk_like(get(&c, name), CC_F32));
            EXPECT_FAIL(c, CC_ERR_DTYPE, name, NULL, NULL, "%s f32", name);
            c = make_call(op, &g);
            put(&c, name, mk_like(get(&c, name), CC_I64));
            if (is(name, "cu_seqlens")) EXPECT_OK(c, "cu_seqlens i64");
            else EXPECT_FAIL(c, CC_ERR_DTYPE, name, NULL, NULL, "%s i64", name);
        }

        /* outputs: an expanded view (stride 0) and a self-overlapping one (all strides 1) */
        if (i < n_outs[op]) {
            for (int d = 0; d < orig->ndim; d++) {
                if (orig->shape[d] < 2) continue;
                memcpy(shape, orig->shape, sizeof orig->shape);
                shape[d] = 1;
                c = make_call(op, &g);
                cc_tensor *small = mk(orig->dtype, orig->ndim, shape), *e = NULL;
                CHECK_OK(cc_tensor_expand(&e, small, orig->ndim, orig->shape));
                cc_tensor_free(small);
                put(&c, name, e);
                EXPECT_FAIL(c, CC_ERR_ARGUMENT, name, NULL, NULL, "%s expanded in dim %d (stride 0)", name, d);
            }
            int64_t reach = 1, ones[8] = { 1, 1, 1, 1, 1, 1, 1, 1 }, big = 0;
            for (int d = 0; d < orig->ndim; d++) {
                reach += orig->shape[d] - 1;
                big += orig->shape[d] > 1;
            }
            if (big < 2) continue;   /* with one dim of size > 1, stride 1 is plainly contiguous */
            cc_tensor *buf = mk(orig->dtype, 1, SHAPE(reach)), *v = NULL;
            CHECK_OK(cc_tensor_as_strided(&v, buf, orig->ndim, orig->shape, ones, 0));
            cc_tensor_free(buf);
            c = make_call(op, &g);
            put(&c, name, v);
            EXPECT_FAIL(c, CC_ERR_ARGUMENT, name, NULL, NULL, "%s with strides (1, 1, ...): its elements overlap", name);
        }
    }

    /* outputs overlapping an input or another output by one element (same dtype: one buffer) */
    for (int o = 0; o < n_outs[op]; o++) {
        for (int i = 0; i < n_args[op]; i++) {
            if (i == o || base.t[i]->dtype != base.t[o]->dtype) continue;
            if (i < o && i < n_outs[op]) continue;        /* each pair of outputs once */
            const char *oname = arg_name[op][o], *iname = arg_name[op][i];
            conv_call c = make_call(op, &g);
            cc_tensor *a = c.t[i], *b = c.t[o];
            int64_t na = cc_tensor_numel(a), nb = cc_tensor_numel(b), sa[8], sb[8];
            contiguous_strides(a->ndim, a->shape, sa);
            contiguous_strides(b->ndim, b->shape, sb);
            cc_tensor *buf = mk(a->dtype, 1, SHAPE(na + nb)), *va = NULL, *vb = NULL;
            CHECK_OK(cc_tensor_as_strided(&va, buf, a->ndim, a->shape, sa, 0));
            CHECK_OK(cc_tensor_as_strided(&vb, buf, b->ndim, b->shape, sb, na - 1));
            CHECK_OK(cc_tensor_copy(va, a));
            cc_tensor_free(buf);
            put(&c, iname, va);
            put(&c, oname, vb);
            EXPECT_FAIL(c, CC_ERR_ARGUMENT, oname, iname, "overlap", "%s sharing its first element with the last of %s",
                        oname, iname);
        }
    }
    /* an output that is exactly the input view (no in-place conv) */
    for (int o = 0; o < n_outs[op]; o++) {
        const char *oname = arg_name[op][o];
        const char *iname = is(oname, "out") || is(oname, "dx") ? "x" : is(oname, "dweight") ? "weight"
                          : is(oname, "dbias") ? "bias" : is(oname, "final_states") || is(oname, "dinitial_states")
                          ? "initial_states" : NULL;
        if (!iname) continue;
        conv_call c = make_call(op, &g);
        cc_tensor *alias = NULL;
        CHECK_OK(cc_tensor_alias(&alias, get(&c, iname)));
        put(&c, oname, alias);
        EXPECT_FAIL(c, CC_ERR_ARGUMENT, oname, iname, "overlap", "%s the same view as %s (in place)", oname, iname);
        if (op == BWD || op == VBWD) {
            if (!is(oname, "dx") && !is(oname, "dinitial_states")) continue;
            iname = is(oname, "dx") ? "dout" : "dfinal_states";
            c = make_call(op, &g);
            CHECK_OK(cc_tensor_alias(&alias, get(&c, iname)));
            put(&c, oname, alias);
            EXPECT_FAIL(c, CC_ERR_ARGUMENT, oname, iname, "overlap", "%s the same view as %s (in place)", oname, iname);
        }
    }

    if (op != VST) {
        /* activation */
        static const int bad_act[] = { -1, 2, 100 };
        for (int k = 0; k < 3; k++) {
            conv_call c = make_call(op, &g);
            c.act = bad_act[k];
            EXPECT_FAIL(c, CC_ERR_ARGUMENT, "activation", NULL, NULL, "activation %d", bad_act[k]);
        }
        conv_call c = make_call(op, &g);
        c.act = CC_ACT_NONE;
        EXPECT_OK(c, "activation none");

        /* width: 1 <= W <= 16 */
        for (int k = 0; k < 2; k++) {
            int64_t W = k == 0 ? 0 : 17;
            c = make_call(op, &g);
            put(&c, "weight", mk(CC_F32, 2, SHAPE(g.D, W)));
            EXPECT_FAIL(c, CC_ERR_SHAPE, "weight", NULL, NULL, "W = %lld", (long long)W);
        }
        for (int k = 0; k < 2; k++) {
            conv_cfg h = g;
            h.W = k == 0 ? 16 : 2;
            h.SL = h.W - 1 + 1;
            c = make_call(op, &h);
            EXPECT_OK(c, "W = %lld", (long long)h.W);
        }

        /* dtypes of weight / bias / states are independent of x's; the states share one */
        conv_cfg h = g;
        h.wdt = CC_F64;
        h.sdt = CC_F16;
        c = make_call(op, &h);
        EXPECT_OK(c, "x f32, weight and bias f64, states f16");
        h.dt = CC_BF16;
        c = make_call(op, &h);
        EXPECT_OK(c, "x bf16, weight and bias f64, states f16");
        c = make_call(op, &g);
        put(&c, "bias", mk(CC_F16, 1, SHAPE(g.D)));
        if (op == BWD || op == VBWD) put(&c, "dbias", mk(CC_F16, 1, SHAPE(g.D)));
        EXPECT_OK(c, "bias f16, weight f32");
        /* an expanded (stride 0) input is fine */
        c = make_call(op, &g);
        cc_tensor *b1 = mk(CC_F32, 1, SHAPE(1)), *be = NULL;
        CHECK_OK(cc_tensor_expand(&be, b1, 1, SHAPE(g.D)));
        cc_tensor_free(b1);
        put(&c, "bias", be);
        EXPECT_OK(c, "bias expanded from one element");
    }

    /* tensors that must have x's dtype (out, dout, dx) */
    for (int i = 0; i < n_args[op]; i++) {
        const char *name = arg_name[op][i];
        if (!(is(name, "out") || is(name, "dout") || is(name, "dx"))) continue;
        conv_call c = make_call(op, &g);
        put(&c, name, mk_like(get(&c, name), CC_F64));
        EXPECT_FAIL(c, CC_ERR_DTYPE, name, NULL, "f32", "%s f64 with x f32", name);
    }
    /* state tensors of one call share one dtype: each one alone in f64 is refused, naming itself
       or the state whose dtype it breaks with */
    for (int i = 0; i < n_args[op]; i++) {
        const char *name = arg_name[op][i];
        if (!is_state(name)) continue;
        for (int j = 0; j < n_args[op]; j++) {
            const char *other = arg_name[op][j];
            if (j == i || !is_state(other)) continue;
            conv_call c = make_call(op, &g);
            put(&c, name, mk_like(get(&c, name), CC_F64));
            /* leave only the pair (name, other) in the call */
            for (int k = 0; k < n_args[op]; k++)
                if (k != i && k != j && is_state(arg_name[op][k])) put(&c, arg_name[op][k], NULL);
            EXPECT_FAIL(c, CC_ERR_DTYPE, name, other, name, "%s f64 with %s f32", name, other);
        }
    }
    /* gradient outputs take the dtype of what they are the gradient of */
    if (op == BWD || op == VBWD) {
        conv_call c = make_call(op, &g);
        put(&c, "dweight", mk_like(get(&c, "dweight"), CC_F64));
        EXPECT_FAIL(c, CC_ERR_DTYPE, "dweight", NULL, "f32", "dweight f64 with weight f32");
        c = make_call(op, &g);
        put(&c, "dbias", mk_like(get(&c, "dbias"), CC_F64));
        EXPECT_FAIL(c, CC_ERR_DTYPE, "dbias", NULL, "f32", "dbias f64 with bias f32");
        c = make_call(op, &g);
        put(&c, "bias", NULL);
        put(&c, "dbias", mk_like(get(&c, "dbias"), CC_F64));
        EXPECT_OK(c, "dbias f64 without bias");
        c = make_call(op, &g);
        put(&c, "dbias", mk_like(get(&c, "dbias"), CC_I32));
        put(&c, "bias", NULL);
        EXPECT_FAIL(c, CC_ERR_DTYPE, "dbias", NULL, NULL, "dbias i32 without bias");
    }
    free_call(&base);
}

TEST_GROUP(conv_checks_forward) { generic_checks(FWD); }
TEST_GROUP(conv_checks_backward) { generic_checks(BWD); }
TEST_GROUP(conv_checks_update) { generic_checks(UPD); }
TEST_GROUP(conv_checks_varlen_forward) { generic_checks(VFWD); }
TEST_GROUP(conv_checks_varlen_backward) { generic_checks(VBWD); }
TEST_GROUP(conv_checks_varlen_states) { generic_checks(VST); }

/* ---- rules of one op ------------------------------------------------------------------------ */

TEST_GROUP(conv_checks_update_rules)
{
    int64_t t0 = cc_live_tensors();
    conv_cfg g = default_cfg();
    conv_call c;
    /* state_len >= W-1 */
    g.SL = g.W - 2;
    c = make_call(UPD, &g);
    EXPECT_FAIL(c, CC_ERR_SHAPE, "conv_state", NULL, NULL, "state_len = W-2");
    g.SL = 0;
    c = make_call(UPD, &g);
    EXPECT_FAIL(c, CC_ERR_SHAPE, "conv_state", NULL, NULL, "state_len = 0");
    g.SL = g.W - 1;
    c = make_call(UPD, &g);
    EXPECT_OK(c, "state_len = W-1");
    g.SL = 40;
    c = make_call(UPD, &g);
    EXPECT_OK(c, "state_len = 40");
    g = default_cfg();

    /* without conv_state_indices the state's first dim is B */
    c = make_call(UPD, &g);
    put(&c, "conv_state_indices", NULL);
    EXPECT_FAIL(c, CC_ERR_SHAPE, "conv_state", NULL, NULL, "pool %lld != B without conv_state_indices", (long long)g.pool);
    g.pool = g.B;
    c = make_call(UPD, &g);
    put(&c, "conv_state_indices", NULL);
    EXPECT_OK(c, "pool = B without conv_state_indices");
    g = default_cfg();

    /* conv_state_indices: < pool, distinct, negative = padding */
    static const int64_t bad[][2] = { { 0, 4 }, { 4, 0 }, { 0, 100 }, { 2, 2 }, { 0x7fffffff, 1 } };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        c = make_call(UPD, &g);
        set1(get(&c, "conv_state_indices"), 0, (double)bad[k][0]);
        set1(get(&c, "conv_state_indices"), 1, (double)bad[k][1]);
        EXPECT_FAIL(c, CC_ERR_ARGUMENT, "conv_state_indices", NULL, NULL, "conv_state_indices {%lld, %lld} with pool %lld",
                    (long long)bad[k][0], (long long)bad[k][1], (long long)g.pool);
    }
    /* padding rows: out = 0, no state row touched; the other row updates its own state row */
    c = make_call(UPD, &g);
    set1(get(&c, "conv_state_indices"), 0, -1);
    set1(get(&c, "conv_state_indices"), 1, 1);
    cc_tensor *state0 = clone(get(&c, "conv_state"));
    cc_tensor_fill(get(&c, "out"), SENTINEL);
    if (expect_ok_at(&c, "conv_state_indices {-1, 1}", __LINE__)) {
        cc_tensor *o0 = NULL, *st = NULL, *st0 = NULL;
        cc_tensor_select(&o0, get(&c, "out"), 0, 0);
        CHECK_MSG(all_equal(o0, 0), "update: a padding row's out is 0");
        for (int64_t r = 0; r < g.pool; r++) {
            cc_tensor_select(&st, get(&c, "conv_state"), 0, r);
            cc_tensor_select(&st0, state0, 0, r);
            if (r == 1) CHECK_MSG(!cc_test_same_values(st, st0), "update: state row 1 (named by batch row 1) was updated");
            else CHECK_MSG(cc_test_same_values(st, st0), "update: state row %lld (named by no batch row) is untouched", (long long)r);
            cc_tensor_free(st);
            cc_tensor_free(st0);
        }
        cc_tensor_free(o0);
    }
    cc_tensor_free(state0);
    free_call(&c);
    c = make_call(UPD, &g);
    set1(get(&c, "conv_state_indices"), 0, -5);
    set1(get(&c, "conv_state_indices"), 1, -1);
    EXPECT_OK(c, "conv_state_indices all padding");
    /* cache_seqlens: any value (a true modulo) */
    c = make_call(UPD, &g);
    set1(get(&c, "cache_seqlens"), 0, -7);
    set1(get(&c, "cache_seqlens"), 1, 2147483647);
    EXPECT_OK(c, "cache_seqlens {-7, 2^31-1}");
    /* conv_state is written: it may not be an expanded view of one row */
    c = make_call(UPD, &g);
    cc_tensor *row = mk(CC_F32, 3, SHAPE(1, g.D, g.SL)), *e = NULL;
    CHECK_OK(cc_tensor_expand(&e, row, 3, SHAPE(g.pool, g.D, g.SL)));
    cc_tensor_free(row);
    put(&c, "conv_state", e);
    EXPECT_FAIL(c, CC_ERR_ARGUMENT, "conv_state", NULL, NULL, "conv_state expanded over the pool");
    CHECK_EQ_I(cc_live_tensors(), t0);
}

static void cu_cases(int op)
{
    conv_cfg g = default_cfg();
    conv_call c;
    /* values: start at 0, non-decreasing, end at T = 7 */
    static const struct { int n; int64_t v[5]; const char *what; } bad[] = {
        { 4, { 1, 1, 3, 7 }, "not starting at 0" },
        { 4, { -1, 1, 3, 7 }, "starting at -1" },
        { 4, { 0, 3, 1, 7 }, "decreasing" },
        { 4, { 0, 1, 3, 6 }, "ending before T" },
        { 4, { 0, 1, 3, 8 }, "ending after T" },
        { 4, { 0, 1, 9, 7 }, "going past T and back" },
        { 1, { 7 }, "a single value != 0" },
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        c = make_call(op, &g);
        cc_tensor *cu = mk(CC_I32, 1, SHAPE(bad[k].n));
        for (int i = 0; i < bad[k].n; i++) set1(cu, i, (double)bad[k].v[i]);
        put(&c, "cu_seqlens", cu);
        /* the state tensors follow N = bad[k].n - 1: only cu_seqlens is wrong */
        for (int i = 0; i < n_args[op]; i++) {
            const char *name = arg_name[op][i];
            if (!is_state(name) && !is(name, "states")) continue;
            cc_tensor *s = c.t[i];
            put(&c, name, mk(s->dtype, 3, SHAPE(bad[k].n - 1, s->shape[1], s->shape[2])));
        }
        EXPECT_FAIL(c, CC_ERR_ARGUMENT, "cu_seqlens", NULL, NULL, "cu_seqlens %s", bad[k].what);
    }
    /* i64 values past 2^31 */
    c = make_call(op, &g);
    cc_tensor *cu = mk(CC_I64, 1, SHAPE(4));
    set1(cu, 1, 1);
    set1(cu, 2, 3);
    set1(cu, 3, (double)(1LL << 33));
    put(&c, "cu_seqlens", cu);
    EXPECT_FAIL(c, CC_ERR_ARGUMENT, "cu_seqlens", NULL, NULL, "cu_seqlens i64 ending at 2^33");
    /* shape (0,): not even N = 0 */
    c = make_call(op, &g);
    put(&c, "cu_seqlens", mk(CC_I32, 1, SHAPE(0)));
    EXPECT_FAIL(c, CC_ERR_SHAPE, "cu_seqlens", NULL, NULL, "cu_seqlens of shape (0,)");
    /* non-contiguous: every other element of a buffer */
    c = make_call(op, &g);
    cc_tensor *buf = mk(CC_I32, 1, SHAPE(8)), *v = NULL;
    CHECK_OK(cc_tensor_as_strided(&v, buf, 1, SHAPE(4), SHAPE(2), 0));
    CHECK_OK(cc_tensor_copy(v, get(&c, "cu_seqlens")));
    cc_tensor_free(buf);
    put(&c, "cu_seqlens", v);
    EXPECT_FAIL(c, CC_ERR_ARGUMENT, "cu_seqlens", NULL, NULL, "cu_seqlens with stride 2");
    /* empty sequences are fine, anywhere */
    conv_cfg h = g;
    h.ncu = 6;
    int64_t vals[6] = { 0, 0, 3, 3, 7, 7 };
    memcpy(h.cu, vals, sizeof vals);
    c = make_call(op, &h);
    EXPECT_OK(c, "cu_seqlens with empty sequences {0, 0, 3, 3, 7, 7}");
}

TEST_GROUP(conv_checks_cu_seqlens)
{
    int64_t t0 = cc_live_tensors();
    cu_cases(VFWD);
    cu_cases(VBWD);
    cu_cases(VST);
    /* varlen_states: state_len is free, longer than every sequence too */
    conv_cfg g = default_cfg();
    g.SL = 12;
    conv_call c = make_call(VST, &g);
    if (expect_ok_at(&c, "state_len 12 > T", __LINE__)) {
        /* sequence 0 has one token: states[0, :, 0..10] are zeros */
        cc_tensor *s0 = NULL, *z = NULL;
        cc_tensor_select(&s0, get(&c, "states"), 0, 0);
        cc_tensor_narrow(&z, s0, 1, 0, 11);
        CHECK_MSG(all_equal(z, 0), "varlen_states: zeros before a sequence's start");
        cc_tensor_free(z);
        cc_tensor_free(s0);
    }
    free_call(&c);
    CHECK_EQ_I(cc_live_tensors(), t0);
}

/* ---- outputs interleaved with inputs in one buffer, disjoint element by element ----------- */

/* views of one fresh buffer of the shape (.., 2 * shape[dim], ..): the even (offset 0) and the
   odd (offset 1) positions along dim, each of the given shape */
static void interleaved_pair(int dtype, int ndim, const int64_t *shape, int dim, cc_tensor **even, cc_tensor **odd)
{
    int64_t bshape[8], bstride[8], vstride[8];
    memcpy(bshape, shape, (size_t)ndim * sizeof *shape);
    bshape[dim] *= 2;
    contiguous_strides(ndim, bshape, bstride);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= bshape[i];
    for (int i = 0; i < ndim; i++) vstride[i] = bstride[i] * (i == dim ? 2 : 1);
    cc_tensor *buf = mk(dtype, 1, SHAPE(n));
    CHECK_OK(cc_tensor_as_strided(even, buf, ndim, shape, vstride, 0));
    CHECK_OK(cc_tensor_as_strided(odd, buf, ndim, shape, vstride, bstride[dim]));
    cc_tensor_free(buf);
}

/* Runs c as built (the reference), then again with output oname and input iname moved into the
   odd and even positions of one buffer along dim (the input's values copied): the second call
   must be accepted and give the same outputs. */
static void interleaved_case(int op, const char *oname, const char *iname, int dim, int line)
{
    conv_cfg g = default_cfg();
    conv_call ref = make_call(op, &g), c = make_call(op, &g);
    for (int i = 0; i < n_args[op]; i++)        /* the same inputs and initial contents in both */
        if (c.t[i] && cc_tensor_numel(c.t[i]) > 0) CHECK_OK(cc_tensor_copy(c.t[i], ref.t[i]));
    char what[200];
    snprintf(what, sizeof what, "%s and %s interleaved along dim %d (disjoint)", oname, iname, dim);
    CHECK(expect_ok_at(&ref, "reference for the interleaved case", line));
    cc_tensor *even = NULL, *odd = NULL, *in = get(&c, iname), *out = get(&c, oname);
    interleaved_pair(in->dtype, in->ndim, in->shape, dim, &even, &odd);
    CHECK_OK(cc_tensor_copy(even, in));
    CHECK_OK(cc_tensor_copy(odd, out));
    put(&c, iname, even);
    put(&c, oname, odd);
    if (expect_ok_at(&c, what, line)) {
        for (int i = 0; i < n_outs[op]; i++)
            if (c.t[i])
                CHECK_MSG(cc_test_same_values(c.t[i], ref.t[i]), "%s, %s: %s differs from the call with separate tensors",
                          op_name[op], what, arg_name[op][i]);
        if (op == UPD)
            CHECK_MSG(cc_test_same_values(get(&c, "conv_state"), get(&ref, "conv_state")), "%s, %s: conv_state differs",
                      op_name[op], what);
    }
    free_call(&ref);
    free_call(&c);
}

TEST_GROUP(conv_checks_interleaved)
{
    int64_t t0 = cc_live_tensors();
    interleaved_case(FWD, "out", "x", 2, __LINE__);          /* x = buf[..., 0::2], out = buf[..., 1::2] */
    interleaved_case(FWD, "out", "x", 1, __LINE__);          /* along channels */
    interleaved_case(FWD, "final_states", "initial_states", 2, __LINE__);
    interleaved_case(BWD, "dx", "x", 2, __LINE__);
    interleaved_case(BWD, "dx", "dout", 2, __LINE__);
    interleaved_case(BWD, "dinitial_states", "dfinal_states", 1, __LINE__);
    interleaved_case(UPD, "out", "x", 2, __LINE__);
    interleaved_case(VFWD, "out", "x", 1, __LINE__);         /* x = buf[:, 0::2], out = buf[:, 1::2] */
    interleaved_case(VBWD, "dx", "dout", 0, __LINE__);
    CHECK_EQ_I(cc_live_tensors(), t0);
}

/* ---- zero-size dims: accepted, zero-size outputs, states passed through --------------------- */

typedef struct zero_case {
    int op;
    conv_cfg g;
    const char *what;
    int no_initial;     /* leave initial_states (dense / varlen forward) out */
    int ref;            /* run the CPU reference kernels instead of the fast ones */
} zero_case;

static void zero_case_body(const zero_case *z)
{
    conv_call c = make_call(z->op, &z->g);
    if (z->no_initial) put(&c, "initial_states", NULL);
    if (z->g.L == 0 && (z->op == FWD || z->op == BWD)) put(&c, "seq_idx", NULL);   /* no first token to take a segment from */
    for (int i = 0; i < n_outs[z->op]; i++)
        if (c.t[i] && !(z->op == UPD && i == 1)) cc_tensor_fill(c.t[i], SENTINEL);   /* conv_state keeps its values */
    cc_tensor *state0 = z->op == UPD ? clone(get(&c, "conv_state")) : NULL;
    char what[160];
    snprintf(what, sizeof what, "%s (%s kernels)", z->what, z->ref ? "reference" : "fast");
    int op = z->op;
    if (expect_ok_at(&c, what, __LINE__)) {
        int64_t T = z->g.cu[z->g.ncu - 1];
        int empty_len = (op == FWD || op == BWD || op == UPD) ? z->g.L == 0 : T == 0;
        if (op == FWD || op == VFWD) {
            CHECK_MSG(cc_tensor_numel(get(&c, "out")) == cc_tensor_numel(get(&c, "x")), "%s %s: out has x's size", op_name[op], what);
            if (empty_len) {
                if (get(&c, "initial_states"))
                    CHECK_MSG(cc_test_same_values(get(&c, "final_states"), get(&c, "initial_states")),
                              "%s %s: with no tokens the final states are the initial states", op_name[op], what);
                else
                    CHECK_MSG(all_equal(get(&c, "final_states"), 0), "%s %s: with no tokens and no initial states the final states are 0",
                              op_name[op], what);
            }
        }
        if ((op == BWD || op == VBWD) && empty_len) {
            CHECK_MSG(cc_test_same_values(get(&c, "dinitial_states"), get(&c, "dfinal_states")),
                      "%s %s: with no tokens dinitial_states = dfinal_states", op_name[op], what);
            CHECK_MSG(all_equal(get(&c, "dweight"), 0) && all_equal(get(&c, "dbias"), 0),
                      "%s %s: with no tokens dweight and dbias are 0", op_name[op], what);
        }
        if (op == UPD && (z->g.L == 0 || z->g.B == 0))
            CHECK_MSG(cc_test_same_values(get(&c, "conv_state"), state0), "%s %s: conv_state untouched", op_name[op], what);
        if (op == VST && T == 0) CHECK_MSG(all_equal(get(&c, "states"), 0), "%s %s: states of empty sequences are 0", op_name[op], what);
    }
    cc_tensor_free(state0);
    free_call(&c);
}

/* each case in a child process, so that a crash fails the case and the run goes on */
static void run_isolated_once(const zero_case *z)
{
    static int no_fork = -1;
    if (no_fork < 0) no_fork = getenv("CC_TEST_NO_FORK") != NULL;
    if (no_fork) {
        int was = cc_get_reference_kernels();
        cc_set_reference_kernels(z->ref);
        zero_case_body(z);
        cc_set_reference_kernels(was);
        return;
    }
    int fds[2];
    if (pipe(fds) != 0) {
        zero_case_body(z);
        return;
    }
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        cc_set_num_threads(1);      /* libgomp's pool is the parent's; a team of one needs none */
        alarm(60);
        cc_set_reference_kernels(z->ref);
        long p0 = cc_test_passed, f0 = cc_test_failed;
        zero_case_body(z);
        long r[2] = { cc_test_passed - p0, cc_test_failed - f0 };
        fflush(stdout);
        if (write(fds[1], r, sizeof r) != (ssize_t)sizeof r) _exit(3);
        _exit(0);
    }
    close(fds[1]);
    long r[2] = { 0, 0 };
    ssize_t n = pid > 0 ? read(fds[0], r, sizeof r) : -1;
    close(fds[0]);
    int wst = 0;
    if (pid > 0) waitpid(pid, &wst, 0);
    if (pid > 0 && n == (ssize_t)sizeof r && WIFEXITED(wst) && WEXITSTATUS(wst) == 0) {
        cc_test_passed += r[0];
        cc_test_failed += r[1];
    } else if (pid > 0 && WIFSIGNALED(wst)) {
        cc_test_fail(__FILE__, __LINE__, "%s (%s kernels), %s: the process died of signal %d (%s)", op_name[z->op],
                     z->ref ? "reference" : "fast", z->what, WTERMSIG(wst), strsignal(WTERMSIG(wst)));
    } else {
        cc_test_fail(__FILE__, __LINE__, "%s (%s kernels), %s: the child process failed (status %d)", op_name[z->op],
                     z->ref ? "reference" : "fast", z->what, wst);
    }
}

/* with the fast kernels, then with the reference kernels */
static void run_isolated(zero_case *z)
{
    for (z->ref = 0; z->ref <= 1; z->ref++) run_isolated_once(z);
    z->ref = 0;
}

TEST_GROUP(conv_zero_size)
{
    int64_t t0 = cc_live_tensors();
    for (int op = 0; op < NOPS; op++) {
        conv_cfg g = default_cfg();
        zero_case z = { .op = op };
        if (op == FWD || op == BWD || op == UPD) {
            z.g = g; z.g.B = 0; z.what = "B = 0"; run_isolated(&z);
            z.g = g; z.g.D = 0; z.what = "D = 0"; run_isolated(&z);
            z.g = g; z.g.L = 0; z.what = op == UPD ? "S = 0" : "L = 0"; run_isolated(&z);
            z.g = g; z.g.B = 0; z.g.D = 0; z.g.L = 0; z.what = "B = D = L = 0"; run_isolated(&z);
            if (op == FWD) {
                z.g = g; z.g.L = 0; z.no_initial = 1; z.what = "L = 0 without initial_states"; run_isolated(&z);
                z.no_initial = 0;
            }
        } else {
            z.g = g; z.g.D = 0; z.what = "D = 0"; run_isolated(&z);
            z.g = g; z.g.ncu = 3; z.g.cu[0] = z.g.cu[1] = z.g.cu[2] = 0; z.what = "T = 0, N = 2 (empty sequences)"; run_isolated(&z);
            z.g = g; z.g.ncu = 1; z.g.cu[0] = 0; z.what = "T = 0, N = 0"; run_isolated(&z);
            if (op == VFWD) {
                z.g = g; z.g.ncu = 3; z.g.cu[0] = z.g.cu[1] = z.g.cu[2] = 0; z.no_initial = 1;
                z.what = "T = 0, N = 2 without initial_states"; run_isolated(&z);
                z.no_initial = 0;
            }
            if (op == VST) { z.g = g; z.g.SL = 0; z.what = "state_len = 0"; run_isolated(&z); }
        }
        if (op != VST) {   /* W = 1: zero-width states */
            z.g = g; z.g.W = 1; z.g.SL = 0; z.what = "W = 1 (states of width 0)"; run_isolated(&z);
        }
    }
    CHECK_EQ_I(cc_live_tensors(), t0);
}
