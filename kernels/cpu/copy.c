/* Strided N-d copy with dtype conversion, fill and arange on the CPU.
   Conversion rules (the same on every path):
     to f64: through double; to f32/f16/bf16: through float (one rounding from f64/i32/i64, then
     f32 -> 16 bits); between integer dtypes: through int64 (i64 -> i32 keeps the low 32 bits);
     float to integer: NaN -> 0, out of range -> the nearest end of the range, else truncation toward
     zero (cc_f64_to_i32 / cc_f64_to_i64 of kernels/dtype.h). */
#include <omp.h>
#include <string.h>
#include "copy.h"

#define PARALLEL_MIN (1 << 16)   /* below this many elements threads cost more than they save */
#define BLOCK 256                /* conversion staging block, stays in L1 */

/* ---- geometry ---------------------------------------------------------------------------- */

typedef struct geom {
    int nd;
    int64_t shape[8], ds[8], ss[8];   /* dst and src strides (ss unused by fill) */
} geom;

/* Drops size-1 dims and merges neighbours that are contiguous with each other on both sides,
   so contiguous tensors become one long row. Always leaves at least one dim. */
static void coalesce(geom *g, int nd, const int64_t *shape, const int64_t *ds, const int64_t *ss)
{
    g->nd = 0;
    for (int i = 0; i < nd; i++) {
        if (shape[i] == 1) continue;
        int k = g->nd - 1;
        if (k >= 0 && g->ds[k] == shape[i] * ds[i] && g->ss[k] == shape[i] * (ss ? ss[i] : 0)) {
            g->shape[k] *= shape[i];
            g->ds[k] = ds[i];
            g->ss[k] = ss ? ss[i] : 0;
            continue;
        }
        g->shape[++k] = shape[i];
        g->ds[k] = ds[i];
        g->ss[k] = ss ? ss[i] : 0;
        g->nd = k + 1;
    }
    if (g->nd == 0) {
        g->nd = 1;
        g->shape[0] = 1;
        g->ds[0] = 1;
        g->ss[0] = 1;
    }
}

static int64_t geom_numel(const geom *g)
{
    int64_t n = 1;
    for (int i = 0; i < g->nd; i++) n *= g->shape[i];
    return n;
}

/* One run along the innermost dim: n elements, strides in elements. */
typedef void (*row_fn)(const void *ctx, char *dst, const char *src, int64_t n, int64_t ds, int64_t ss);

/* Visits the linear (C-order) element range [begin, end) as runs along the innermost dim. */
static void walk_range(const geom *g, int64_t begin, int64_t end, row_fn row, const void *ctx,
                       char *dst, int64_t dsize, const char *src, int64_t ssize)
{
    int nd = g->nd, last = nd - 1;
    int64_t idx[8], rem = begin;
    for (int i = last; i >= 0; i--) {
        idx[i] = rem % g->shape[i];
        rem /= g->shape[i];
    }
    for (int64_t pos = begin; pos < end;) {
        int64_t od = 0, os = 0;
        for (int i = 0; i < nd; i++) {
            od += idx[i] * g->ds[i];
            os += idx[i] * g->ss[i];
        }
        int64_t n = g->shape[last] - idx[last];
        if (n > end - pos) n = end - pos;
        row(ctx, dst + od * dsize, src ? src + os * ssize : NULL, n, g->ds[last], g->ss[last]);
        pos += n;
        idx[last] += n;
        for (int i = last; i > 0 && idx[i] == g->shape[i]; i--) {
            idx[i] = 0;
            idx[i - 1]++;
        }
    }
}

