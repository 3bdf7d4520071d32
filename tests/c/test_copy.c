/* copy between every dtype pair and several layouts against a scalar loop with its own
   conversion rules; fill, arange, get/set, clone, contiguous, to. */
#include <stdlib.h>
#include "test.h"

static uint64_t state = 0x2545f4914f6cdd1dull;
static uint64_t rnd64(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
}

static int is_int(int dt) { return dt == CC_I32 || dt == CC_I64; }

/* An element as the test sees it: an integer, or the exact double value of a float. */
typedef struct { int integer; int64_t i; double d; } scalar;

static scalar read_elem(const void *p, int dt)
{
    scalar s = { 0, 0, 0 };
    switch (dt) {
    case CC_F32:  s.d = *(const float *)p; break;
    case CC_F64:  s.d = *(const double *)p; break;
    case CC_F16:  s.d = cc_f16_to_f32(*(const uint16_t *)p); break;
    case CC_BF16: s.d = cc_bf16_to_f32(*(const uint16_t *)p); break;
    case CC_I32:  s.integer = 1; s.i = *(const int32_t *)p; break;
    default:      s.integer = 1; s.i = *(const int64_t *)p; break;
    }
    return s;
}

/* float to integer: NaN -> 0, beyond the range -> its nearest end, else truncated toward zero */
static int64_t saturate(double d, double lo, double hi)
{
    if (isnan(d)) return 0;
    if (d <= lo) return (int64_t)lo;
    if (d >= hi) return hi > 1e18 ? INT64_MAX : (int64_t)hi;
    return (int64_t)d;
}

/* The documented rules: to f64 by a double cast; to f32/f16/bf16 by one float cast (then 16 bits);
   integer to integer exact (i32 wraps); float to integer saturates (see saturate). */
static void expected_elem(void *out, int dt, scalar s)
{
    float f = s.integer ? (float)s.i : (float)s.d;
    switch (dt) {
    case CC_F32:  memcpy(out, &f, 4); break;
    case CC_F64:  { double d = s.integer ? (double)s.i : s.d; memcpy(out, &d, 8); } break;
    case CC_F16:  { uint16_t h = cc_f32_to_f16(f); memcpy(out, &h, 2); } break;
    case CC_BF16: { uint16_t h = cc_f32_to_bf16(f); memcpy(out, &h, 2); } break;
    case CC_I32:  { int32_t v = s.integer ? (int32_t)s.i : (int32_t)saturate(s.d, -2147483648.0, 2147483647.0); memcpy(out, &v, 4); } break;
    default:      { int64_t v = s.integer ? s.i : saturate(s.d, -9223372036854775808.0, 9223372036854775808.0); memcpy(out, &v, 8); } break;
    }
}

/* Random contents for every element of the storage of t; values that convert to dst_dt defined. */
static void randomize(cc_tensor *t, int dst_dt)
{
    char *base = (char *)cc_tensor_data(t) - t->offset * cc_dtype_size(t->dtype);
    int64_t n = cc_tensor_storage_bytes(t) / cc_dtype_size(t->dtype), size = cc_dtype_size(t->dtype);
    for (int64_t i = 0; i < n; i++) {
        uint64_t r = rnd64();
        double v = (double)((int64_t)(r % 2000001) - 1000000) / 64.0;
        if (r % 7 == 0) v = (double)((int64_t)(r % 2000000001) - 1000000000);   /* big: overflows f16 */
        if (r % 11 == 0) v = -0.0;
        if (r % 13 == 0 && !is_int(dst_dt)) v = (double)(int64_t)(r >> 2) * (r & 1 ? 1e-30 : 1.0);
        scalar s = { 0, 0, v };
        if (t->dtype == CC_I64) { s.integer = 1; s.i = r % 3 == 0 ? (int64_t)(r >> 1) : (int64_t)v; }
        if (t->dtype == CC_I32) { s.integer = 1; s.i = (int32_t)(r >> 7); }
        expected_elem(base + i * size, t->dtype, s);
    }
}

/* Offsets in elements of each element of t in C order. */
static int64_t elem_offset(const cc_tensor *t, int64_t linear)
{
    int64_t off = 0;
    for (int i = t->ndim - 1; i >= 0; i--) {
        off += (linear % t->shape[i]) * t->stride[i];
        linear /= t->shape[i];
    }
    return off;
}

