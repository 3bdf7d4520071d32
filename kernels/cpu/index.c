/* index_select and index_add along one dim (embedding lookup and its backward).
   Both walk "slices": the positions of every dim but `dim`, in runs along the last such dim.
   index_select copies element bytes (no arithmetic), parallel over i. index_add is parallel over
   slice runs only and adds src rows in ascending i inside each run, so duplicate indices
   accumulate in the same order for any thread count. */
#include <string.h>
#include "ops_common.h"

#define INDEX_RUN 256

typedef struct slice_geom {
    int nd;                          /* dims of the slice (all but dim) */
    int64_t shape[8], ss[8], bs[8];  /* shape, small strides, big strides */
    int64_t n;                       /* elements in a slice */
    int64_t last;                    /* size of the slice's last dim (1 when nd == 0) */
} slice_geom;

static void slice_geom_init(slice_geom *g, const cc_index_args *a)
{
    g->nd = 0; g->n = 1;
    for (int d = 0; d < a->ndim; d++) {
        if (d == a->dim) continue;
        g->shape[g->nd] = a->shape[d]; g->ss[g->nd] = a->small_stride[d]; g->bs[g->nd] = a->big_stride[d];
        g->n *= a->shape[d];
        g->nd++;
    }
    g->last = g->nd ? g->shape[g->nd - 1] : 1;
}

/* offsets in small and big of flat slice position s */
static void slice_offsets(const slice_geom *g, int64_t s, int64_t *so, int64_t *bo)
{
    *so = 0; *bo = 0;
    for (int d = g->nd - 1; d >= 0; d--) {
        int64_t i = s % g->shape[d];
        s /= g->shape[d];
        *so += i * g->ss[d]; *bo += i * g->bs[d];
    }
}

static void copy_run(char *dst, int64_t ds, const char *src, int64_t ss, int64_t n, int64_t es)
{
    if (ds == 1 && ss == 1) { memcpy(dst, src, (size_t)(n * es)); return; }
    switch (es) {
    case 8: for (int64_t i = 0; i < n; i++) ((int64_t *)dst)[i * ds] = ((const int64_t *)src)[i * ss]; break;
    case 4: for (int64_t i = 0; i < n; i++) ((int32_t *)dst)[i * ds] = ((const int32_t *)src)[i * ss]; break;
    default: for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i * ds] = ((const uint16_t *)src)[i * ss]; break;
    }
}

/* out (small) [p, i, q] = x (big) [p, index[i], q] */
int cc_cpu_index_select(const cc_index_args *a)
{
    slice_geom g;
    slice_geom_init(&g, a);
    int64_t ni = a->shape[a->dim], es = cc_dtype_bytes(a->dtype);
    int64_t last_s = g.nd ? g.ss[g.nd - 1] : 1, last_b = g.nd ? g.bs[g.nd - 1] : 1;
    #pragma omp parallel for schedule(static) if (ni * g.n > CC_OMP_MIN_WORK)
    for (int64_t i = 0; i < ni; i++) {
        int64_t k = cc_load_index(a->index, a->index_dtype, i * a->index_stride);
        char *dst = (char *)a->small + i * a->small_stride[a->dim] * es;
        const char *src = (const char *)a->big + k * a->big_stride[a->dim] * es;
        for (int64_t s = 0; s < g.n; s += g.last) {
            int64_t so, bo;
            slice_offsets(&g, s, &so, &bo);
            copy_run(dst + so * es, last_s, src + bo * es, last_b, g.last, es);
        }
    }
    return CC_OK;
}

/* out (big) [p, index[i], q] += src (small) [p, i, q] */
int cc_cpu_index_add(const cc_index_args *a)
{
    slice_geom g;
    slice_geom_init(&g, a);
    int64_t ni = a->shape[a->dim], es = cc_dtype_bytes(a->dtype);
    int64_t last_s = g.nd ? g.ss[g.nd - 1] : 1, last_b = g.nd ? g.bs[g.nd - 1] : 1;
    int64_t rpr = (g.last + INDEX_RUN - 1) / INDEX_RUN;          /* runs per slice row */
    int64_t nunits = g.last ? (g.n / g.last) * rpr : 0;
    #pragma omp parallel for schedule(static) if (ni * g.n > CC_OMP_MIN_WORK)
    for (int64_t u = 0; u < nunits; u++) {
        int64_t s = (u / rpr) * g.last + (u % rpr) * INDEX_RUN, n = g.last - (u % rpr) * INDEX_RUN;
        if (n > INDEX_RUN) n = INDEX_RUN;
        int64_t so, bo;
        slice_offsets(&g, s, &so, &bo);
        double acc[INDEX_RUN], v[INDEX_RUN];
        for (int64_t i = 0; i < ni; i++) {
            int64_t k = cc_load_index(a->index, a->index_dtype, i * a->index_stride);
            char *dst = (char *)a->big + (bo + k * a->big_stride[a->dim]) * es;
            const char *src = (const char *)a->small + (so + i * a->small_stride[a->dim]) * es;
            cc_ld_block(acc, dst, a->dtype, last_b, n);
            cc_ld_block(v, src, a->dtype, last_s, n);
            for (int64_t j = 0; j < n; j++) acc[j] += v[j];
            cc_st_block(dst, a->dtype, last_b, acc, n);
        }
    }
    return CC_OK;
}