/* Splits the elements evenly over the threads; each thread walks its own range. */
static void walk(const geom *g, row_fn row, const void *ctx, char *dst, int64_t dsize, const char *src, int64_t ssize)
{
    int64_t numel = geom_numel(g);
    if (numel == 0) return;
    if (numel < PARALLEL_MIN || omp_get_max_threads() == 1) {
        walk_range(g, 0, numel, row, ctx, dst, dsize, src, ssize);
        return;
    }
    #pragma omp parallel
    {
        int64_t nt = omp_get_num_threads(), t = omp_get_thread_num();
        int64_t chunk = (numel + nt - 1) / nt;
        int64_t begin = t * chunk < numel ? t * chunk : numel;
        int64_t end = begin + chunk < numel ? begin + chunk : numel;
        walk_range(g, begin, end, row, ctx, dst, dsize, src, ssize);
    }
}

/* When src's two innermost dims are transposed against dst's (a transpose or a channel-last
   layout made contiguous), rows of dst are columns of src; going tile by tile keeps both sides'
   cache lines in use. */
#define TILE 32

static int transposed_inner(const geom *g)
{
    int nd = g->nd;
    return nd >= 2 && g->ds[nd - 1] == 1 && g->ss[nd - 2] == 1 && g->ss[nd - 1] != 1 &&
           g->shape[nd - 1] >= TILE && g->shape[nd - 2] >= TILE;
}

static void walk_tiled(const geom *g, row_fn row, const void *ctx, char *dst, int64_t dsize, const char *src, int64_t ssize)
{
    int nd = g->nd;
    int64_t rows = g->shape[nd - 2], cols = g->shape[nd - 1];
    int64_t numel = geom_numel(g), outer = numel / (rows * cols);
    int64_t trows = (rows + TILE - 1) / TILE, tcols = (cols + TILE - 1) / TILE, tiles = outer * trows * tcols;
    #pragma omp parallel for schedule(static) if (numel >= PARALLEL_MIN)
    for (int64_t k = 0; k < tiles; k++) {
        int64_t o = k / (trows * tcols), t = k % (trows * tcols);
        int64_t r0 = t / tcols * TILE, c0 = t % tcols * TILE;
        int64_t od = 0, os = 0;
        for (int i = nd - 3; i >= 0; i--) {
            int64_t idx = o % g->shape[i];
            o /= g->shape[i];
            od += idx * g->ds[i];
            os += idx * g->ss[i];
        }
        int64_t r1 = r0 + TILE < rows ? r0 + TILE : rows, n = c0 + TILE < cols ? TILE : cols - c0;
        for (int64_t r = r0; r < r1; r++)
            row(ctx, dst + (od + r * g->ds[nd - 2] + c0) * dsize, src + (os + r + c0 * g->ss[nd - 1]) * ssize,
                n, 1, g->ss[nd - 1]);
    }
}

/* ---- same-dtype rows --------------------------------------------------------------------- */

static void row_same(const void *ctx, char *dst, const char *src, int64_t n, int64_t ds, int64_t ss)
{
    int64_t size = *(const int64_t *)ctx;
    if (ds == 1 && ss == 1) {
        memcpy(dst, src, (size_t)(n * size));
        return;
    }
    switch (size) {
    case 2: for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i * ds] = ((const uint16_t *)src)[i * ss]; break;
    case 4: for (int64_t i = 0; i < n; i++) ((uint32_t *)dst)[i * ds] = ((const uint32_t *)src)[i * ss]; break;
    default: for (int64_t i = 0; i < n; i++) ((uint64_t *)dst)[i * ds] = ((const uint64_t *)src)[i * ss]; break;
    }
}

/* ---- converting rows: load a block into double, float or int64, then store it ------------- */

enum { VIA_DOUBLE, VIA_FLOAT, VIA_INT64 };

typedef struct conv_ctx {
    int src_dtype, dst_dtype, via;
} conv_ctx;

/* LOAD(T, E): read n elements of type T with stride s from src into b, converting each v by E. */
#define LOAD(T, E) do { const T *p = (const T *)src; for (int64_t i = 0; i < n; i++) { T v = p[i * s]; b[i] = (E); } } while (0)
#define STORE(T, E) do { T *p = (T *)dst; for (int64_t i = 0; i < n; i++) { p[i * s] = (E); } } while (0)