/* Copies src into dst with cc_tensor_copy and compares every byte of dst's storage with the
   scalar reference (elements outside the view must keep their old bytes). */
static int copy_matches(cc_tensor *dst, const cc_tensor *src)
{
    int64_t bytes = cc_tensor_storage_bytes(dst), ds = cc_dtype_size(dst->dtype), ss = cc_dtype_size(src->dtype);
    char *dbase = (char *)cc_tensor_data(dst) - dst->offset * ds;
    char *want = malloc((size_t)bytes + 1);
    memcpy(want, dbase, (size_t)bytes);
    int64_t n = cc_tensor_numel(dst);
    for (int64_t i = 0; i < n; i++) {
        scalar s = read_elem((const char *)cc_tensor_data(src) + elem_offset(src, i) * ss, src->dtype);
        expected_elem(want + (dst->offset + elem_offset(dst, i)) * ds, dst->dtype, s);
    }
    cc_status st = cc_tensor_copy(dst, src);
    int ok = st == CC_OK && memcmp(want, dbase, (size_t)bytes) == 0;
    free(want);
    return ok;
}

/* layouts: 0 both dense, 1 src permuted, 2 dst narrowed + src expanded, 3 0-d, 4 large transposed
   (parallel, tiled), 5 batched transpose with a narrowed dst (tiled, ragged tiles) */
static int check_pair(int sdt, int ddt, int layout)
{
    cc_tensor *sb = NULL, *db = NULL, *s = NULL, *d = NULL;
    int ok;
    switch (layout) {
    case 0:
        cc_tensor_empty(&sb, 3, SHAPE(3, 5, 7), sdt, CC_CPU, 0);
        cc_tensor_empty(&db, 3, SHAPE(3, 5, 7), ddt, CC_CPU, 0);
        cc_tensor_alias(&s, sb);
        cc_tensor_alias(&d, db);
        break;
    case 1:
        cc_tensor_empty(&sb, 3, SHAPE(7, 5, 3), sdt, CC_CPU, 0);
        cc_tensor_empty(&db, 3, SHAPE(3, 5, 7), ddt, CC_CPU, 0);
        cc_tensor_permute(&s, sb, 3, (const int[]){ 2, 1, 0 });
        cc_tensor_alias(&d, db);
        break;
    case 2: {
        cc_tensor *n;
        cc_tensor_empty(&sb, 3, SHAPE(1, 5, 1), sdt, CC_CPU, 0);
        cc_tensor_empty(&db, 3, SHAPE(3, 9, 7), ddt, CC_CPU, 0);
        cc_tensor_expand(&s, sb, 3, SHAPE(3, 5, 7));
        cc_tensor_narrow(&n, db, 1, 2, 5);
        cc_tensor_narrow(&d, n, 2, 1, 6);
        cc_tensor_free(n);
        cc_tensor *e = s;
        cc_tensor_narrow(&s, e, 2, 0, 6);
        cc_tensor_free(e);
        break;
    }
    case 3: {
        cc_tensor *r;
        cc_tensor_empty(&sb, 1, SHAPE(4), sdt, CC_CPU, 0);
        cc_tensor_empty(&db, 2, SHAPE(2, 3), ddt, CC_CPU, 0);
        cc_tensor_select(&s, sb, 0, 2);
        cc_tensor_select(&r, db, 0, 1);
        cc_tensor_select(&d, r, 0, 1);
        cc_tensor_free(r);
        break;
    }
    case 5: {
        cc_tensor *n;
        cc_tensor_empty(&sb, 3, SHAPE(2, 70, 45), sdt, CC_CPU, 0);
        cc_tensor_empty(&db, 3, SHAPE(2, 45, 73), ddt, CC_CPU, 0);
        cc_tensor_transpose(&s, sb, 1, 2);
        cc_tensor_narrow(&n, db, 2, 3, 70);
        d = n;
        break;
    }
    default:
        cc_tensor_empty(&sb, 2, SHAPE(301, 700), sdt, CC_CPU, 0);
        cc_tensor_empty(&db, 2, SHAPE(700, 301), ddt, CC_CPU, 0);
        cc_tensor_transpose(&s, sb, 0, 1);
        cc_tensor_alias(&d, db);
        break;
    }
    randomize(sb, ddt);
    randomize(db, ddt);
    ok = copy_matches(d, s);
    cc_tensor_free(s);
    cc_tensor_free(d);
    cc_tensor_free(sb);
    cc_tensor_free(db);
    return ok;
}

