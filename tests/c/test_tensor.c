/* Tensor lifetime, refcounting and every view op, with their error cases. */
#include "test.h"
#include "checks.h"   /* cc_describe, cc_check_*, cc_tensor_extent are exported for the ops */

/* Element offset of index idx in t, by the stride formula. */
static int64_t offset_of(const cc_tensor *t, const int64_t *idx)
{
    int64_t off = t->offset;
    for (int i = 0; i < t->ndim; i++) off += idx[i] * t->stride[i];
    return off;
}

static int shape_is(const cc_tensor *t, int ndim, const int64_t *shape)
{
    if (!t || t->ndim != ndim) return 0;
    for (int i = 0; i < ndim; i++)
        if (t->shape[i] != shape[i]) return 0;
    return 1;
}

static int strides_are(const cc_tensor *t, const int64_t *stride)
{
    for (int i = 0; i < t->ndim; i++)
        if (t->stride[i] != stride[i]) return 0;
    return 1;
}

TEST_GROUP(tensor_empty)
{
    int64_t s0 = cc_live_storages(), t0 = cc_live_tensors();
    cc_tensor *t = NULL;
    CHECK_OK(cc_tensor_empty(&t, 3, SHAPE(2, 3, 4), CC_F32, CC_CPU, 0));
    CHECK(shape_is(t, 3, SHAPE(2, 3, 4)));
    CHECK(strides_are(t, SHAPE(12, 4, 1)));
    CHECK_EQ_I(cc_tensor_numel(t), 24);
    CHECK_EQ_I(cc_tensor_storage_bytes(t), 96);
    CHECK(cc_tensor_is_contiguous(t));
    CHECK(((uintptr_t)cc_tensor_data(t) & 63) == 0);
    CHECK_EQ_I(cc_live_storages(), s0 + 1);
    CHECK_EQ_I(cc_live_tensors(), t0 + 1);
    CHECK_EQ_I(cc_tensor_version(t), 0);
    cc_tensor_bump_version(t);
    CHECK_EQ_I(cc_tensor_version(t), 1);
    cc_tensor_free(t);

    CHECK_OK(cc_tensor_empty(&t, 0, NULL, CC_I64, CC_CPU, 0));     /* 0-d: one element */
    CHECK_EQ_I(cc_tensor_numel(t), 1);
    CHECK_EQ_I(cc_tensor_storage_bytes(t), 8);
    cc_tensor_free(t);
    CHECK_OK(cc_tensor_empty(&t, 2, SHAPE(0, 5), CC_F16, CC_CPU, 0));
    CHECK_EQ_I(cc_tensor_numel(t), 0);
    CHECK(cc_tensor_is_contiguous(t));
    cc_tensor_free(t);
    cc_tensor_free(NULL);

    t = (cc_tensor *)1;
    CHECK_ERR(cc_tensor_empty(&t, 9, SHAPE(1, 1, 1, 1, 1, 1, 1, 1, 1), CC_F32, CC_CPU, 0), CC_ERR_ARGUMENT, "ndim");
    CHECK(t == NULL);
    CHECK_ERR(cc_tensor_empty(&t, 2, SHAPE(2, -1), CC_F32, CC_CPU, 0), CC_ERR_SHAPE, "got -1");
    CHECK_ERR(cc_tensor_empty(&t, 1, SHAPE(2), 7, CC_CPU, 0), CC_ERR_DTYPE, "dtype");
    CHECK_ERR(cc_tensor_empty(&t, 1, SHAPE(2), CC_F32, 5, 0), CC_ERR_DEVICE, "device");
    CHECK_ERR(cc_tensor_empty(&t, 2, SHAPE(INT64_MAX / 4, 3), CC_F64, CC_CPU, 0), CC_ERR_MEMORY, "overflows int64");
    CHECK_ERR(cc_tensor_empty(&t, 1, SHAPE(INT64_MAX / 16), CC_F64, CC_CPU, 0), CC_ERR_MEMORY, "out of memory");
    CHECK(t == NULL);
    CHECK_EQ_I(cc_live_storages(), s0);
    CHECK_EQ_I(cc_live_tensors(), t0);
}

