/* Philox against the Random123 known-answer vectors; rand/randn determinism and statistics. */
#include <omp.h>
#include "test.h"
#include "philox.h"

TEST_GROUP(philox_kat)
{
    struct { uint32_t ctr[4], key[2], out[4]; } kat[] = {
        { { 0, 0, 0, 0 }, { 0, 0 }, { 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8 } },
        { { 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff }, { 0xffffffff, 0xffffffff },
          { 0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd } },
        { { 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344 }, { 0xa4093822, 0x299f31d0 },
          { 0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1 } },
    };
    for (int i = 0; i < 3; i++) {
        uint32_t out[4];
        cc_philox4x32_10(kat[i].ctr, kat[i].key, out);
        for (int k = 0; k < 4; k++)
            CHECK_MSG(out[k] == kat[i].out[k], "KAT %d word %d: 0x%08x, want 0x%08x", i, k, out[k], kat[i].out[k]);
    }
}

static void values(cc_tensor *t, double *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++) cc_tensor_get(t, (int64_t[]){ i }, &v[i]);
}

TEST_GROUP(rand_determinism)
{
    int64_t s0 = cc_live_storages();
    int threads = cc_get_num_threads();
    const int64_t n = 200003;                  /* odd, and large enough to run in parallel */
    for (int dt = CC_F32; dt <= CC_BF16; dt++) {
        cc_tensor *a, *b;
        CHECK_OK(cc_tensor_empty(&a, 1, SHAPE(n), dt, CC_CPU, 0));
        CHECK_OK(cc_tensor_empty(&b, 1, SHAPE(n), dt, CC_CPU, 0));
        for (int normal = 0; normal < 2; normal++) {
            cc_manual_seed(1234);
            cc_set_num_threads(1);
            CHECK_OK(normal ? cc_tensor_randn(a, 0, 1) : cc_tensor_rand(a, -1, 1));
            cc_manual_seed(1234);
            cc_set_num_threads(2);
            CHECK_OK(normal ? cc_tensor_randn(b, 0, 1) : cc_tensor_rand(b, -1, 1));
            int64_t bytes = n * cc_dtype_size(dt);
            CHECK_MSG(memcmp(cc_tensor_data(a), cc_tensor_data(b), (size_t)bytes) == 0,
                      "%s %s differs between 1 and 2 threads", cc_dtype_name(dt), normal ? "randn" : "rand");
            CHECK_OK(normal ? cc_tensor_randn(b, 0, 1) : cc_tensor_rand(b, -1, 1));     /* the offset moved on */
            CHECK(memcmp(cc_tensor_data(a), cc_tensor_data(b), (size_t)bytes) != 0);
        }
        cc_tensor_free(a);
        cc_tensor_free(b);
    }
    cc_set_num_threads(threads);
    CHECK_EQ_I(cc_initial_seed(), 1234);

    /* value i depends on i only: a short call gives the prefix of a long one */
    cc_tensor *s, *l;
    double vs[7], vl[7];
    CHECK_OK(cc_tensor_empty(&s, 1, SHAPE(7), CC_F64, CC_CPU, 0));
    CHECK_OK(cc_tensor_empty(&l, 1, SHAPE(100), CC_F64, CC_CPU, 0));
    cc_manual_seed(99);
    CHECK_OK(cc_tensor_randn(s, 0, 1));
    cc_manual_seed(99);
    CHECK_OK(cc_tensor_randn(l, 0, 1));
    values(s, vs, 7);
    values(l, vl, 7);
    CHECK(memcmp(vs, vl, sizeof vs) == 0);
    /* and the first value is Box-Muller of block 0 by hand */
    uint32_t w[4];
    double z0, z1;
    cc_philox_block(99, 0, w);
    cc_box_muller(1.0 - cc_u01_f64(w[0], w[1]), cc_u01_f64(w[2], w[3]), &z0, &z1);
    CHECK(vs[0] == z0 && vs[1] == z1);

    /* a strided destination gets the values in its logical order */
    cc_tensor *c, *t, *tt;
    CHECK_OK(cc_tensor_empty(&c, 2, SHAPE(3, 5), CC_F32, CC_CPU, 0));
    CHECK_OK(cc_tensor_empty(&t, 2, SHAPE(5, 3), CC_F32, CC_CPU, 0));
    CHECK_OK(cc_tensor_transpose(&tt, t, 0, 1));
    cc_manual_seed(7);
    CHECK_OK(cc_tensor_rand(c, 2, 3));
    cc_manual_seed(7);
    CHECK_OK(cc_tensor_rand(tt, 2, 3));
    int same = 1;
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 5; j++) {
            double x, y;
            cc_tensor_get(c, (int64_t[]){ i, j }, &x);
            cc_tensor_get(tt, (int64_t[]){ i, j }, &y);
            same &= x == y && x >= 2 && x < 3;
        }
    CHECK(same);
    cc_philox_block(7, 1, w);                  /* element 5 of an f32 stream: block 1, word 1 */
    double e;
    cc_tensor_get(c, (int64_t[]){ 1, 0 }, &e);
    CHECK(e == (double)(float)(2.0 + cc_u01_f32(w[1])));
    cc_tensor_free(c);
    cc_tensor_free(t);
    cc_tensor_free(tt);
    cc_tensor_free(s);
    cc_tensor_free(l);
    CHECK_EQ_I(cc_live_storages(), s0);
}

