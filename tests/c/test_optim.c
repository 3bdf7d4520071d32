/* cc_adam_step (core/optim.c): one Adam and one AdamW step against the formula written out here,
   the thread-count independence of the CPU kernel, and every validation error, each of which
   must leave param and the moments untouched. */
#include <stdlib.h>
#include "test.h"

static cc_tensor *vec(int64_t n, int dtype)
{
    cc_tensor *t = NULL;
    cc_tensor_empty(&t, 1, SHAPE(n), dtype, CC_CPU, 0);
    return t;
}

static cc_tensor *vec_of(int64_t n, int dtype, double first, double step)
{
    cc_tensor *t = vec(n, dtype);
    for (int64_t i = 0; i < n; i++) cc_tensor_set(t, SHAPE(i), first + step * (double)i);
    return t;
}

static double at(const cc_tensor *t, int64_t i)
{
    double v = 0;
    cc_tensor_get(t, SHAPE(i), &v);
    return v;
}

/* PyTorch's Adam/AdamW step in f64 for one element (state m, v; returns the new param) */
static double adam_ref(double p, double g, double *m, double *v, double lr, double b1, double b2, double eps,
                       double wd, int64_t step, int decoupled)
{
    if (decoupled) p *= 1 - lr * wd;
    else g += wd * p;
    *m = b1 * *m + (1 - b1) * g;
    *v = b2 * *v + ((1 - b2) * g) * g;
    double denom = sqrt(*v) / sqrt(1 - pow(b2, (double)step)) + eps;
    return p + (-(lr / (1 - pow(b1, (double)step))) * *m) / denom;
}

TEST_GROUP(optim_adam_step)
{
    for (int decoupled = 0; decoupled <= 1; decoupled++) {
        cc_tensor *p = vec_of(5, CC_F64, -1.0, 0.5), *g = vec_of(5, CC_F64, 0.75, -0.375);
        cc_tensor *m = vec(5, CC_F64), *v = vec(5, CC_F64);
        cc_tensor_fill(m, 0);
        cc_tensor_fill(v, 0);
        double rp[5], rm[5] = { 0 }, rv[5] = { 0 };
        for (int i = 0; i < 5; i++) rp[i] = at(p, i);
        int64_t v0 = cc_tensor_version(p);
        for (int64_t step = 1; step <= 3; step++) {
            CHECK_OK(cc_adam_step(p, m, v, g, 0.01, 0.9, 0.95, 1e-8, 0.1, step, decoupled));
            for (int i = 0; i < 5; i++)
                rp[i] = adam_ref(rp[i], at(g, i), &rm[i], &rv[i], 0.01, 0.9, 0.95, 1e-8, 0.1, step, decoupled);
        }
        int same = 1;
        for (int i = 0; i < 5; i++) same &= at(p, i) == rp[i] && at(m, i) == rm[i] && at(v, i) == rv[i];
        CHECK_MSG(same, "%s: 3 f64 steps differ from the formula", decoupled ? "AdamW" : "Adam");
        CHECK(cc_tensor_version(p) == v0 + 3);
        cc_tensor *ts[4] = { p, g, m, v };
        for (int i = 0; i < 4; i++) cc_tensor_free(ts[i]);
    }

    /* f16 param, f32 moments: the f32 result rounded once */
    cc_tensor *p = vec_of(4, CC_F16, 0.5, 0.25), *g = vec_of(4, CC_F16, -0.5, 0.125);
    cc_tensor *m = vec(4, CC_F32), *v = vec(4, CC_F32);
    cc_tensor_fill(m, 0);
    cc_tensor_fill(v, 0);
    CHECK_OK(cc_adam_step(p, m, v, g, 0.1, 0.9, 0.999, 1e-8, 0, 1, 0));
    int ok = 1;
    for (int i = 0; i < 4; i++) {
        double gi = -0.5 + 0.125 * i, want = 0.5 + 0.25 * i - 0.1 * (gi > 0 ? 1 : gi < 0 ? -1 : 0);
        ok &= fabs(at(p, i) - want) < 2e-3 && fabs(at(m, i) - 0.1 * gi) < 1e-7;
    }
    CHECK_MSG(ok, "f16 param: one step differs from p - lr * sign(g)");
    cc_tensor *ts[4] = { p, g, m, v };
    for (int i = 0; i < 4; i++) cc_tensor_free(ts[i]);
}

