/* Reductions: sum_to (sum over broadcast dims, times a scale) and max along one dim.
   sum_to accumulates in f64. The fast kernel cuts the work into units of (up to SUM_BLOCK outputs
   along the last kept dim) x (a fixed chunk of SUM_CHUNK reduced positions); each output's sum runs
   over its reduced positions in ascending order inside a chunk, and chunk partials are added in
   chunk order, so the result depends on the shape only, never on the thread count. */
#include <math.h>
#include <stdlib.h>
#include "ops_common.h"

#define SUM_BLOCK 64
#define SUM_CHUNK 16384

typedef struct sum_plan {
    const cc_sum_args *a;
    int nk, nr;                       /* dims, at least 1 each (size-1 dims stand in for none) */
    int64_t ks[8], kx[8], ko[8], rs[8], rx[8];
    int64_t nout, nred, klast, krows, bpr, nc;
} sum_plan;

static void sum_plan_init(sum_plan *p, const cc_sum_args *a)
{
    p->a = a;
    p->nk = a->nkeep ? a->nkeep : 1;
    p->nr = a->nred ? a->nred : 1;
    for (int d = 0; d < p->nk; d++) {
        p->ks[d] = a->nkeep ? a->keep_shape[d] : 1;
        p->kx[d] = a->nkeep ? a->keep_xstride[d] : 0;
        p->ko[d] = a->nkeep ? a->keep_ostride[d] : 0;
    }
    for (int d = 0; d < p->nr; d++) {
        p->rs[d] = a->nred ? a->red_shape[d] : 1;
        p->rx[d] = a->nred ? a->red_xstride[d] : 0;
    }
    p->nout = 1; p->nred = 1;
    for (int d = 0; d < p->nk; d++) p->nout *= p->ks[d];
    for (int d = 0; d < p->nr; d++) p->nred *= p->rs[d];
    p->klast = p->ks[p->nk - 1];
    p->krows = p->klast ? p->nout / p->klast : 0;
    p->bpr = (p->klast + SUM_BLOCK - 1) / SUM_BLOCK;
    p->nc = p->nred ? (p->nred + SUM_CHUNK - 1) / SUM_CHUNK : 1;   /* empty sums still write 0 */
}

/* offsets in x and out of kept flat index o */
static void kept_offsets(const sum_plan *p, int64_t o, int64_t *xo, int64_t *oo)
{
    *xo = 0; *oo = 0;
    for (int d = p->nk - 1; d >= 0; d--) {
        int64_t i = o % p->ks[d];
        o /= p->ks[d];
        *xo += i * p->kx[d]; *oo += i * p->ko[d];
    }
}

/* sum of a run with 4 interleaved partial sums (the add latency, not memory, bounds one chain);
   the order is fixed by n alone */
static double sum_run(const double *b, int64_t n)
{
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) { s0 += b[i]; s1 += b[i + 1]; s2 += b[i + 2]; s3 += b[i + 3]; }
    for (; i < n; i++) s0 += b[i];
    return (s0 + s1) + (s2 + s3);
}

/* acc[j] = sum over reduced positions [r0, r1) of x at kept outputs o0 + j, j < nj (one kept row) */
static void sum_unit(const sum_plan *p, int64_t o0, int64_t nj, int64_t r0, int64_t r1, double *acc)
{
    const cc_sum_args *a = p->a;
    int64_t es = cc_dtype_bytes(a->dtype), xbase, obase;
    kept_offsets(p, o0, &xbase, &obase);
    int64_t kstride = p->kx[p->nk - 1], rlast = p->rs[p->nr - 1], rstride = p->rx[p->nr - 1];
    for (int64_t j = 0; j < nj; j++) acc[j] = 0.0;
    if (r0 >= r1) return;   /* empty reduction (a size-0 reduced dim) */
    int64_t idx[8], r = r0;
    for (int d = p->nr - 1; d >= 0; d--) { idx[d] = r % p->rs[d]; r /= p->rs[d]; }
    double buf[1024];
    int64_t cap = (int64_t)(sizeof buf / sizeof buf[0]);
    int inner_outputs = nj > 1 && llabs(kstride) <= llabs(rstride);   /* walk the smaller stride innermost */
    int64_t pos = r0;
    while (pos < r1) {
        int64_t roff = 0;
        for (int d = 0; d < p->nr; d++) roff += idx[d] * p->rx[d];
        const char *x = (const char *)a->x + (xbase + roff) * es;
        int64_t run;
        if (inner_outputs) {
            cc_ld_block(buf, x, a->dtype, kstride, nj);
            for (int64_t j = 0; j < nj; j++) acc[j] += buf[j];
            run = 1;
        } else {
            run = rlast - idx[p->nr - 1];
            if (run > r1 - pos) run = r1 - pos;
            if (run > cap) run = cap;
            for (int64_t j = 0; j < nj; j++) {
                cc_ld_block(buf, x + j * kstride * es, a->dtype, rstride, run);
                acc[j] += sum_run(buf, run);
            }
        }
        pos += run;
        idx[p->nr - 1] += run;
        for (int d = p->nr - 1; d > 0 && idx[d] == p->rs[d]; d--) { idx[d] = 0; idx[d - 1]++; }
    }
}