TEST_GROUP(rand_statistics)
{
    const int64_t n = 100000;
    cc_tensor *x;
    for (int dt = CC_F32; dt <= CC_F64; dt++) {
        CHECK_OK(cc_tensor_empty(&x, 1, SHAPE(n), dt, CC_CPU, 0));
        cc_manual_seed(5);
        CHECK_OK(cc_tensor_rand(x, -2, 6));
        double sum = 0, lo = 1e9, hi = -1e9;
        for (int64_t i = 0; i < n; i++) {
            double v;
            cc_tensor_get(x, (int64_t[]){ i }, &v);
            sum += v;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        CHECK(lo >= -2 && hi < 6 && lo < -1.99 && hi > 5.99);
        CHECK_MSG(fabs(sum / n - 2) < 0.03, "uniform mean %g", sum / n);   /* sd of the mean: 8/sqrt(12n) = 0.007 */
        CHECK_OK(cc_tensor_randn(x, 1, 3));
        double s1 = 0, s2 = 0;
        for (int64_t i = 0; i < n; i++) {
            double v;
            cc_tensor_get(x, (int64_t[]){ i }, &v);
            s1 += v;
            s2 += v * v;
        }
        double mean = s1 / n, sd = sqrt(s2 / n - mean * mean);
        CHECK_MSG(fabs(mean - 1) < 0.05 && fabs(sd - 3) < 0.05, "normal mean %g sd %g", mean, sd);
        cc_tensor_free(x);
    }
    CHECK_OK(cc_tensor_empty(&x, 1, SHAPE(4), CC_I32, CC_CPU, 0));
    CHECK_ERR(cc_tensor_rand(x, 0, 1), CC_ERR_DTYPE, "rand: dst: expected dtype f32, f64, f16 or bf16, got (4) i32 cpu");
    cc_tensor_free(x);
    CHECK_OK(cc_tensor_empty(&x, 1, SHAPE(4), CC_F32, CC_CPU, 0));
    CHECK_ERR(cc_tensor_rand(x, 1, 0), CC_ERR_ARGUMENT, "low <= high");
    CHECK_ERR(cc_tensor_randn(x, 0, -1), CC_ERR_ARGUMENT, "std >= 0");
    CHECK_ERR(cc_tensor_randn(NULL, 0, 1), CC_ERR_ARGUMENT, "randn: dst");
    cc_tensor_free(x);
}