TEST_GROUP(tensor_refcount)
{
    int64_t s0 = cc_live_storages(), t0 = cc_live_tensors();
    cc_tensor *base, *v1, *v2;
    CHECK_OK(cc_tensor_empty(&base, 2, SHAPE(4, 6), CC_F64, CC_CPU, 0));
    CHECK_OK(cc_tensor_fill(base, 3.5));
    CHECK_OK(cc_tensor_transpose(&v1, base, 0, 1));
    CHECK_OK(cc_tensor_narrow(&v2, v1, 0, 2, 3));
    CHECK(cc_tensor_same_storage(base, v2));
    int64_t ver = cc_tensor_version(base);
    cc_tensor_bump_version(v2);                          /* the version belongs to the storage */
    CHECK_EQ_I(cc_tensor_version(base), ver + 1);
    cc_tensor_free(base);
    cc_tensor_free(v1);
    CHECK_EQ_I(cc_live_storages(), s0 + 1);              /* still held by v2 */
    double v = 0;
    CHECK_OK(cc_tensor_get(v2, SHAPE(2, 3), &v));
    CHECK(v == 3.5);
    cc_tensor_free(v2);
    CHECK_EQ_I(cc_live_storages(), s0);
    CHECK_EQ_I(cc_live_tensors(), t0);

    /* views freed from several threads at once */
    cc_tensor *views[64];
    CHECK_OK(cc_tensor_empty(&base, 1, SHAPE(10), CC_F32, CC_CPU, 0));
    for (int i = 0; i < 64; i++) cc_tensor_alias(&views[i], base);
    cc_tensor_free(base);
    #pragma omp parallel for num_threads(4)
    for (int i = 0; i < 64; i++) cc_tensor_free(views[i]);
    CHECK_EQ_I(cc_live_storages(), s0);
    CHECK_EQ_I(cc_live_tensors(), t0);
}