int cc_cpu_sum_to(const cc_sum_args *a)
{
    sum_plan p;
    sum_plan_init(&p, a);
    if (p.nout == 0) return CC_OK;
    int64_t nb = p.krows * p.bpr, nunits = nb * p.nc;
    double *partial = NULL;
    if (p.nc > 1) {
        partial = malloc((size_t)(p.nout * p.nc) * sizeof(double));
        if (!partial) return CC_ERR_MEMORY;
    }
    #pragma omp parallel for schedule(dynamic, 1) if (p.nout * p.nred > CC_OMP_MIN_WORK)
    for (int64_t u = 0; u < nunits; u++) {
        int64_t b = u / p.nc, c = u % p.nc;
        int64_t o0 = (b / p.bpr) * p.klast + (b % p.bpr) * SUM_BLOCK;
        int64_t nj = p.klast - (b % p.bpr) * SUM_BLOCK;
        if (nj > SUM_BLOCK) nj = SUM_BLOCK;
        int64_t r1 = (c + 1) * SUM_CHUNK < p.nred ? (c + 1) * SUM_CHUNK : p.nred;
        double acc[SUM_BLOCK];
        sum_unit(&p, o0, nj, c * SUM_CHUNK, r1, acc);
        if (partial) {
            for (int64_t j = 0; j < nj; j++) partial[c * p.nout + o0 + j] = acc[j];
        } else {
            int64_t xo, oo;
            kept_offsets(&p, o0, &xo, &oo);
            for (int64_t j = 0; j < nj; j++) cc_store_f64(a->out, a->dtype, oo + j * p.ko[p.nk - 1], a->scale * acc[j]);
        }
    }
    if (partial) {
        #pragma omp parallel for schedule(static) if (p.nout * p.nc > CC_OMP_MIN_WORK)
        for (int64_t o = 0; o < p.nout; o++) {
            double s = 0.0;
            for (int64_t c = 0; c < p.nc; c++) s += partial[c * p.nout + o];
            int64_t xo, oo;
            kept_offsets(&p, o, &xo, &oo);
            cc_store_f64(a->out, a->dtype, oo, a->scale * s);
        }
        free(partial);
    }
    return CC_OK;
}

/* plain reference: each output sums its reduced positions in order */
int cc_cpu_sum_to_ref(const cc_sum_args *a)
{
    sum_plan p;
    sum_plan_init(&p, a);
    for (int64_t o = 0; o < p.nout; o++) {
        int64_t xo, oo;
        kept_offsets(&p, o, &xo, &oo);
        double s = 0.0;
        for (int64_t r = 0; r < p.nred; r++) {
            int64_t rem = r, off = xo;
            for (int d = p.nr - 1; d >= 0; d--) { off += (rem % p.rs[d]) * p.rx[d]; rem /= p.rs[d]; }
            s += cc_load_f64(a->x, a->dtype, off);
        }
        cc_store_f64(a->out, a->dtype, oo, a->scale * s);
    }
    return CC_OK;
}

/* values[r], indices[r] = max and first position of the max along row r; a NaN is the max */
int cc_cpu_max_dim(const cc_max_args *a)
{
    const cc_rows *rows = &a->rows;
    #pragma omp parallel for schedule(static) if (rows->nrows * rows->n > CC_OMP_MIN_WORK)
    for (int64_t r = 0; r < rows->nrows; r++) {
        int64_t xo = cc_row_offset(rows, &a->x, r);
        double best = cc_load_f64(a->x.data, a->dtype, xo);
        int64_t at = 0;
        for (int64_t i = 1; i < rows->n && !isnan(best); i++) {
            double v = cc_load_f64(a->x.data, a->dtype, xo + i * a->x.stride);
            if (v > best || isnan(v)) { best = v; at = i; }
        }
        cc_store_f64(a->values.data, a->dtype, cc_row_offset(rows, &a->values, r), best);
        ((int64_t *)a->indices.data)[cc_row_offset(rows, &a->indices, r)] = at;
    }
    return CC_OK;
}
