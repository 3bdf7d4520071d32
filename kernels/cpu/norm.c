/* RMS norm over the last dim (D = rows.n), forward and backward, in f64.
   forward:  rstd = 1 / sqrt(mean(x^2) + eps), out = x * rstd * weight
   backward: g = dout * weight, dx = rstd * g - x * rstd^3 * mean(g * x),
             dweight = sum over rows of dout * x * rstd
   dweight is summed per fixed chunk of NORM_CHUNK rows, and chunk partials in chunk order, so it
   does not depend on the thread count. */
#include <math.h>
#include <stdlib.h>
#include "ops_common.h"

#define NORM_CHUNK 64

static void *row_ptr(const cc_rms_norm_args *a, const cc_rowptr *t, int64_t r, int dtype)
{
    return (char *)t->data + cc_row_offset(&a->rows, t, r) * cc_dtype_bytes(dtype);
}

int cc_cpu_rms_norm_forward(const cc_rms_norm_args *a)
{
    int64_t D = a->rows.n, failed = 0;
    #pragma omp parallel if (a->rows.nrows * D > CC_OMP_MIN_WORK) reduction(|:failed)
    {
        double *x = malloc((size_t)(2 * D + 1) * sizeof(double)), *w = x + D;
        if (!x) failed = 1;
        else if (a->weight) cc_ld_block(w, a->weight, a->dtype, a->weight_stride, D);
        #pragma omp for schedule(static)
        for (int64_t r = 0; r < a->rows.nrows; r++) {
            if (!x) continue;
            cc_ld_block(x, row_ptr(a, &a->x, r, a->dtype), a->dtype, a->x.stride, D);
            double ss = 0.0;
            for (int64_t i = 0; i < D; i++) ss += x[i] * x[i];
            double rstd = 1.0 / sqrt(ss / (double)D + a->eps);
            for (int64_t i = 0; i < D; i++) x[i] = x[i] * rstd * (a->weight ? w[i] : 1.0);
            cc_st_block(row_ptr(a, &a->out, r, a->dtype), a->dtype, a->out.stride, x, D);
            if (a->rstd.data) cc_store_f64(row_ptr(a, &a->rstd, r, a->rstd_dtype), a->rstd_dtype, 0, rstd);
        }
        free(x);
    }
    return failed ? CC_ERR_MEMORY : CC_OK;
}

/* dx of row r (written), and dout * x * rstd added into dw (when not NULL); buf holds 3 D */
static void backward_row(const cc_rms_norm_args *a, int64_t r, const double *w, double *dw, double *buf)
{
    int64_t D = a->rows.n;
    double *x = buf, *g = buf + D, *dx = buf + 2 * D;
    cc_ld_block(x, row_ptr(a, &a->x, r, a->dtype), a->dtype, a->x.stride, D);
    cc_ld_block(g, row_ptr(a, &a->dout, r, a->dtype), a->dtype, a->dout.stride, D);
    double rstd = cc_load_f64(row_ptr(a, &a->rstd, r, a->rstd_dtype), a->rstd_dtype, 0), dot = 0.0;
    if (dw)
        for (int64_t i = 0; i < D; i++) dw[i] += g[i] * x[i] * rstd;
    if (w)
        for (int64_t i = 0; i < D; i++) g[i] *= w[i];
    for (int64_t i = 0; i < D; i++) dot += g[i] * x[i];
    double c = rstd * rstd * rstd * dot / (double)D;
    for (int64_t i = 0; i < D; i++) dx[i] = rstd * g[i] - x[i] * c;
    cc_st_block(row_ptr(a, &a->dx, r, a->dtype), a->dtype, a->dx.stride, dx, D);
}

int cc_cpu_rms_norm_backward(const cc_rms_norm_args *a)
{
    int64_t D = a->rows.n, nrows = a->rows.nrows, failed = 0;
    int64_t nchunks = (nrows + NORM_CHUNK - 1) / NORM_CHUNK;
    double *w = malloc((size_t)(D + 1) * sizeof(double));
    double *partial = a->dweight ? calloc((size_t)(nchunks * D + 1), sizeof(double)) : NULL;
    if (!w || (a->dweight && !partial)) { free(w); free(partial); return CC_ERR_MEMORY; }
    if (a->weight) cc_ld_block(w, a->weight, a->dtype, a->weight_stride, D);
    #pragma omp parallel if (nrows * D > CC_OMP_MIN_WORK) reduction(|:failed)
    {
        double *buf = malloc((size_t)(3 * D + 1) * sizeof(double));
        if (!buf) failed = 1;
        #pragma omp for schedule(static)
        for (int64_t c = 0; c < nchunks; c++) {
            if (!buf) continue;
            int64_t r1 = (c + 1) * NORM_CHUNK < nrows ? (c + 1) * NORM_CHUNK : nrows;
            for (int64_t r = c * NORM_CHUNK; r < r1; r++)
                backward_row(a, r, a->weight ? w : NULL, partial ? partial + c * D : NULL, buf);
        }
        free(buf);
    }
    if (partial && !failed) {
        for (int64_t i = 0; i < D; i++) {
            double s = 0.0;
            for (int64_t c = 0; c < nchunks; c++) s += partial[c * D + i];
            cc_store_f64(a->dweight, a->dtype, i * a->dweight_stride, s);
        }
    }
    free(w); free(partial);
    return failed ? CC_ERR_MEMORY : CC_OK;
}

/* plain reference: rows in order, dweight summed over all rows in order */
int cc_cpu_rms_norm_backward_ref(const cc_rms_norm_args *a)
{
    int64_t D = a->rows.n;
    for (int64_t i = 0; a->dweight && i < D; i++) {
        double s = 0.0;
        for (int64_t r = 0; r < a->rows.nrows; r++) {
            double x = cc_load_f64(a->x.data, a->dtype, cc_row_offset(&a->rows, &a->x, r) + i * a->x.stride);
            double g = cc_load_f64(a->dout.data, a->dtype, cc_row_offset(&a->rows, &a->dout, r) + i * a->dout.stride);
            s += g * x * cc_load_f64(a->rstd.data, a->rstd_dtype, cc_row_offset(&a->rows, &a->rstd, r));
        }
        cc_store_f64(a->dweight, a->dtype, i * a->dweight_stride, s);
    }
    for (int64_t r = 0; r < a->rows.nrows; r++) {
        int64_t xo = cc_row_offset(&a->rows, &a->x, r), go = cc_row_offset(&a->rows, &a->dout, r);
        double rstd = cc_load_f64(a->rstd.data, a->rstd_dtype, cc_row_offset(&a->rows, &a->rstd, r)), dot = 0.0;
        for (int64_t i = 0; i < D; i++) {
            double w = a->weight ? cc_load_f64(a->weight, a->dtype, i * a->weight_stride) : 1.0;
            dot += cc_load_f64(a->dout.data, a->dtype, go + i * a->dout.stride) * w * cc_load_f64(a->x.data, a->dtype, xo + i * a->x.stride);
        }
        for (int64_t i = 0; i < D; i++) {
            double w = a->weight ? cc_load_f64(a->weight, a->dtype, i * a->weight_stride) : 1.0;
            double g = cc_load_f64(a->dout.data, a->dtype, go + i * a->dout.stride) * w;
            double x = cc_load_f64(a->x.data, a->dtype, xo + i * a->x.stride);
            cc_store_f64(a->dx.data, a->dtype, cc_row_offset(&a->rows, &a->dx, r) + i * a->dx.stride,
                  rstd * g - x * rstd * rstd * rstd * dot / (double)D);
        }
    }
    return CC_OK;
}
