/* Internal to the library: storage, error reporting, argument checks, device memory.
   Not part of the public API (core/causalconv.h). */
#ifndef CC_INTERNAL_H
#define CC_INTERNAL_H

#include <stddef.h>
#include "causalconv.h"
#include "error.h"   /* kernels/error.h: cc_error, shared with the kernels */

#ifdef __cplusplus
extern "C" {
#endif

struct cc_storage {
    void *data;            /* host or device memory */
    int64_t bytes;
    int32_t device;
    int32_t device_index;
    int64_t refcount;      /* atomic */
    int64_t version;       /* atomic; bumped by in-place writes */
};


/* "(2, 3, 4) f32 cpu" into buf; "nil" for NULL. Returns buf. */
const char *cc_describe(char *buf, size_t len, const cc_tensor *t);

/* Argument checks. Each names the op and the argument in its message and returns a status.
   A NULL tensor is an error unless the check is only applied when present. */
cc_status cc_check_ndim(const char *op, const char *arg, const cc_tensor *t, int ndim);
/* expected[i] < 0 matches any size. */
cc_status cc_check_shape(const char *op, const char *arg, const cc_tensor *t, int ndim, const int64_t *expected);
/* allowed: bit mask of (1 << CC_F32) | ... */
cc_status cc_check_dtype(const char *op, const char *arg, const cc_tensor *t, unsigned allowed);
/* every non-NULL tensor of ts is on ts[0]'s device (the first non-NULL one). */
cc_status cc_check_same_device(const char *op, int n, const cc_tensor *const *ts, const char *const *names);
/* error when the memory spanned by out overlaps the memory spanned by in (same storage only). */
cc_status cc_check_no_overlap(const char *op, const char *out_arg, const cc_tensor *out, const char *in_arg, const cc_tensor *in);

#define CC_FLOAT_DTYPES ((1u << CC_F32) | (1u << CC_F64) | (1u << CC_F16) | (1u << CC_BF16))
#define CC_INDEX_DTYPES ((1u << CC_I32) | (1u << CC_I64))

/* Lowest and highest element offsets (relative to t->offset) the view reaches; 0,0 when empty. */
void cc_tensor_extent(const cc_tensor *t, int64_t *lo, int64_t *hi);

/* Device memory; device is cc_device. CC_CUDA goes to kernels/cuda (error when not built). */
cc_status cc_device_alloc(void **ptr, int64_t bytes, int device, int device_index);
void cc_device_free(void *ptr, int64_t bytes, int device, int device_index);   /* bytes as allocated */
cc_status cc_device_memcpy(void *dst, int dst_device, const void *src, int src_device, int64_t bytes);

#ifdef __cplusplus
}
#endif

#endif