TEST_GROUP(optim_adam_threads)
{
    /* large enough for the OpenMP path, with a ragged tail; 1 thread and 2 threads agree bitwise */
    const int64_t n = 100003;
    int prev = cc_get_num_threads();
    cc_tensor *p[2], *m[2], *v[2], *g = vec(n, CC_F32);
    cc_tensor_randn(g, 0, 1);
    for (int k = 0; k < 2; k++) {
        p[k] = vec(n, CC_F32); m[k] = vec(n, CC_F32); v[k] = vec(n, CC_F32);
        cc_manual_seed(7);
        cc_tensor_randn(p[k], 0, 1);
        cc_tensor_fill(m[k], 0);
        cc_tensor_fill(v[k], 0);
        cc_set_num_threads(k + 1);
        for (int64_t step = 1; step <= 2; step++)
            CHECK_OK(cc_adam_step(p[k], m[k], v[k], g, 1e-3, 0.9, 0.999, 1e-8, 0.01, step, 1));
    }
    cc_set_num_threads(prev);
    CHECK(cc_test_same_values(p[0], p[1]));
    CHECK(cc_test_same_values(v[0], v[1]));
    for (int k = 0; k < 2; k++) { cc_tensor_free(p[k]); cc_tensor_free(m[k]); cc_tensor_free(v[k]); }
    cc_tensor_free(g);
}

