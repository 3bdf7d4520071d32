/* Argument-block helpers of the row ops (max, softmax, rms_norm): a tensor seen as rows along one
   dim (kernels/ops.h: cc_rows, cc_rowptr). */
#ifndef CC_OPS_ROWS_H
#define CC_OPS_ROWS_H

#include <string.h>
#include "internal.h"
#include "ops.h"

/* t as rows of t->shape[dim] along dim (the row grid is every other dim, in order) */
static inline void ops_rows(cc_rows *rows, const cc_tensor *t, int dim)
{
    rows->ndim = 0;
    rows->nrows = 1;
    rows->n = t->shape[dim];
    for (int d = 0; d < t->ndim; d++) {
        if (d == dim) continue;
        rows->shape[rows->ndim++] = t->shape[d];
        rows->nrows *= t->shape[d];
    }
}

/* t seen through rows built by ops_rows(dim): t has the row tensor's shape (or size 1 at dim) when
   t_has_dim, else that shape without dim (one element per row, e.g. rms_norm's rstd). A NULL t
   gives a NULL data pointer. */
static inline void ops_rowptr(cc_rowptr *p, const cc_tensor *t, int dim, int t_has_dim)
{
    memset(p, 0, sizeof *p);
    if (!t) return;
    p->data = cc_tensor_data(t);
    int k = 0;
    for (int d = 0; d < t->ndim; d++) {
        if (t_has_dim && d == dim) { p->stride = t->stride[d]; continue; }
        p->outer[k++] = t->stride[d];
    }
}

#endif
