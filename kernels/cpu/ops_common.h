/* Helpers shared by the CPU tensor-op kernels (element access itself is kernels/dtype.h): block
   loads/stores in any float dtype, row addressing for cc_rows, and the sizes above which OpenMP pays off. CPU op kernels compute in
   f64 (an f32 result rounded once from f64 is at least as accurate as one computed in f32),
   except the transcendental pointwise ops, which run in f32 for f32/f16/bf16. */
#ifndef CC_CPU_OPS_COMMON_H
#define CC_CPU_OPS_COMMON_H

#include <stdint.h>
#include "dtype.h"
#include "ops.h"

#define CC_OMP_MIN_WORK 32768    /* elements of work below which a parallel region costs more than it saves */

/* n elements with stride into dst as f64 / from src as f64; the dtype switch sits outside the loop. */
void cc_ld_block(double *dst, const void *p, int dtype, int64_t stride, int64_t n);
void cc_st_block(void *p, int dtype, int64_t stride, const double *src, int64_t n);
/* the same in f32 (dtype f32, f16 or bf16) */
void cc_ld_block_f(float *dst, const void *p, int dtype, int64_t stride, int64_t n);
void cc_st_block_f(void *p, int dtype, int64_t stride, const float *src, int64_t n);

/* element offset of row r of t in the row grid */
static inline int64_t cc_row_offset(const cc_rows *rows, const cc_rowptr *t, int64_t r)
{
    int64_t off = 0;
    for (int d = rows->ndim - 1; d >= 0; d--) {
        int64_t i = r % rows->shape[d];
        r /= rows->shape[d];
        off += i * t->outer[d];
    }
    return off;
}

#endif