TEST_GROUP(copy_all_pairs)
{
    int64_t s0 = cc_live_storages(), t0 = cc_live_tensors();
    for (int layout = 0; layout < 6; layout++)
        for (int sdt = CC_F32; sdt <= CC_I64; sdt++)
            for (int ddt = CC_F32; ddt <= CC_I64; ddt++)
                CHECK_MSG(check_pair(sdt, ddt, layout), "copy %s -> %s, layout %d", cc_dtype_name(sdt), cc_dtype_name(ddt), layout);
    /* large contiguous conversions take the parallel path */
    for (int sdt = CC_F32; sdt <= CC_I64; sdt++) {
        cc_tensor *a, *b;
        cc_tensor_empty(&a, 1, SHAPE(200001), sdt, CC_CPU, 0);
        cc_tensor_empty(&b, 1, SHAPE(200001), sdt == CC_F16 ? CC_I64 : CC_F16, CC_CPU, 0);
        randomize(a, b->dtype);
        CHECK_MSG(copy_matches(b, a), "large copy from %s", cc_dtype_name(sdt));
        cc_tensor_free(a);
        cc_tensor_free(b);
    }
    CHECK_EQ_I(cc_live_storages(), s0);
    CHECK_EQ_I(cc_live_tensors(), t0);
}

TEST_GROUP(copy_edges)
{
    int64_t s0 = cc_live_storages();
    cc_tensor *x, *a, *b;
    /* overlapping source and destination: behaves like memmove */
    CHECK_OK(cc_tensor_empty(&x, 1, SHAPE(10), CC_I64, CC_CPU, 0));
    CHECK_OK(cc_tensor_arange(x, 0, 1));
    CHECK_OK(cc_tensor_narrow(&a, x, 0, 0, 8));
    CHECK_OK(cc_tensor_narrow(&b, x, 0, 2, 8));
    int64_t v0 = cc_tensor_version(x);
    CHECK_OK(cc_tensor_copy(b, a));
    CHECK_EQ_I(cc_tensor_version(x), v0 + 1);
    int ok = 1;
    for (int64_t i = 0; i < 10; i++) {
        double v;
        cc_tensor_get(x, &i, &v);
        ok &= v == (i < 2 ? i : i - 2);
    }
    CHECK(ok);
    CHECK_ERR(cc_tensor_copy(a, x), CC_ERR_SHAPE, "copy: src (10) i64 cpu and dst (8) i64 cpu: shapes must be equal");
    cc_tensor_free(a);
    cc_tensor_free(b);
    CHECK_OK(cc_tensor_narrow(&a, x, 0, 0, 1));
    CHECK_OK(cc_tensor_expand(&b, a, 1, SHAPE(4)));
    cc_tensor_free(a);
    CHECK_OK(cc_tensor_narrow(&a, x, 0, 0, 4));
    CHECK_ERR(cc_tensor_copy(b, a), CC_ERR_ARGUMENT, "copy: dst: expected an output whose elements do not overlap, got (4) i64 cpu with strides (0)");
    CHECK_OK(cc_tensor_copy(a, b));                              /* expanded source is fine */
    CHECK_ERR(cc_tensor_copy(NULL, a), CC_ERR_ARGUMENT, "copy: dst: expected a tensor, got nil");
    cc_tensor_free(a);
    cc_tensor_free(b);
    cc_tensor_free(x);

    /* empty tensors */
    CHECK_OK(cc_tensor_empty(&a, 2, SHAPE(0, 3), CC_F32, CC_CPU, 0));
    CHECK_OK(cc_tensor_empty(&b, 2, SHAPE(0, 3), CC_BF16, CC_CPU, 0));
    CHECK_OK(cc_tensor_copy(b, a));
    CHECK_OK(cc_tensor_fill(b, 1));
    cc_tensor *c;
    CHECK_OK(cc_tensor_clone(&c, a));
    CHECK_EQ_I(cc_tensor_numel(c), 0);
    cc_tensor_free(c);
    cc_tensor_free(a);
    cc_tensor_free(b);
    CHECK_EQ_I(cc_live_storages(), s0);
}

