/* dtype names and sizes; f16/bf16 conversions against independent formulas and brute force. */
#include <stdint.h>
#include "test.h"

static uint32_t bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

/* f16 value by the IEEE formula; 0x7c00 counts as 65536 so rounding can pick it as "overflow". */
static double f16_value(uint16_t h)
{
    int e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return (h & 0x8000) ? -v : v;
}

/* Nearest f16 to x by binary search over the positive finite patterns (ordered like their values),
   ties to the even pattern. */
static uint16_t f16_nearest(float x)
{
    if (isnan(x)) return 0x7e00;
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    double a = fabs((double)x);
    int lo = 0, hi = 0x7c00;                   /* invariant: value(lo) <= a, answer in [lo, hi] */
    if (a >= f16_value(0x7c00)) return sign | 0x7c00;
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (f16_value((uint16_t)mid) <= a) lo = mid; else hi = mid;
    }
    double dl = a - f16_value((uint16_t)lo), dh = f16_value((uint16_t)hi) - a;
    int r = dl < dh ? lo : dh < dl ? hi : (lo % 2 == 0 ? lo : hi);
    return (uint16_t)(sign | r);
}

/* Nearest bf16: the two candidates around x's truncated pattern, ties to even; 0x7f80 is 2^128. */
static uint16_t bf16_nearest(float x)
{
    if (isnan(x)) return 0x7fc0;
    uint32_t u = bits(x);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t a = u & 0x7fffffff;
    if (a >= 0x7f800000) return sign | 0x7f80;
    uint32_t lo = a >> 16, hi = lo + 1;
    double vl = (double)from_bits(lo << 16), vh = hi == 0x7f80 ? ldexp(1, 128) : (double)from_bits(hi << 16);
    double av = (double)from_bits(a), dl = av - vl, dh = vh - av;
    uint32_t r = dl < dh ? lo : dh < dl ? hi : (lo % 2 == 0 ? lo : hi);
    return (uint16_t)(sign | r);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

TEST_GROUP(dtype_names)
{
    const char *names[] = { "f32", "f64", "f16", "bf16", "i32", "i64" };
    const int64_t sizes[] = { 4, 8, 2, 2, 4, 8 };
    for (int i = 0; i < 6; i++) {
        CHECK(strcmp(cc_dtype_name(i), names[i]) == 0);
        CHECK_EQ_I(cc_dtype_from_name(names[i]), i);
        CHECK_EQ_I(cc_dtype_size(i), sizes[i]);
    }
    CHECK_EQ_I(cc_dtype_from_name("float32"), -1);
    CHECK_EQ_I(cc_dtype_from_name(NULL), -1);
    CHECK_EQ_I(cc_dtype_size(6), 0);
    CHECK_EQ_I(cc_dtype_size(-1), 0);
}

TEST_GROUP(f16_to_f32_exhaustive)
{
    long bad_value = 0, bad_trip = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = cc_f16_to_f32((uint16_t)h);
        int e = (h >> 10) & 0x1f, m = h & 0x3ff;
        if (e == 31) {
            if (m == 0 ? !(isinf(f) && (signbit(f) != 0) == ((h & 0x8000) != 0)) : !isnan(f)) bad_value++;
            if (m != 0) {
                uint16_t back = cc_f32_to_f16(f);
                if (((back >> 10) & 0x1f) != 31 || (back & 0x3ff) == 0) bad_trip++;   /* NaN stays NaN */
            } else if (cc_f32_to_f16(f) != h) bad_trip++;
            continue;
        }
        if ((double)f != f16_value((uint16_t)h) || (signbit(f) != 0) != ((h & 0x8000) != 0)) bad_value++;
        if (cc_f32_to_f16(f) != h) bad_trip++;                                         /* incl. -0 */
    }
    CHECK_EQ_I(bad_value, 0);
    CHECK_EQ_I(bad_trip, 0);
}

