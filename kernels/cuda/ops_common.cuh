/* Device helpers shared by the tensor-op kernels (ops_*.cu): math overloads for the compute types
   (float for f32/f16/bf16, double for f64), a fixed-shape shared-memory block reduction, and row
   addressing. Kernels here are deliberately simple: one thread per element, or one block of
   kOpsThreads threads per row with a tree reduction whose order depends on the shape only. */
#ifndef CC_CUDA_OPS_COMMON_CUH
#define CC_CUDA_OPS_COMMON_CUH

#include <math.h>
#include "cuda_common.cuh"
#include "ops.h"

namespace ccops {

const int kOpsThreads = 256;            /* power of two: the tree reduction halves it */
const int64_t kOpsMaxBlocks = 65535;    /* grid-stride loops cover the rest */

CC_HDT float m_exp(float x) { return expf(x); }
CC_HDT double m_exp(double x) { return exp(x); }
CC_HDT float m_log(float x) { return logf(x); }
CC_HDT double m_log(double x) { return log(x); }
CC_HDT float m_log1p(float x) { return log1pf(x); }
CC_HDT double m_log1p(double x) { return log1p(x); }
CC_HDT float m_sqrt(float x) { return sqrtf(x); }
CC_HDT double m_sqrt(double x) { return sqrt(x); }
CC_HDT float m_tanh(float x) { return tanhf(x); }
CC_HDT double m_tanh(double x) { return tanh(x); }
CC_HDT float m_pow(float x, float y) { return powf(x, y); }
CC_HDT double m_pow(double x, double y) { return pow(x, y); }
CC_HDT float m_abs(float x) { return fabsf(x); }
CC_HDT double m_abs(double x) { return fabs(x); }
template <typename A> CC_HDT bool m_isnan(A x) { return x != x; }

inline int64_t blocks_for(int64_t work)
{
    int64_t b = cc_ceil_div(work, kOpsThreads);
    return b < 1 ? 1 : b < kOpsMaxBlocks ? b : kOpsMaxBlocks;
}
inline int64_t grid_for_rows(int64_t rows) { return rows < 1 ? 1 : rows < kOpsMaxBlocks ? rows : kOpsMaxBlocks; }

/* element offset of row r of t */
CC_HDT int64_t row_offset(const cc_rows &rows, const cc_rowptr &t, int64_t r)
{
    int64_t off = 0;
    for (int d = rows.ndim - 1; d >= 0; d--) {
        int64_t q = r / rows.shape[d];
        off += (r - q * rows.shape[d]) * t.outer[d];
        r = q;
    }
    return off;
}

/* sum of v over the block (blockDim.x == kOpsThreads) through red[kOpsThreads]; every thread gets it */
template <typename A> __device__ __forceinline__ A block_sum(A v, A *red)
{
    int t = threadIdx.x;
    red[t] = v;
    __syncthreads();
    for (int s = kOpsThreads / 2; s > 0; s >>= 1) {
        if (t < s) red[t] += red[t + s];
        __syncthreads();
    }
    A r = red[0];
    __syncthreads();
    return r;
}

/* max of v over the block; a NaN wins */
template <typename A> __device__ __forceinline__ A block_max(A v, A *red)
{
    int t = threadIdx.x;
    red[t] = v;
    __syncthreads();
    for (int s = kOpsThreads / 2; s > 0; s >>= 1) {
        if (t < s) {
            A o = red[t + s];
            if (o > red[t] || m_isnan(o)) red[t] = o;
        }
        __syncthreads();
    }
    A r = red[0];
    __syncthreads();
    return r;
}

}  /* namespace ccops */

#endif