TEST_GROUP(fill_arange_get_set)
{
    int64_t s0 = cc_live_storages();
    for (int dt = CC_F32; dt <= CC_I64; dt++) {
        cc_tensor *base, *x;
        CHECK_OK(cc_tensor_empty(&base, 2, SHAPE(4, 6), dt, CC_CPU, 0));
        CHECK_OK(cc_tensor_fill(base, 0));
        CHECK_OK(cc_tensor_transpose(&x, base, 0, 1));
        cc_tensor *col;
        CHECK_OK(cc_tensor_narrow(&col, x, 1, 1, 2));            /* (6, 2), strides (1, 6) */
        CHECK_OK(cc_tensor_fill(col, -2.75));
        double want_fill = is_int(dt) ? -2 : -2.75, v;
        int ok = 1;
        for (int64_t i = 0; i < 4; i++)
            for (int64_t j = 0; j < 6; j++) {
                cc_tensor_get(base, (int64_t[]){ i, j }, &v);
                ok &= v == (i == 1 || i == 2 ? want_fill : 0);
            }
        CHECK_MSG(ok, "fill %s", cc_dtype_name(dt));
        cc_tensor *row;
        CHECK_OK(cc_tensor_select(&row, base, 1, 3));           /* (4), stride 6 */
        CHECK_OK(cc_tensor_arange(row, 10, -0.5));
        ok = 1;
        for (int64_t i = 0; i < 4; i++) {
            cc_tensor_get(base, (int64_t[]){ i, 3 }, &v);
            ok &= v == (is_int(dt) ? (double)(int64_t)(10 - 0.5 * i) : 10 - 0.5 * i);
        }
        CHECK_MSG(ok, "arange %s", cc_dtype_name(dt));
        CHECK_OK(cc_tensor_set(base, (int64_t[]){ 3, 5 }, 7));
        CHECK_OK(cc_tensor_get(x, (int64_t[]){ 5, 3 }, &v));
        CHECK(v == 7);
        CHECK_ERR(cc_tensor_get(base, (int64_t[]){ 4, 0 }, &v), CC_ERR_ARGUMENT, "get: index: entry 0 is 4, expected 0 <= i < 4");
        CHECK_ERR(cc_tensor_arange(base, 0, 1), CC_ERR_SHAPE, "arange: dst: expected 1 dims");
        if (is_int(dt)) {
            CHECK_ERR(cc_tensor_fill(base, NAN), CC_ERR_ARGUMENT, "does not fit");
            CHECK_ERR(cc_tensor_set(base, (int64_t[]){ 0, 0 }, 1e30), CC_ERR_ARGUMENT, "set: value: 1e+30 does not fit");
        }
        cc_tensor_free(row);
        cc_tensor_free(col);
        cc_tensor_free(x);
        cc_tensor_free(base);
    }
    cc_tensor *big;                                              /* i64 arange is exact past 2^53 */
    CHECK_OK(cc_tensor_empty(&big, 1, SHAPE(3), CC_I64, CC_CPU, 0));
    CHECK_OK(cc_tensor_fill(big, 9007199254740992.0 * 4));
    CHECK(((int64_t *)cc_tensor_data(big))[2] == ((int64_t)1 << 55));
    cc_tensor_free(big);
    CHECK_EQ_I(cc_live_storages(), s0);
}

