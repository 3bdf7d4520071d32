/* Internal to the library: storage, error reporting, device memory (argument checks: checks.h).
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
    uint64_t serial;       /* unique for the process's life: a freed storage's address may come back */
};

/* "(2, 3, 4) f32 cpu" into buf; "nil" for NULL. Returns buf. */
const char *cc_describe(char *buf, size_t len, const cc_tensor *t);

/* "(2, 3, 4)" into buf (ndim sizes or strides). Returns buf. */
const char *cc_shape_str(char *buf, size_t len, int ndim, const int64_t *v);

/* Lowest and highest element offsets (relative to t->offset) the view reaches; 0,0 when empty. */
void cc_tensor_extent(const cc_tensor *t, int64_t *lo, int64_t *hi);

/* Device memory; device is cc_device. CC_CUDA goes to kernels/cuda (error when not built). */
cc_status cc_device_alloc(void **ptr, int64_t bytes, int device, int device_index);
void cc_device_free(void *ptr, int64_t bytes, int device, int device_index);   /* bytes as allocated */
cc_status cc_device_memcpy(void *dst, int dst_device, const void *src, int src_device, int64_t bytes);

/* Index tensors already checked (core/index_cache.c): reading a CUDA index tensor's values costs
   a device-to-host copy, a host synchronisation, on every call; a decode loop passes the same
   tensor every step. The key is the storage (serial and version: every in-place write through the
   library bumps it), the view's geometry and dtype, the check's kind and its bounds. */
enum { CC_INDEX_STATE_ROWS = 1, CC_INDEX_CU_SEQLENS = 2, CC_INDEX_RANGE = 3 };
int cc_index_checked(const cc_tensor *t, int kind, int64_t bound0, int64_t bound1);
void cc_index_mark_checked(const cc_tensor *t, int kind, int64_t bound0, int64_t bound1);
/* CC_INDEX_RANGE: every value in [0, hi) (bound0 = hi, bound1 = 0); a check against a larger hi
   is answered too. An op that makes such values by construction (max_dim's indices) marks its
   contiguous output with this, as the 1-d view an index argument takes of it. */
void cc_index_mark_range(const cc_tensor *t, int64_t hi);

#ifdef __cplusplus
}
#endif

#endif
