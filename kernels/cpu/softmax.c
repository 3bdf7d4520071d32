/* Softmax / log-softmax along one dim, forward and backward, computed in f64.
   Rows (every position of the other dims) are independent; the fast kernel gives each thread a
   row buffer and runs rows in parallel, so results do not depend on the thread count. */
#include <math.h>
#include <stdlib.h>
#include "ops_common.h"

/* y = softmax(x) or log_softmax(x) over one row of n, in place on buf; max subtracted for stability */
static void softmax_row(double *buf, int64_t n, int take_log)
{
    double m = -INFINITY, s = 0.0;
    for (int64_t i = 0; i < n; i++) m = buf[i] > m || isnan(buf[i]) ? buf[i] : m;
    if (take_log) {
        for (int64_t i = 0; i < n; i++) s += exp(buf[i] - m);
        double ls = log(s);
        for (int64_t i = 0; i < n; i++) buf[i] = (buf[i] - m) - ls;
    } else {
        for (int64_t i = 0; i < n; i++) { buf[i] = exp(buf[i] - m); s += buf[i]; }
        for (int64_t i = 0; i < n; i++) buf[i] /= s;
    }
}

/* dx from y (the forward's output) and dy, in place on dy:
   softmax: dx = y * (dy - sum(dy * y)); log_softmax: dx = dy - exp(y) * sum(dy) */
static void softmax_backward_row(const double *y, double *dy, int64_t n, int take_log)
{
    double s = 0.0;
    if (take_log) {
        for (int64_t i = 0; i < n; i++) s += dy[i];
        for (int64_t i = 0; i < n; i++) dy[i] -= exp(y[i]) * s;
    } else {
        for (int64_t i = 0; i < n; i++) s += dy[i] * y[i];
        for (int64_t i = 0; i < n; i++) dy[i] = y[i] * (dy[i] - s);
    }
}

static const char *row_ptr(const cc_softmax_args *a, const cc_rowptr *t, int64_t r)
{
    return (const char *)t->data + cc_row_offset(&a->rows, t, r) * cc_dtype_bytes(a->dtype);
}

static int softmax_rows(const cc_softmax_args *a, int backward)
{
    int64_t n = a->rows.n, failed = 0;
    #pragma omp parallel if (a->rows.nrows * n > CC_OMP_MIN_WORK) reduction(|:failed)
    {
        double *buf = malloc((size_t)(2 * n + 1) * sizeof(double));
        if (!buf) failed = 1;
        #pragma omp for schedule(static)
        for (int64_t r = 0; r < a->rows.nrows; r++) {
            if (!buf) continue;
            if (backward) {
                cc_ld_block(buf, row_ptr(a, &a->out, r), a->dtype, a->out.stride, n);
                cc_ld_block(buf + n, row_ptr(a, &a->dout, r), a->dtype, a->dout.stride, n);
                softmax_backward_row(buf, buf + n, n, a->log);
                cc_st_block((void *)row_ptr(a, &a->dx, r), a->dtype, a->dx.stride, buf + n, n);
            } else {
                cc_ld_block(buf, row_ptr(a, &a->x, r), a->dtype, a->x.stride, n);
                softmax_row(buf, n, a->log);
                cc_st_block((void *)row_ptr(a, &a->out, r), a->dtype, a->out.stride, buf, n);
            }
        }
        free(buf);
    }
    return failed ? CC_ERR_MEMORY : CC_OK;
}

int cc_cpu_softmax_forward(const cc_softmax_args *a) { return softmax_rows(a, 0); }
int cc_cpu_softmax_backward(const cc_softmax_args *a) { return softmax_rows(a, 1); }

/* plain references: element by element from memory, one row at a time */
int cc_cpu_softmax_forward_ref(const cc_softmax_args *a)
{
    for (int64_t r = 0; r < a->rows.nrows; r++) {
        int64_t xo = cc_row_offset(&a->rows, &a->x, r), oo = cc_row_offset(&a->rows, &a->out, r);
        double m = -INFINITY, s = 0.0;
        for (int64_t i = 0; i < a->rows.n; i++) {
            double v = cc_load_f64(a->x.data, a->dtype, xo + i * a->x.stride);
            if (v > m || isnan(v)) m = v;
        }
        for (int64_t i = 0; i < a->rows.n; i++) s += exp(cc_load_f64(a->x.data, a->dtype, xo + i * a->x.stride) - m);
        for (int64_t i = 0; i < a->rows.n; i++) {
            double v = cc_load_f64(a->x.data, a->dtype, xo + i * a->x.stride) - m;
            cc_store_f64(a->out.data, a->dtype, oo + i * a->out.stride, a->log ? v - log(s) : exp(v) / s);
        }
    }
    return CC_OK;
}

int cc_cpu_softmax_backward_ref(const cc_softmax_args *a)
{
    for (int64_t r = 0; r < a->rows.nrows; r++) {
        int64_t yo = cc_row_offset(&a->rows, &a->out, r), go = cc_row_offset(&a->rows, &a->dout, r);
        int64_t xo = cc_row_offset(&a->rows, &a->dx, r);
        double s = 0.0;
        for (int64_t i = 0; i < a->rows.n; i++) {
            double g = cc_load_f64(a->dout.data, a->dtype, go + i * a->dout.stride);
            s += a->log ? g : g * cc_load_f64(a->out.data, a->dtype, yo + i * a->out.stride);
        }
        for (int64_t i = 0; i < a->rows.n; i++) {
            double y = cc_load_f64(a->out.data, a->dtype, yo + i * a->out.stride);
            double g = cc_load_f64(a->dout.data, a->dtype, go + i * a->dout.stride);
            cc_store_f64(a->dx.data, a->dtype, xo + i * a->dx.stride, a->log ? g - exp(y) * s : y * (g - s));
        }
    }
    return CC_OK;
}
