/* The argument checks of every core/ entry point, and the one error idiom: a check returns a
   cc_status whose message names the op and the argument ("op: arg: expected ..., got ..."), and
   callers pass failures up with TRY. Nothing here writes to a tensor. */
#ifndef CC_CHECKS_H
#define CC_CHECKS_H

#include "internal.h"

/* Returns the status of expr when it is not CC_OK. */
#define TRY(expr) do { cc_status st_ = (expr); if (st_ != CC_OK) return st_; } while (0)

#define CC_FLOAT_DTYPES ((1u << CC_F32) | (1u << CC_F64) | (1u << CC_F16) | (1u << CC_BF16))
#define CC_INDEX_DTYPES ((1u << CC_I32) | (1u << CC_I64))

/* t is given */
cc_status cc_check_present(const char *op, const char *arg, const cc_tensor *t);
cc_status cc_check_ndim(const char *op, const char *arg, const cc_tensor *t, int ndim);
/* expected[i] < 0 matches any size */
cc_status cc_check_shape(const char *op, const char *arg, const cc_tensor *t, int ndim, const int64_t *expected);
/* t's shape is ref's */
cc_status cc_check_shape_as(const char *op, const char *arg, const cc_tensor *t, const char *ref_arg, const cc_tensor *ref);
/* allowed: bit mask of (1 << CC_F32) | ... */
cc_status cc_check_dtype(const char *op, const char *arg, const cc_tensor *t, unsigned allowed);
/* t (when given) has dtype, the dtype of owner */
cc_status cc_check_dtype_as(const char *op, const char *arg, const cc_tensor *t, int dtype, const char *owner);
/* 0 <= dim < t->ndim */
cc_status cc_check_dim(const char *op, const cc_tensor *t, int dim);

/* Every given tensor of ts is on the device of the first given one (list the user's inputs first,
   so a mismatch names what the user passed), and that device is one this build has. */
cc_status cc_check_devices(const char *op, int n, const cc_tensor *const *ts, const char *const *names);
/* An output: no two of its elements share a byte (exact; expanded dims are refused). */
cc_status cc_check_output(const char *op, const char *arg, const cc_tensor *t);
/* out and in share no byte of memory (compared element by element, so interleaved but disjoint
   views pass), except that out may be exactly the view in when inplace_ok. NULL tensors pass. */
cc_status cc_check_disjoint(const char *op, const char *out_arg, const cc_tensor *out, const char *in_arg,
                            const cc_tensor *in, int inplace_ok);
/* The whole-call check of an op without in-place use: devices (inputs first), every output an
   output, disjoint from every input and from the other outputs. NULL entries are skipped. */
cc_status cc_check_io(const char *op, int nin, const cc_tensor *const *ins, const char *const *in_names,
                      int nout, const cc_tensor *const *outs, const char *const *out_names);

/* A host tensor holding t's values, to read small index tensors: an alias for a cpu t, a copy for
   a cuda one (the caller frees *h). */
cc_status cc_host_view(const char *op, const char *arg, const cc_tensor *t, cc_tensor **h);

/* An index tensor: 1-D, i32 or i64, every value in [0, hi) or equal to ignore (when has_ignore).
   Reads the values (from the device when needed); *count = number of values != ignore. */
cc_status cc_check_index_values(const char *op, const char *arg, const cc_tensor *index, int64_t hi,
                                int has_ignore, int64_t ignore, int64_t *count);

/* The state rows of a decode update: indices (B) names row indices[b] of a pool of `pool` rows
   (pool_owner: the state tensor's name) for row b; each value < pool, or < 0 for a padding row,
   and no row named twice (two rows would race on it). Reads the values (from the device when
   needed). */
cc_status cc_check_state_rows(const char *op, const char *arg, const cc_tensor *indices, int64_t B, int64_t pool,
                              const char *pool_owner);

/* The error of an op asked to run on cuda in a build without CUDA: the one place that says it. */
cc_status cc_no_cuda(const char *op);

/* A kernel's status: a CPU kernel's bare failure (it only fails for scratch memory) gets its
   message, CUDA launchers set their own. */
cc_status cc_kernel_status(const char *op, int device, int st);

#endif