static void load_double(double *b, const char *src, int dtype, int64_t n, int64_t s)
{
    switch (dtype) {
    case CC_F32:  LOAD(float, (double)v); break;
    case CC_F64:  LOAD(double, v); break;
    case CC_F16:  LOAD(uint16_t, (double)cc_f16_to_f32_inline(v)); break;
    case CC_BF16: LOAD(uint16_t, (double)cc_bf16_to_f32_inline(v)); break;
    case CC_I32:  LOAD(int32_t, (double)v); break;
    default:      LOAD(int64_t, (double)v); break;
    }
}

static void load_float(float *b, const char *src, int dtype, int64_t n, int64_t s)
{
    switch (dtype) {
    case CC_F32:  LOAD(float, v); break;
    case CC_F64:  LOAD(double, (float)v); break;
    case CC_F16:  LOAD(uint16_t, cc_f16_to_f32_inline(v)); break;
    case CC_BF16: LOAD(uint16_t, cc_bf16_to_f32_inline(v)); break;
    case CC_I32:  LOAD(int32_t, (float)v); break;
    default:      LOAD(int64_t, (float)v); break;
    }
}

static void load_int64(int64_t *b, const char *src, int dtype, int64_t n, int64_t s)
{
    if (dtype == CC_I32) LOAD(int32_t, (int64_t)v);
    else LOAD(int64_t, v);
}

static void store_double(char *dst, int dtype, const double *b, int64_t n, int64_t s)
{
    switch (dtype) {
    case CC_F64: STORE(double, b[i]); break;
    case CC_I32: STORE(int32_t, cc_f64_to_i32(b[i])); break;
    default:     STORE(int64_t, cc_f64_to_i64(b[i])); break;
    }
}

static void store_float(char *dst, int dtype, const float *b, int64_t n, int64_t s)
{
    switch (dtype) {
    case CC_F32:  STORE(float, b[i]); break;
    case CC_F16:  STORE(uint16_t, cc_f32_to_f16_inline(b[i])); break;
    case CC_BF16: STORE(uint16_t, cc_f32_to_bf16_inline(b[i])); break;
    case CC_I32:  STORE(int32_t, cc_f64_to_i32(b[i])); break;
    default:      STORE(int64_t, cc_f64_to_i64(b[i])); break;
    }
}

static void store_int64(char *dst, int dtype, const int64_t *b, int64_t n, int64_t s)
{
    if (dtype == CC_I32) STORE(int32_t, (int32_t)b[i]);
    else STORE(int64_t, b[i]);
}

static void row_convert(const void *ctx, char *dst, const char *src, int64_t n, int64_t ds, int64_t ss)
{
    const conv_ctx *c = ctx;
    int64_t dsize = cc_dtype_bytes(c->dst_dtype), ssize = cc_dtype_bytes(c->src_dtype);
    union { double d[BLOCK]; float f[BLOCK]; int64_t i[BLOCK]; } buf;
    for (int64_t k = 0; k < n; k += BLOCK) {
        int64_t m = n - k < BLOCK ? n - k : BLOCK;
        const char *s = src + k * ss * ssize;
        char *d = dst + k * ds * dsize;
        switch (c->via) {
        case VIA_DOUBLE: load_double(buf.d, s, c->src_dtype, m, ss); store_double(d, c->dst_dtype, buf.d, m, ds); break;
        case VIA_FLOAT:  load_float(buf.f, s, c->src_dtype, m, ss);  store_float(d, c->dst_dtype, buf.f, m, ds); break;
        default:         load_int64(buf.i, s, c->src_dtype, m, ss);  store_int64(d, c->dst_dtype, buf.i, m, ds); break;
        }
    }
}

static int is_int(int dtype) { return dtype == CC_I32 || dtype == CC_I64; }