TEST_GROUP(clone_contiguous_to)
{
    int64_t s0 = cc_live_storages(), t0 = cc_live_tensors();
    cc_tensor *x, *t, *c, *y;
    CHECK_OK(cc_tensor_empty(&x, 2, SHAPE(3, 4), CC_F64, CC_CPU, 0));
    CHECK_ERR(cc_tensor_arange(x, 0, 1), CC_ERR_SHAPE, "arange: dst: expected 1 dims, got (3, 4) f64 cpu");
    CHECK_OK(cc_tensor_view(&t, x, 1, SHAPE(12)));
    CHECK_OK(cc_tensor_arange(t, 0.5, 1));
    cc_tensor_free(t);
    CHECK_OK(cc_tensor_contiguous(&c, x));
    CHECK(cc_tensor_same_storage(c, x));                         /* already contiguous: alias */
    cc_tensor_free(c);
    CHECK_OK(cc_tensor_transpose(&t, x, 0, 1));
    CHECK_OK(cc_tensor_contiguous(&c, t));
    CHECK(!cc_tensor_same_storage(c, t) && cc_tensor_is_contiguous(c));
    double v;
    CHECK_OK(cc_tensor_get(c, (int64_t[]){ 3, 1 }, &v));
    CHECK(v == 7.5);
    cc_tensor_free(c);
    CHECK_OK(cc_tensor_clone(&c, x));
    CHECK(!cc_tensor_same_storage(c, x));
    cc_tensor_free(c);
    CHECK_OK(cc_tensor_to(&y, t, CC_F64, CC_CPU, 0));
    CHECK(cc_tensor_same_storage(y, t));                         /* nothing to change: alias */
    cc_tensor_free(y);
    CHECK_OK(cc_tensor_to(&y, t, CC_BF16, CC_CPU, 0));
    CHECK(y->dtype == CC_BF16 && y->shape[0] == 4 && cc_tensor_is_contiguous(y));
    CHECK_OK(cc_tensor_get(y, (int64_t[]){ 2, 2 }, &v));
    CHECK(v == 10.5);
    cc_tensor_free(y);
    CHECK_ERR(cc_tensor_to(&y, t, 9, CC_CPU, 0), CC_ERR_DTYPE, "to: dtype");
    CHECK_ERR(cc_tensor_to(&y, t, CC_F32, 3, 0), CC_ERR_DEVICE, "to: device");
    CHECK(y == NULL);
    cc_tensor_free(t);
    cc_tensor_free(x);
    CHECK_EQ_I(cc_live_storages(), s0);
    CHECK_EQ_I(cc_live_tensors(), t0);
}

/* Float -> integer conversion of NaN, infinities and out-of-range values is defined: NaN gives 0,
   the rest saturate at the ends of the range; in-range values truncate toward zero. */
TEST_GROUP(copy_float_to_int_saturates)
{
    const double in[] = { NAN, INFINITY, -INFINITY, 1e300, -1e300, 3e9, -3e9, 1e19, -1e19, 2.9, -2.9, 0.5 };
    const int64_t want32[] = { 0, INT32_MAX, INT32_MIN, INT32_MAX, INT32_MIN, INT32_MAX, INT32_MIN, INT32_MAX, INT32_MIN, 2, -2, 0 };
    const int64_t want64[] = { 0, INT64_MAX, INT64_MIN, INT64_MAX, INT64_MIN, 3000000000LL, -3000000000LL, INT64_MAX, INT64_MIN, 2, -2, 0 };
    int n = (int)(sizeof in / sizeof in[0]);
    for (int sdt = CC_F32; sdt <= CC_BF16; sdt++) {
        cc_tensor *src = NULL, *d32 = NULL, *d64 = NULL, *f64 = NULL;
        CHECK_OK(cc_tensor_empty(&f64, 1, SHAPE(n), CC_F64, CC_CPU, 0));
        memcpy(cc_tensor_data(f64), in, sizeof in);
        CHECK_OK(cc_tensor_to(&src, f64, sdt, CC_CPU, 0));
        CHECK_OK(cc_tensor_to(&d32, src, CC_I32, CC_CPU, 0));
        CHECK_OK(cc_tensor_to(&d64, src, CC_I64, CC_CPU, 0));
        for (int i = 0; i < n; i++) {
            double v;   /* the value as the source dtype holds it */
            CHECK_OK(cc_tensor_get(src, SHAPE(i), &v));
            int64_t w32 = isnan(v) ? 0 : v >= 2147483647.0 ? INT32_MAX : v <= -2147483648.0 ? INT32_MIN : want32[i];
            int64_t w64 = isnan(v) ? 0 : isinf(v) ? (v > 0 ? INT64_MAX : INT64_MIN) : fabs(v) < 9.2e18 ? (int64_t)v : want64[i];
            CHECK_MSG(((int32_t *)cc_tensor_data(d32))[i] == w32, "%s %g -> i32: got %d, want %lld", cc_dtype_name(sdt), v,
                      ((int32_t *)cc_tensor_data(d32))[i], (long long)w32);
            CHECK_MSG(((int64_t *)cc_tensor_data(d64))[i] == w64, "%s %g -> i64: got %lld, want %lld", cc_dtype_name(sdt), v,
                      (long long)((int64_t *)cc_tensor_data(d64))[i], (long long)w64);
        }
        cc_tensor_free(src);
        cc_tensor_free(d32);
        cc_tensor_free(d64);
        cc_tensor_free(f64);
    }
}
