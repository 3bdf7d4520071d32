/* Argument checks and argument-block helpers shared by the tensor-op entry points (core/ops_*.c).
   Every check names the op and the argument and returns a status; nothing here writes to a tensor. */
#ifndef CC_OPS_CHECK_H
#define CC_OPS_CHECK_H

#include "internal.h"
#include "ops.h"

/* t must be given */
cc_status ops_require(const char *op, const char *arg, const cc_tensor *t);
/* every tensor of ts (NULL ones skipped) on one device, and that device usable in this build */
cc_status ops_check_device(const char *op, int n, const cc_tensor *const *ts, const char *const *names);
/* t's dtype is dtype (e.g. "as x") */
cc_status ops_check_dtype_as(const char *op, const char *arg, const cc_tensor *t, int dtype, const char *as);
/* t's shape equals ref's shape */
cc_status ops_check_shape_as(const char *op, const char *arg, const cc_tensor *t, const char *ref_arg, const cc_tensor *ref);
/* an output: no two of its elements share memory */
cc_status ops_check_output(const char *op, const char *arg, const cc_tensor *t);
/* out and in share no memory, except that out may be exactly the view in when inplace_ok */
cc_status ops_check_disjoint(const char *op, const char *out_arg, const cc_tensor *out,
                             const char *in_arg, const cc_tensor *in, int inplace_ok);
/* dim in [0, t->ndim) */
cc_status ops_check_dim(const char *op, const cc_tensor *t, int dim);
/* an index tensor: 1-D, i32 or i64, every value in [0, hi) or equal to ignore (when has_ignore).
   Reads the values (from the device when needed); *count = number of values != ignore. */
cc_status ops_check_index_values(const char *op, const char *arg, const cc_tensor *index, int64_t hi,
                                 int has_ignore, int64_t ignore, int64_t *count);

/* t as rows of t->shape[dim] along dim (the row grid is every other dim, in order) */
void ops_rows(cc_rows *rows, const cc_tensor *t, int dim);
/* t seen through rows built by ops_rows(dim): t has the row tensor's shape (or size 1 at dim) when
   t_has_dim, else that shape without dim (one element per row, e.g. rms_norm's rstd).
   A NULL t gives a NULL data pointer. */
void ops_rowptr(cc_rowptr *p, const cc_tensor *t, int dim, int t_has_dim);

/* after a kernel ran: a CPU kernel's bare status gets its message, and on success the outputs
   (NULL ones skipped) get their version bumped */
cc_status ops_done(const char *op, int device, int st, cc_tensor *out0, cc_tensor *out1);

#endif
