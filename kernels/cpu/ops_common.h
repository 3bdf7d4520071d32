/* Helpers shared by the CPU tensor-op kernels: element loads/stores in any float dtype, row
   addressing for cc_rows, and the sizes above which OpenMP pays off. CPU op kernels compute in
   f64 (an f32 result rounded once from f64 is at least as accurate as one computed in f32),
   except the transcendental pointwise ops, which run in f32 for f32/f16/bf16. */
#ifndef CC_CPU_OPS_COMMON_H
#define CC_CPU_OPS_COMMON_H

#include <stdint.h>
#include "causalconv.h"
#include "half.h"
#include "ops.h"

#define CC_OMP_MIN_WORK 32768    /* elements of work below which a parallel region costs more than it saves */

static inline double cc_ld(const void *p, int dtype, int64_t i)
{
    switch (dtype) {
    case CC_F32: return ((const float *)p)[i];
    case CC_F64: return ((const double *)p)[i];
    case CC_F16: return cc_f16_to_f32_inline(((const uint16_t *)p)[i]);
    default:     return cc_bf16_to_f32_inline(((const uint16_t *)p)[i]);
    }
}

static inline void cc_st(void *p, int dtype, int64_t i, double v)
{
    switch (dtype) {
    case CC_F32: ((float *)p)[i] = (float)v; break;
    case CC_F64: ((double *)p)[i] = v; break;
    /* half types round from f32, the precision they are defined to compute in */
    case CC_F16: ((uint16_t *)p)[i] = cc_f32_to_f16_inline((float)v); break;
    default:     ((uint16_t *)p)[i] = cc_f32_to_bf16_inline((float)v); break;
    }
}

static inline int64_t cc_ld_index(const void *p, int dtype, int64_t i)
{
    return dtype == CC_I32 ? (int64_t)((const int32_t *)p)[i] : ((const int64_t *)p)[i];
}

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