TEST_GROUP(views)
{
    int64_t s0 = cc_live_storages(), t0 = cc_live_tensors();
    cc_tensor *x, *v = NULL;
    CHECK_OK(cc_tensor_empty(&x, 3, SHAPE(2, 3, 4), CC_F32, CC_CPU, 0));

    CHECK_OK(cc_tensor_transpose(&v, x, 0, 2));
    CHECK(shape_is(v, 3, SHAPE(4, 3, 2)) && strides_are(v, SHAPE(1, 4, 12)));
    CHECK(!cc_tensor_is_contiguous(v));
    cc_tensor_free(v);

    CHECK_OK(cc_tensor_permute(&v, x, 3, (const int[]){ 1, 2, 0 }));
    CHECK(shape_is(v, 3, SHAPE(3, 4, 2)) && strides_are(v, SHAPE(4, 1, 12)));
    cc_tensor_free(v);

    CHECK_OK(cc_tensor_narrow(&v, x, 1, 1, 2));
    CHECK(shape_is(v, 3, SHAPE(2, 2, 4)) && strides_are(v, SHAPE(12, 4, 1)) && v->offset == 4);
    cc_tensor_free(v);
    CHECK_OK(cc_tensor_narrow(&v, x, 2, 4, 0));          /* empty at the end is allowed */
    CHECK_EQ_I(cc_tensor_numel(v), 0);
    cc_tensor_free(v);

    CHECK_OK(cc_tensor_select(&v, x, 1, 2));
    CHECK(shape_is(v, 2, SHAPE(2, 4)) && strides_are(v, SHAPE(12, 1)) && v->offset == 8);
    cc_tensor_free(v);

    CHECK_OK(cc_tensor_unsqueeze(&v, x, 1));
    CHECK(shape_is(v, 4, SHAPE(2, 1, 3, 4)) && strides_are(v, SHAPE(12, 12, 4, 1)));
    CHECK(cc_tensor_is_contiguous(v));
    cc_tensor *w;
    CHECK_OK(cc_tensor_squeeze(&w, v, -1));
    CHECK(shape_is(w, 3, SHAPE(2, 3, 4)));
    cc_tensor_free(w);
    CHECK_OK(cc_tensor_squeeze(&w, v, 0));               /* size 2: unchanged, as in PyTorch */
    CHECK(shape_is(w, 4, SHAPE(2, 1, 3, 4)));
    cc_tensor_free(w);
    CHECK_OK(cc_tensor_squeeze(&w, v, 1));
    CHECK(shape_is(w, 3, SHAPE(2, 3, 4)));
    cc_tensor_free(w);
    cc_tensor_free(v);
    CHECK_OK(cc_tensor_unsqueeze(&v, x, 3));
    CHECK(shape_is(v, 4, SHAPE(2, 3, 4, 1)) && strides_are(v, SHAPE(12, 4, 1, 1)));
    cc_tensor_free(v);

    /* view: one -1, and the stride rule */
    CHECK_OK(cc_tensor_view(&v, x, 2, SHAPE(-1, 4)));
    CHECK(shape_is(v, 2, SHAPE(6, 4)) && strides_are(v, SHAPE(4, 1)));
    cc_tensor_free(v);
    CHECK_ERR(cc_tensor_view(&v, x, 0, NULL), CC_ERR_SHAPE, "view: shape () has 1 elements, x (2, 3, 4) f32 cpu has 24");
    cc_tensor *t;
    CHECK_OK(cc_tensor_transpose(&t, x, 1, 2));          /* (2, 4, 3), strides (12, 1, 4) */
    CHECK_ERR(cc_tensor_view(&v, t, 3, SHAPE(2, 1, 12)), CC_ERR_SHAPE, "not compatible");
    CHECK_ERR(cc_tensor_view(&v, t, 2, SHAPE(2, 12)), CC_ERR_SHAPE, "not compatible with the strides (12, 1, 4)");
    CHECK(v == NULL);
    CHECK_OK(cc_tensor_view(&v, t, 4, SHAPE(2, 2, 2, 3)));   /* splitting a dim is always fine */
    CHECK(strides_are(v, SHAPE(12, 2, 1, 4)));
    cc_tensor_free(v);
    CHECK_ERR(cc_tensor_view(&v, t, 3, SHAPE(1, 2, 12)), CC_ERR_SHAPE, "not compatible");
    CHECK_ERR(cc_tensor_view(&v, t, 2, SHAPE(8, 3)), CC_ERR_SHAPE, "not compatible");   /* strides 12 and 1 do not chain */
    cc_tensor *p;                                        /* merging dims that are contiguous in a permuted tensor */
    CHECK_OK(cc_tensor_permute(&p, x, 3, (const int[]){ 2, 0, 1 }));   /* (4, 2, 3) strides (1, 12, 4) */
    CHECK_OK(cc_tensor_view(&v, p, 2, SHAPE(4, 6)));
    CHECK(strides_are(v, SHAPE(1, 4)));
    cc_tensor_free(v);
    cc_tensor_free(p);
    cc_tensor_free(t);
    CHECK_ERR(cc_tensor_view(&v, x, 2, SHAPE(-1, -1)), CC_ERR_ARGUMENT, "only one");
    CHECK_ERR(cc_tensor_view(&v, x, 2, SHAPE(5, -1)), CC_ERR_SHAPE, "cannot hold the 24 elements");
    CHECK_ERR(cc_tensor_view(&v, x, 2, SHAPE(5, 5)), CC_ERR_SHAPE, "(5, 5) has 25 elements");
    CHECK_ERR(cc_tensor_view(&v, x, 2, SHAPE(-3, 5)), CC_ERR_ARGUMENT, "sizes must be >= 0");

    /* expand */
    cc_tensor *c;
    CHECK_OK(cc_tensor_narrow(&c, x, 2, 0, 1));          /* (2, 3, 1) */
    CHECK_OK(cc_tensor_expand(&v, c, 4, SHAPE(5, -1, 3, 7)));
    CHECK(shape_is(v, 4, SHAPE(5, 2, 3, 7)) && strides_are(v, SHAPE(0, 12, 4, 0)));
    int64_t idx[4] = { 4, 1, 2, 6 };
    CHECK_EQ_I(offset_of(v, idx), 12 + 8);
    cc_tensor_free(v);
    CHECK_ERR(cc_tensor_expand(&v, c, 3, SHAPE(2, 4, 7)), CC_ERR_SHAPE, "cannot expand to (2, 4, 7)");
    CHECK_ERR(cc_tensor_expand(&v, c, 2, SHAPE(3, 7)), CC_ERR_ARGUMENT, "expected 3 to 8 sizes");
    CHECK_ERR(cc_tensor_expand(&v, c, 4, SHAPE(-1, 2, 3, 1)), CC_ERR_ARGUMENT, "new leading size");
    cc_tensor_free(c);

    /* as_strided: a sliding window over the storage */
    CHECK_OK(cc_tensor_as_strided(&v, x, 2, SHAPE(21, 4), SHAPE(1, 1), 0));
    CHECK(shape_is(v, 2, SHAPE(21, 4)));
    cc_tensor_free(v);
    CHECK_ERR(cc_tensor_as_strided(&v, x, 2, SHAPE(22, 4), SHAPE(1, 1), 0), CC_ERR_SHAPE, "holds 24 elements");
    CHECK_ERR(cc_tensor_as_strided(&v, x, 1, SHAPE(2), SHAPE(1), 23), CC_ERR_SHAPE, "reach element 24");
    CHECK_ERR(cc_tensor_as_strided(&v, x, 1, SHAPE(2), SHAPE(-1), 5), CC_ERR_ARGUMENT, "must be >= 0");
    CHECK_ERR(cc_tensor_as_strided(&v, x, 2, SHAPE(1LL << 40, 1LL << 40), SHAPE(1LL << 40, 1), 0), CC_ERR_SHAPE, "beyond");
    CHECK_OK(cc_tensor_as_strided(&v, x, 1, SHAPE(0), SHAPE(1), 24));
    cc_tensor_free(v);

    /* argument errors name the argument, leave no handle */
    v = (cc_tensor *)1;
    CHECK_ERR(cc_tensor_transpose(&v, x, 0, 3), CC_ERR_ARGUMENT, "transpose: dim1: expected 0 <= dim1 < 3, got 3");
    CHECK(v == NULL);
    CHECK_ERR(cc_tensor_permute(&v, x, 3, (const int[]){ 0, 0, 1 }), CC_ERR_ARGUMENT, "appears twice");
    CHECK_ERR(cc_tensor_permute(&v, x, 2, (const int[]){ 0, 1 }), CC_ERR_ARGUMENT, "expected 3 entries");
    CHECK_ERR(cc_tensor_permute(&v, x, 3, (const int[]){ 0, 1, 3 }), CC_ERR_ARGUMENT, "entry 2 is 3");
    CHECK_ERR(cc_tensor_narrow(&v, x, 1, 2, 2), CC_ERR_ARGUMENT, "start + length = 2 + 2 exceeds the size 3");
    CHECK_ERR(cc_tensor_narrow(&v, x, 1, -1, 2), CC_ERR_ARGUMENT, "narrow: start");
    CHECK_ERR(cc_tensor_narrow(&v, x, 3, 0, 1), CC_ERR_ARGUMENT, "narrow: dim");
    CHECK_ERR(cc_tensor_select(&v, x, 2, 4), CC_ERR_ARGUMENT, "select: index: expected 0 <= index < 4 (the size of that dim), got 4 for x (2, 3, 4) f32 cpu");
    CHECK_ERR(cc_tensor_unsqueeze(&v, x, 4), CC_ERR_ARGUMENT, "unsqueeze: dim");
    CHECK_ERR(cc_tensor_squeeze(&v, x, 3), CC_ERR_ARGUMENT, "squeeze: dim");
    CHECK_ERR(cc_tensor_alias(&v, NULL), CC_ERR_ARGUMENT, "alias: x: expected a tensor, got nil");
    CHECK(v == NULL);
    cc_tensor *u = x, *chain[8];
    for (int i = 0; i < 5; i++) { CHECK_OK(cc_tensor_unsqueeze(&chain[i], u, 0)); u = chain[i]; }
    CHECK_EQ_I(u->ndim, 8);
    CHECK_ERR(cc_tensor_unsqueeze(&v, u, 0), CC_ERR_SHAPE, "maximum of 8 dims");
    for (int i = 0; i < 5; i++) cc_tensor_free(chain[i]);

    /* 0-d tensors */
    cc_tensor *s;
    CHECK_OK(cc_tensor_select(&s, x, 0, 1));
    CHECK_OK(cc_tensor_select(&v, s, 0, 2));
    cc_tensor_free(s);
    CHECK_OK(cc_tensor_select(&s, v, 0, 3));
    CHECK_EQ_I(s->ndim, 0);
    CHECK_EQ_I(s->offset, 12 + 8 + 3);
    CHECK_EQ_I(cc_tensor_numel(s), 1);
    cc_tensor_free(v);
    CHECK_OK(cc_tensor_view(&v, s, 3, SHAPE(1, 1, 1)));
    CHECK(shape_is(v, 3, SHAPE(1, 1, 1)) && v->offset == 23);
    cc_tensor_free(v);
    CHECK_OK(cc_tensor_expand(&v, s, 2, SHAPE(2, 3)));
    CHECK(strides_are(v, SHAPE(0, 0)));
    cc_tensor_free(v);
    CHECK_ERR(cc_tensor_select(&v, s, 0, 0), CC_ERR_ARGUMENT, "expected 0 <= dim < 0");
    cc_tensor_free(s);

    int64_t lo, hi;
    CHECK_OK(cc_tensor_transpose(&v, x, 0, 2));
    cc_tensor_extent(v, &lo, &hi);
    CHECK(lo == 0 && hi == 23);
    cc_tensor_free(v);
    cc_tensor_free(x);
    CHECK_EQ_I(cc_live_storages(), s0);
    CHECK_EQ_I(cc_live_tensors(), t0);
}

