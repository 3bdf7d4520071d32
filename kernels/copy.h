/* Argument blocks for strided copy (with dtype conversion), fill and arange, shared by
   kernels/cpu and kernels/cuda. Shapes and strides in elements; ndim <= 8 (0 = one element). */
#ifndef CC_KERNELS_COPY_H
#define CC_KERNELS_COPY_H

#include <stdint.h>
#include "dtype.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cc_copy_args {
    int ndim;
    int64_t shape[8];
    void *dst;        int dst_dtype; int64_t dst_stride[8];
    const void *src;  int src_dtype; int64_t src_stride[8];
} cc_copy_args;

typedef struct cc_fill_args {
    int ndim;
    int64_t shape[8];
    void *dst;        int dtype;     int64_t stride[8];
    double value;                    /* fill: value; arange: start */
    double step;                     /* arange only (ndim == 1) */
} cc_fill_args;

int cc_cpu_copy(const cc_copy_args *a);
int cc_cpu_fill(const cc_fill_args *a);
int cc_cpu_arange(const cc_fill_args *a);

int cc_cuda_copy(const cc_copy_args *a);      /* both pointers device memory */
int cc_cuda_fill(const cc_fill_args *a);
int cc_cuda_arange(const cc_fill_args *a);

#ifdef __cplusplus
}
#endif

#endif