TEST_GROUP(optim_adam_errors)
{
    cc_tensor *p = vec_of(6, CC_F32, 1, 1), *g = vec_of(6, CC_F32, 0.5, 0), *m = vec(6, CC_F32), *v = vec(6, CC_F32);
    cc_tensor_fill(m, 0);
    cc_tensor_fill(v, 0);
    cc_tensor *g64 = vec(6, CC_F64), *m64 = vec(6, CC_F64), *short_m = vec(5, CC_F32), *gi = vec(6, CC_I32);
    cc_tensor_fill(g64, 0);
    cc_tensor *mat = NULL, *matt = NULL, *pmat = NULL;
    cc_tensor_empty(&mat, 2, SHAPE(2, 3), CC_F32, CC_CPU, 0);
    cc_tensor_empty(&pmat, 2, SHAPE(3, 2), CC_F32, CC_CPU, 0);
    cc_tensor_transpose(&matt, mat, 0, 1);   /* (3, 2), not contiguous */
    cc_tensor_fill(pmat, 1);
    cc_tensor *pm = vec(6, CC_F32), *pv = vec(6, CC_F32);   /* moments of pmat's shape are (3, 2): */
    cc_tensor *pm2 = NULL, *pv2 = NULL;
    cc_tensor_view(&pm2, pm, 2, SHAPE(3, 2));
    cc_tensor_view(&pv2, pv, 2, SHAPE(3, 2));

    CHECK_ERR(cc_adam_step(NULL, m, v, g, 1e-3, 0.9, 0.999, 1e-8, 0, 1, 0), CC_ERR_ARGUMENT, "adam_step: param: expected a tensor");
    CHECK_ERR(cc_adam_step(p, m, v, NULL, 1e-3, 0.9, 0.999, 1e-8, 0, 1, 0), CC_ERR_ARGUMENT, "adam_step: grad: expected a tensor");
    CHECK_ERR(cc_adam_step(p, m, v, g64, 1e-3, 0.9, 0.999, 1e-8, 0, 1, 0), CC_ERR_DTYPE, "adam_step: grad: expected dtype f32 (the dtype of param)");
    CHECK_ERR(cc_adam_step(gi, m, v, gi, 1e-3, 0.9, 0.999, 1e-8, 0, 1, 0), CC_ERR_DTYPE, "adam_step: param: expected dtype f32, f64, f16 or bf16");
    CHECK_ERR(cc_adam_step(p, m64, v, g, 1e-3, 0.9, 0.999, 1e-8, 0, 1, 0), CC_ERR_DTYPE, "adam_step: exp_avg: expected dtype f32 (the moments are f32");
    CHECK_ERR(cc_adam_step(p, m, short_m, g, 1e-3, 0.9, 0.999, 1e-8, 0, 1, 0), CC_ERR_SHAPE, "adam_step: exp_avg_sq: expected shape (6) (as param)");
    CHECK_ERR(cc_adam_step(pmat, pm2, pv2, matt, 1e-3, 0.9, 0.999, 1e-8, 0, 1, 0), CC_ERR_ARGUMENT, "adam_step: grad: expected a contiguous tensor");
    CHECK_ERR(cc_adam_step(p, m, m, g, 1e-3, 0.9, 0.999, 1e-8, 0, 1, 0), CC_ERR_ARGUMENT, "adam_step: exp_avg (6) f32 cpu overlaps exp_avg_sq");
    CHECK_ERR(cc_adam_step(p, m, v, p, 1e-3, 0.9, 0.999, 1e-8, 0, 1, 0), CC_ERR_ARGUMENT, "adam_step: param (6) f32 cpu overlaps grad");
    CHECK_ERR(cc_adam_step(p, m, v, g, -1, 0.9, 0.999, 1e-8, 0, 1, 0), CC_ERR_ARGUMENT, "adam_step: lr: expected a finite number >= 0, got -1");
    CHECK_ERR(cc_adam_step(p, m, v, g, INFINITY, 0.9, 0.999, 1e-8, 0, 1, 0), CC_ERR_ARGUMENT, "adam_step: lr: expected a finite number >= 0, got inf");
    CHECK_ERR(cc_adam_step(p, m, v, g, 1e-3, 1.0, 0.999, 1e-8, 0, 1, 0), CC_ERR_ARGUMENT, "adam_step: beta1: expected a finite number in [0, 1), got 1");
    CHECK_ERR(cc_adam_step(p, m, v, g, 1e-3, -0.5, 0.999, 1e-8, 0, 1, 0), CC_ERR_ARGUMENT, "adam_step: beta1: expected a finite number in [0, 1)");
    CHECK_ERR(cc_adam_step(p, m, v, g, 1e-3, 0.9, NAN, 1e-8, 0, 1, 0), CC_ERR_ARGUMENT, "adam_step: beta2: expected a finite number in [0, 1), got nan");
    CHECK_ERR(cc_adam_step(p, m, v, g, 1e-3, 0.9, 0.999, 0, 0, 1, 0), CC_ERR_ARGUMENT, "adam_step: eps: expected a finite number > 0, got 0");
    CHECK_ERR(cc_adam_step(p, m, v, g, 1e-3, 0.9, 0.999, 1e-8, -0.1, 1, 0), CC_ERR_ARGUMENT, "adam_step: weight_decay: expected a finite number >= 0");
    CHECK_ERR(cc_adam_step(p, m, v, g, 1e-3, 0.9, 0.999, 1e-8, 0, 0, 0), CC_ERR_ARGUMENT, "adam_step: step: expected step >= 1 (the count of this update), got 0");
    CHECK_ERR(cc_adam_step(p, m, v, g, 1e-3, 0.9, 0.999, 1e-8, 0, 1, 2), CC_ERR_ARGUMENT, "adam_step: decoupled: expected 0 (Adam) or 1 (AdamW), got 2");
    /* nothing was written by any failed call */
    int untouched = 1;
    for (int i = 0; i < 6; i++) untouched &= at(p, i) == 1 + i && at(m, i) == 0 && at(v, i) == 0;
    CHECK_MSG(untouched, "a failed cc_adam_step changed param or the moments");

    /* zero elements: fine, nothing to do */
    cc_tensor *e = vec(0, CC_F32), *em = vec(0, CC_F32), *ev = vec(0, CC_F32), *eg = vec(0, CC_F32);
    CHECK_OK(cc_adam_step(e, em, ev, eg, 1e-3, 0.9, 0.999, 1e-8, 0, 1, 1));

    cc_tensor *all[] = { p, g, m, v, g64, m64, short_m, gi, mat, matt, pmat, pm, pv, pm2, pv2, e, em, ev, eg };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) cc_tensor_free(all[i]);
}