TEST_GROUP(describe_and_checks)
{
    cc_tensor *x;
    char buf[64];
    CHECK_OK(cc_tensor_empty(&x, 2, SHAPE(64, 17), CC_BF16, CC_CPU, 0));
    CHECK(strcmp(cc_describe(buf, sizeof buf, x), "(64, 17) bf16 cpu") == 0);
    CHECK(strcmp(cc_describe(buf, sizeof buf, NULL), "nil") == 0);
    CHECK_ERR(cc_check_ndim("op", "weight", x, 3), CC_ERR_SHAPE, "op: weight: expected 3 dims, got (64, 17) bf16 cpu");
    CHECK_ERR(cc_check_shape("op", "weight", x, 2, SHAPE(64, 4)), CC_ERR_SHAPE, "op: weight: expected shape (64, 4), got (64, 17)");
    CHECK_OK(cc_check_shape("op", "weight", x, 2, SHAPE(64, -1)));
    CHECK_ERR(cc_check_shape("op", "weight", NULL, 2, SHAPE(-1, 4)), CC_ERR_ARGUMENT, "expected a tensor of shape (*, 4), got nil");
    CHECK_ERR(cc_check_dtype("op", "x", x, CC_INDEX_DTYPES), CC_ERR_DTYPE, "op: x: expected dtype i32 or i64, got (64, 17) bf16");
    CHECK_ERR(cc_check_dtype("op", "x", x, 1u << CC_F32 | 1u << CC_F64 | 1u << CC_F16), CC_ERR_DTYPE, "f32, f64 or f16");
    CHECK_OK(cc_check_dtype("op", "x", x, CC_FLOAT_DTYPES));
    cc_tensor *n1, *n2;
    CHECK_OK(cc_tensor_narrow(&n1, x, 1, 0, 9));
    CHECK_OK(cc_tensor_narrow(&n2, x, 1, 8, 9));
    CHECK_ERR(cc_check_disjoint("op", "out", n1, "x", n2, 0), CC_ERR_ARGUMENT, "op: out (64, 9) bf16 cpu overlaps x");
    cc_tensor_free(n2);
    CHECK_OK(cc_tensor_narrow(&n2, x, 0, 1, 1));
    cc_tensor_free(n1);
    CHECK_OK(cc_tensor_narrow(&n1, x, 0, 0, 1));
    CHECK_OK(cc_check_disjoint("op", "out", n1, "x", n2, 0));
    const cc_tensor *ts[3] = { NULL, n1, n2 };
    const char *names[3] = { "a", "b", "c" };
    CHECK_OK(cc_check_devices("op", 3, ts, names));
    cc_tensor_free(n1);
    cc_tensor_free(n2);
    cc_tensor_free(x);
    cc_set_reference_kernels(1);
    CHECK(cc_get_reference_kernels() == 1);
    cc_set_reference_kernels(0);
    CHECK(cc_get_reference_kernels() == 0);
    CHECK(cc_get_num_threads() >= 1);
    cc_clear_error();
    CHECK(cc_last_error()[0] == '\0');
}

