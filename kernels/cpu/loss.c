/* Cross entropy over logits (N, C) with class targets (N), mean over the rows whose target is not
   ignore_index, in f64. Row losses are computed in parallel into a scratch array and summed in row
   order, so the result does not depend on the thread count. With no counted row the loss is 0 and
   every gradient is 0. */
#include <math.h>
#include <stdlib.h>
#include "ops_common.h"

/* log(sum(exp(row))) of one row, max subtracted for stability */
static double row_logsumexp(const cc_cross_entropy_args *a, int64_t r)
{
    int64_t base = r * a->logits_stride[0], s1 = a->logits_stride[1];
    double m = -INFINITY, s = 0.0;
    for (int64_t c = 0; c < a->C; c++) {
        double v = cc_load_f64(a->logits, a->dtype, base + c * s1);
        if (v > m || isnan(v)) m = v;
    }
    if (isinf(m)) return m;   /* all -inf (or a +inf): exp(v - m) would be NaN */
    for (int64_t c = 0; c < a->C; c++) s += exp(cc_load_f64(a->logits, a->dtype, base + c * s1) - m);
    return m + log(s);
}

/* loss (one element) = mean over counted rows of logsumexp(row) - row[target] */
int cc_cpu_cross_entropy_forward(const cc_cross_entropy_args *a)
{
    double *row = malloc((size_t)(a->N > 0 ? a->N : 1) * sizeof(double));
    if (!row) return CC_ERR_MEMORY;
    #pragma omp parallel for schedule(static) if (a->N * a->C > CC_OMP_MIN_WORK)
    for (int64_t r = 0; r < a->N; r++) {
        int64_t t = cc_load_index(a->target, a->target_dtype, r * a->target_stride);
        row[r] = t == a->ignore_index ? 0.0
               : row_logsumexp(a, r) - cc_load_f64(a->logits, a->dtype, r * a->logits_stride[0] + t * a->logits_stride[1]);
    }
    double s = 0.0;
    for (int64_t r = 0; r < a->N; r++) s += row[r];
    free(row);
    cc_store_f64(a->loss, a->dtype, 0, a->count ? s / (double)a->count : 0.0);
    return CC_OK;
}

/* dlogits = (softmax(row) - onehot(target)) * dloss / count; ignored rows are 0 */
int cc_cpu_cross_entropy_backward(const cc_cross_entropy_args *a)
{
    double g = a->count ? cc_load_f64(a->dloss, a->dtype, 0) / (double)a->count : 0.0;
    #pragma omp parallel for schedule(static) if (a->N * a->C > CC_OMP_MIN_WORK)
    for (int64_t r = 0; r < a->N; r++) {
        int64_t t = cc_load_index(a->target, a->target_dtype, r * a->target_stride);
        int64_t xb = r * a->logits_stride[0], db = r * a->dlogits_stride[0];
        double lse = t == a->ignore_index ? 0.0 : row_logsumexp(a, r);
        for (int64_t c = 0; c < a->C; c++) {
            double v = 0.0;
            if (t != a->ignore_index)
                v = (exp(cc_load_f64(a->logits, a->dtype, xb + c * a->logits_stride[1]) - lse) - (c == t)) * g;
            cc_store_f64(a->dlogits, a->dtype, db + c * a->dlogits_stride[1], v);
        }
    }
    return CC_OK;
}