TEST_GROUP(f32_to_f16_rounding)
{
    /* edge cases, each with the pattern it must give */
    struct { float x; uint16_t h; } cases[] = {
        { 0.0f, 0x0000 }, { -0.0f, 0x8000 }, { 1.0f, 0x3c00 }, { -2.0f, 0xc000 },
        { 65504.0f, 0x7bff }, { 65519.99f, 0x7bff }, { 65520.0f, 0x7c00 }, { 1e10f, 0x7c00 },
        { -1e10f, 0xfc00 }, { INFINITY, 0x7c00 }, { -INFINITY, 0xfc00 },
        { 0x1p-24f, 0x0001 }, { 0x1p-25f, 0x0000 },          /* half the smallest subnormal: tie to even 0 */
        { 0x1.8p-25f, 0x0001 }, { 0x1.8p-24f, 0x0002 },      /* 1.5 units: tie to even 2 */
        { 0x1p-26f, 0x0000 }, { -0x1p-25f, 0x8000 }, { 0x1p-14f, 0x0400 },
        { 0x1.ffcp-15f, 0x0400 },                            /* largest subnormal + half unit: tie, even is the normal */
        { 0x1.ff8p-15f, 0x03ff },                            /* the largest subnormal */
        { 1.0f + 0x1p-11f, 0x3c00 },                         /* tie, even down */
        { 1.0f + 0x3p-11f, 0x3c02 },                         /* tie, even up */
        { 1.0f + 0x1p-11f + 0x1p-20f, 0x3c01 },
        { 1e-45f, 0x0000 },                                  /* f32 subnormal */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_MSG(cc_f32_to_f16(cases[i].x) == cases[i].h, "f16(%a) = 0x%04x, want 0x%04x",
                  (double)cases[i].x, cc_f32_to_f16(cases[i].x), cases[i].h);
    CHECK((cc_f32_to_f16(NAN) & 0x7c00) == 0x7c00 && (cc_f32_to_f16(NAN) & 0x3ff) != 0);

    /* brute force on random values: any bit pattern, and patterns inside the f16 range */
    long bad = 0;
    for (int i = 0; i < 200000; i++) {
        uint32_t u = rnd();
        if (i & 1) u = (u & 0x807fffffu) | ((uint32_t)(100 + rnd() % 45) << 23);   /* exponents 2^-27 .. 2^17 */
        float x = from_bits(u);
        uint16_t got = cc_f32_to_f16(x), want = f16_nearest(x);
        if (isnan(x) ? (got & 0x7c00) != 0x7c00 || !(got & 0x3ff) : got != want) {
            if (bad++ < 5) CHECK_MSG(0, "f16(%a) = 0x%04x, nearest is 0x%04x", (double)x, got, want);
        }
        /* exact midpoints between neighbouring f16 values */
        uint16_t h = (uint16_t)(rnd() & 0x7bfe);
        float mid = (float)((f16_value(h) + f16_value((uint16_t)(h + 1))) / 2);
        if (cc_f32_to_f16(mid) != f16_nearest(mid) && bad++ < 5)
            CHECK_MSG(0, "f16(midpoint %a) = 0x%04x, want 0x%04x", (double)mid, cc_f32_to_f16(mid), f16_nearest(mid));
    }
    CHECK_EQ_I(bad, 0);
}

TEST_GROUP(bf16_rounding)
{
    long bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {                      /* exhaustive bf16 -> f32 -> bf16 */
        float f = cc_bf16_to_f32((uint16_t)h);
        if (bits(f) != h << 16) bad++;
        uint16_t back = cc_f32_to_bf16(f);
        if (isnan(f) ? (back & 0x7f80) != 0x7f80 || !(back & 0x7f) : back != h) bad++;
    }
    CHECK_EQ_I(bad, 0);
    struct { float x; uint16_t h; } cases[] = {
        { 1.0f, 0x3f80 }, { -0.0f, 0x8000 }, { 1.0f + 0x1p-8f, 0x3f80 }, { 1.0f + 0x3p-8f, 0x3f82 },
        { 0x1.fffffep127f, 0x7f80 }, { 0x1.fep127f, 0x7f7f }, { INFINITY, 0x7f80 },
        { 0x1p-149f, 0x0000 }, { 0x1p-133f, 0x0001 },          /* f32 subnormals */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_MSG(cc_f32_to_bf16(cases[i].x) == cases[i].h, "bf16(%a) = 0x%04x, want 0x%04x",
                  (double)cases[i].x, cc_f32_to_bf16(cases[i].x), cases[i].h);
    bad = 0;
    for (int i = 0; i < 200000; i++) {
        float x = from_bits(rnd());
        uint16_t got = cc_f32_to_bf16(x), want = bf16_nearest(x);
        if (isnan(x) ? (got & 0x7f80) != 0x7f80 || !(got & 0x7f) : got != want) {
            if (bad++ < 5) CHECK_MSG(0, "bf16(%a) = 0x%04x, nearest is 0x%04x", (double)x, got, want);
        }
    }
    CHECK_EQ_I(bad, 0);
}