/* Overlap is decided element by element: interleaved but disjoint views pass, views sharing one
   element (or one byte, across dtypes) fail, and an output whose own elements collide is refused. */
TEST_GROUP(overlap_by_elements)
{
    cc_tensor *buf, *even, *odd, *wide, *self;
    CHECK_OK(cc_tensor_empty(&buf, 2, SHAPE(4, 10), CC_F32, CC_CPU, 0));
    CHECK_OK(cc_tensor_as_strided(&even, buf, 2, SHAPE(4, 5), SHAPE(10, 2), 0));
    CHECK_OK(cc_tensor_as_strided(&odd, buf, 2, SHAPE(4, 5), SHAPE(10, 2), 1));
    CHECK_OK(cc_check_disjoint("op", "out", odd, "x", even, 0));
    CHECK_OK(cc_check_disjoint("op", "out", even, "x", odd, 0));
    CHECK_OK(cc_tensor_as_strided(&wide, buf, 2, SHAPE(4, 3), SHAPE(10, 3), 3));   /* elements 3, 6, 9, ...: 6 is even */
    CHECK_ERR(cc_check_disjoint("op", "out", wide, "x", even, 0), CC_ERR_ARGUMENT, "op: out (4, 3) f32 cpu overlaps x (4, 5) f32 cpu");
    CHECK_OK(cc_check_disjoint("op", "out", even, "x", even, 1));   /* the same view, in place allowed */
    CHECK_ERR(cc_check_disjoint("op", "out", even, "x", even, 0), CC_ERR_ARGUMENT, "overlaps");
    /* strides (1, 1): element (0, 1) is element (1, 0) */
    CHECK_OK(cc_tensor_as_strided(&self, buf, 2, SHAPE(3, 3), SHAPE(1, 1), 0));
    CHECK_ERR(cc_check_output("op", "out", self), CC_ERR_ARGUMENT, "op: out: expected an output whose elements do not overlap");
    cc_tensor_free(self);
    /* strides (3, 2) with shape (2, 3): offsets 0 2 4 3 5 7, all distinct though the dims interleave */
    CHECK_OK(cc_tensor_as_strided(&self, buf, 2, SHAPE(2, 3), SHAPE(3, 2), 0));
    CHECK_OK(cc_check_output("op", "out", self));
    cc_tensor_free(self);
    /* strides (2, 1) with shape (2, 3): offsets 0 1 2 2 3 4 collide */
    CHECK_OK(cc_tensor_as_strided(&self, buf, 2, SHAPE(2, 3), SHAPE(2, 1), 0));
    CHECK_ERR(cc_check_output("op", "out", self), CC_ERR_ARGUMENT, "with strides (2, 1)");
    cc_tensor_free(self);
    /* bytes across dtypes: an f64 view over two f32 elements */
    cc_tensor *f64, *one;
    CHECK_OK(cc_tensor_empty(&f64, 1, SHAPE(4), CC_F64, CC_CPU, 0));
    cc_tensor *as32 = NULL;
    CHECK_OK(cc_tensor_alias(&as32, f64));
    as32->dtype = CC_F32;   /* the same 32 bytes seen as 8 f32 values */
    as32->shape[0] = 8;
    CHECK_OK(cc_tensor_as_strided(&one, as32, 1, SHAPE(1), SHAPE(1), 3));   /* f32 element 3 = upper half of f64 element 1 */
    cc_tensor *f64b;
    CHECK_OK(cc_tensor_narrow(&f64b, f64, 0, 1, 1));
    CHECK_ERR(cc_check_disjoint("op", "out", one, "x", f64b, 0), CC_ERR_ARGUMENT, "overlaps");
    cc_tensor_free(f64b);
    CHECK_OK(cc_tensor_narrow(&f64b, f64, 0, 2, 2));
    CHECK_OK(cc_check_disjoint("op", "out", one, "x", f64b, 0));
    cc_tensor_free(f64b);
    cc_tensor_free(one);
    cc_tensor_free(as32);
    cc_tensor_free(f64);
    cc_tensor_free(wide);
    cc_tensor_free(even);
    cc_tensor_free(odd);
    cc_tensor_free(buf);
}