/* dst (shape) <- src (shape), any strides, any dtypes; the regions must not overlap. */
int cc_cpu_copy(const cc_copy_args *a)
{
    geom g;
    coalesce(&g, a->ndim, a->shape, a->dst_stride, a->src_stride);
    int64_t dsize = cc_dtype_bytes(a->dst_dtype), ssize = cc_dtype_bytes(a->src_dtype);
    void (*visit)(const geom *, row_fn, const void *, char *, int64_t, const char *, int64_t) =
        transposed_inner(&g) ? walk_tiled : walk;
    if (a->dst_dtype == a->src_dtype) {
        visit(&g, row_same, &dsize, (char *)a->dst, dsize, (const char *)a->src, ssize);
        return CC_OK;
    }
    conv_ctx c = { a->src_dtype, a->dst_dtype, VIA_FLOAT };
    if (a->dst_dtype == CC_F64 || (is_int(a->dst_dtype) && a->src_dtype == CC_F64)) c.via = VIA_DOUBLE;
    else if (is_int(a->dst_dtype) && is_int(a->src_dtype)) c.via = VIA_INT64;
    visit(&g, row_convert, &c, (char *)a->dst, dsize, (const char *)a->src, ssize);
    return CC_OK;
}

/* ---- fill and arange --------------------------------------------------------------------- */

/* One element of dtype holding v, by the conversion rules above. */
static void encode(void *out, int dtype, double v)
{
    switch (dtype) {
    case CC_F32:  { float x = (float)v; memcpy(out, &x, 4); } break;
    case CC_F64:  memcpy(out, &v, 8); break;
    case CC_F16:  { uint16_t x = cc_f32_to_f16_inline((float)v); memcpy(out, &x, 2); } break;
    case CC_BF16: { uint16_t x = cc_f32_to_bf16_inline((float)v); memcpy(out, &x, 2); } break;
    case CC_I32:  { int32_t x = cc_f64_to_i32(v); memcpy(out, &x, 4); } break;
    default:      { int64_t x = cc_f64_to_i64(v); memcpy(out, &x, 8); } break;
    }
}

typedef struct fill_ctx {
    int64_t size;
    uint64_t bits;   /* the encoded element, in the low bytes */
} fill_ctx;

static void row_fill(const void *ctx, char *dst, const char *src, int64_t n, int64_t ds, int64_t ss)
{
    (void)src;
    (void)ss;
    const fill_ctx *c = ctx;
    switch (c->size) {
    case 2: { uint16_t v = (uint16_t)c->bits; for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i * ds] = v; } break;
    case 4: { uint32_t v = (uint32_t)c->bits; for (int64_t i = 0; i < n; i++) ((uint32_t *)dst)[i * ds] = v; } break;
    default: { uint64_t v = c->bits; for (int64_t i = 0; i < n; i++) ((uint64_t *)dst)[i * ds] = v; } break;
    }
}

int cc_cpu_fill(const cc_fill_args *a)
{
    geom g;
    fill_ctx c = { cc_dtype_bytes(a->dtype), 0 };
    unsigned char bytes[8] = { 0 };
    encode(bytes, a->dtype, a->value);
    if (c.size == 2) { uint16_t v; memcpy(&v, bytes, 2); c.bits = v; }
    else if (c.size == 4) { uint32_t v; memcpy(&v, bytes, 4); c.bits = v; }
    else memcpy(&c.bits, bytes, 8);
    coalesce(&g, a->ndim, a->shape, a->stride, NULL);
    walk(&g, row_fill, &c, (char *)a->dst, c.size, NULL, 0);
    return CC_OK;
}

/* dst (n) <- start + i * step, computed in double for each i (no accumulated error). */
int cc_cpu_arange(const cc_fill_args *a)
{
    int64_t n = a->shape[0], s = a->stride[0], size = cc_dtype_bytes(a->dtype);
    char *dst = (char *)a->dst;
    #pragma omp parallel for schedule(static) if (n >= PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++)
        encode(dst + i * s * size, a->dtype, a->value + (double)i * a->step);
    return CC_OK;
}