/* Sizes whose product overflows int64 are refused where a tensor or view is made, so numel and
   every offset stay exact (expand(2^62, 4) used to wrap numel to 0 and read past the buffer). */
TEST_GROUP(numel_overflow)
{
    cc_tensor *x, *v = NULL;
    CHECK_OK(cc_tensor_empty(&x, 2, SHAPE(1, 1), CC_F32, CC_CPU, 0));
    CHECK_ERR(cc_tensor_expand(&v, x, 2, SHAPE((int64_t)1 << 62, 4)), CC_ERR_SHAPE, "expand: shape (4611686018427387904, 4): the product of the sizes overflows int64");
    CHECK(v == NULL);
    CHECK_OK(cc_tensor_expand(&v, x, 2, SHAPE((int64_t)1 << 60, 4)));
    CHECK_EQ_I(cc_tensor_numel(v), (int64_t)1 << 62);
    cc_tensor_free(v);
    v = NULL;
    CHECK_ERR(cc_tensor_expand(&v, x, 3, SHAPE((int64_t)1 << 40, (int64_t)1 << 40, 1)), CC_ERR_SHAPE, "overflows int64");
    CHECK_ERR(cc_tensor_empty(&v, 3, SHAPE(0, (int64_t)1 << 32, (int64_t)1 << 32), CC_F32, CC_CPU, 0), CC_ERR_SHAPE, "overflows int64");
    CHECK(v == NULL);
    CHECK_ERR(cc_tensor_as_strided(&v, x, 2, SHAPE((int64_t)1 << 40, (int64_t)1 << 40), SHAPE(0, 0), 0), CC_ERR_SHAPE, "overflows int64");
    cc_tensor_free(x);
}

/* The overlap check walks distinct addresses only: an input expanded to 2^60 elements over a small
   buffer is compared in no time (it used to be walked element by element). */
TEST_GROUP(overlap_of_expanded_inputs)
{
    cc_tensor *buf, *row, *big, *out;
    CHECK_OK(cc_tensor_empty(&buf, 1, SHAPE(64), CC_F32, CC_CPU, 0));
    CHECK_OK(cc_tensor_narrow(&row, buf, 0, 0, 8));
    CHECK_OK(cc_tensor_expand(&big, row, 2, SHAPE((int64_t)1 << 57, 8)));
    CHECK_OK(cc_tensor_as_strided(&out, buf, 1, SHAPE(8), SHAPE(2), 9));   /* 9, 11, ..., 23: past the row */
    CHECK_OK(cc_check_disjoint("op", "out", out, "x", big, 0));
    cc_tensor_free(out);
    CHECK_OK(cc_tensor_as_strided(&out, buf, 1, SHAPE(8), SHAPE(2), 1));    /* 1, 3, ...: inside the row */
    CHECK_ERR(cc_check_disjoint("op", "out", out, "x", big, 0), CC_ERR_ARGUMENT, "overlaps");
    cc_tensor_free(out);
    cc_tensor_free(big);
    cc_tensor_free(row);
    cc_tensor_free(buf);
}
