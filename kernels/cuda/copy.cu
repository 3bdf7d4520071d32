/* Strided copy with dtype conversion, fill and arange on the CUDA device (cuda_backend: copy.h).
 *
 * The host side first folds the view's dimensions: size-1 dims go, and neighbours that are
 * contiguous with each other in every operand merge, so most views end up with one or two dims.
 * Then the fastest applicable path runs:
 *   copy:   same dtype, both contiguous      -> cudaMemcpyAsync device to device
 *           both contiguous                  -> convert_contiguous, 4 elements per thread
 *           otherwise                        -> copy_strided, one element per thread-iteration
 *   fill:   contiguous, one repeated byte    -> cudaMemsetAsync
 *           contiguous                       -> fill_contiguous, 16-byte stores
 *           otherwise                        -> fill_strided
 *   arange: arange_strided (1-D)
 * Dtypes are runtime arguments of the kernels (a switch uniform across the grid), which keeps the
 * number of instantiations, and nvcc's compile time, small; the copies are memory bound anyway.
 */
#include "cuda_common.cuh"
#include "copy.h"

namespace {

const int kThreads = 256;
const int64_t kMaxBlocks = 65535;

/* A view folded to its essential dims: element offsets for up to two operands. */
struct Plan {
    int ndim;
    int64_t shape[8];
    int64_t stride[2][8];
};

/* Folds dims of `nops` operands sharing shape: drops size-1 dims and merges a dim into the next
   when every operand steps over the pair as over one dim. A 0-d view becomes shape (1). */
Plan fold(int ndim, const int64_t *shape, int nops, const int64_t *const *strides)
{
    Plan p;
    p.ndim = 0;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] == 1) continue;
        bool merge = p.ndim > 0;
        for (int o = 0; o < nops && merge; o++)
            merge = strides[o][d] * shape[d] == p.stride[o][p.ndim - 1];
        if (merge) {
            p.shape[p.ndim - 1] *= shape[d];
            for (int o = 0; o < nops; o++) p.stride[o][p.ndim - 1] = strides[o][d];
        } else {
            p.shape[p.ndim] = shape[d];
            for (int o = 0; o < nops; o++) p.stride[o][p.ndim] = strides[o][d];
            p.ndim++;
        }
    }
    if (p.ndim == 0) {
        p.ndim = 1;
        p.shape[0] = 1;
        for (int o = 0; o < nops; o++) p.stride[o][0] = 1;
    }
    return p;
}

bool contiguous(const Plan &p, int op) { return p.ndim == 1 && p.stride[op][0] == 1; }

int64_t blocks_for(int64_t work) { return cc_ceil_div(work, kThreads) < kMaxBlocks ? cc_ceil_div(work, kThreads) : kMaxBlocks; }

/* A value in flight: integers keep all 64 bits, floats travel as double. */
struct Value {
    double f;
    int64_t i;
};

CC_HDT bool is_int(int dtype) { return dtype == CC_I32 || dtype == CC_I64; }

__device__ __forceinline__ Value load(const void *base, int dtype, int64_t i)
{
    Value v;
    v.i = 0;
    switch (dtype) {
    case CC_F32: v.f = ((const float *)base)[i]; break;
    case CC_F64: v.f = ((const double *)base)[i]; break;
    case CC_F16: v.f = cc_f16_to_f32_inline(((const uint16_t *)base)[i]); break;
    case CC_BF16: v.f = cc_bf16_to_f32_inline(((const uint16_t *)base)[i]); break;
    case CC_I32: v.i = ((const int32_t *)base)[i]; v.f = (double)v.i; break;
    default: v.i = ((const int64_t *)base)[i]; v.f = (double)v.i; break;
    }
    return v;
}

/* from_int: the value came from an integer dtype, so v.i is exact. */
__device__ __forceinline__ void store(void *base, int dtype, int64_t i, Value v, bool from_int)
{
    switch (dtype) {
    case CC_F32: ((float *)base)[i] = from_int ? (float)v.i : (float)v.f; break;
    case CC_F64: ((double *)base)[i] = from_int ? (double)v.i : v.f; break;
    case CC_F16: ((uint16_t *)base)[i] = cc_f32_to_f16_inline(from_int ? (float)v.i : (float)v.f); break;
    case CC_BF16: ((uint16_t *)base)[i] = cc_f32_to_bf16_inline(from_int ? (float)v.i : (float)v.f); break;
    case CC_I32: ((int32_t *)base)[i] = from_int ? (int32_t)v.i : cc_f64_to_i32(v.f); break;
    default: ((int64_t *)base)[i] = from_int ? v.i : cc_f64_to_i64(v.f); break;
    }
}

/* Element offset of linear index `idx` in operand `op` of the plan. */
__device__ __forceinline__ int64_t offset_of(const Plan &p, int op, int64_t idx)
{
    int64_t off = 0;
    for (int d = p.ndim - 1; d > 0; d--) {
        int64_t q = idx / p.shape[d];
        off += (idx - q * p.shape[d]) * p.stride[op][d];
        idx = q;
    }
    return off + idx * p.stride[op][0];
}

/* dst, src (n) contiguous: each thread converts 4 neighbours per grid-stride step. */
__global__ void convert_contiguous(void *dst, int dst_dtype, const void *src, int src_dtype, int64_t n)
{
    bool from_int = is_int(src_dtype);
    int64_t step = (int64_t)gridDim.x * blockDim.x * 4;
    for (int64_t i = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) * 4; i < n; i += step) {
        int64_t m = n - i < 4 ? n - i : 4;
        Value v[4];
        for (int k = 0; k < m; k++) v[k] = load(src, src_dtype, i + k);
        for (int k = 0; k < m; k++) store(dst, dst_dtype, i + k, v[k], from_int);
    }
}

/* dst, src: views of the plan's shape (n elements), operand 0 dst, 1 src. */
__global__ void copy_strided(void *dst, int dst_dtype, const void *src, int src_dtype, Plan p, int64_t n)
{
    bool from_int = is_int(src_dtype);
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step)
        store(dst, dst_dtype, offset_of(p, 0, i), load(src, src_dtype, offset_of(p, 1, i)), from_int);
}

/* dst (n elements of `size` bytes, contiguous, aligned to size): the 16-byte `pattern` holds the
   value repeated. Head and tail elements outside 16-byte alignment are stored one by one. */
__global__ void fill_contiguous(char *dst, int size, int64_t n, uint4 pattern, int64_t head, int64_t vecs)
{
    int64_t stride = (int64_t)gridDim.x * blockDim.x;
    int64_t t0 = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
    const char *pat = (const char *)&pattern;
    uint4 *body = (uint4 *)(dst + head * size);
    for (int64_t v = t0; v < vecs; v += stride) body[v] = pattern;
    int64_t tail_start = head + vecs * (16 / size);
    for (int64_t e = t0; e < head + (n - tail_start); e += stride) {
        int64_t idx = e < head ? e : tail_start + (e - head);
        for (int b = 0; b < size; b++) dst[idx * size + b] = pat[b];
    }
}

/* dst: a view of the plan's shape (n elements of `size` bytes); pattern: the value's bytes. */
__global__ void fill_strided(char *dst, int size, Plan p, int64_t n, uint64_t pattern)
{
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
        char *e = dst + offset_of(p, 0, i) * size;
        switch (size) {
        case 2: *(uint16_t *)e = (uint16_t)pattern; break;
        case 4: *(uint32_t *)e = (uint32_t)pattern; break;
        default: *(uint64_t *)e = pattern; break;
        }
    }
}

/* dst (n) with element stride `stride`: dst[i] = start + i * step, computed in double. */
__global__ void arange_strided(void *dst, int dtype, int64_t stride, int64_t n, double start, double step)
{
    int64_t gstep = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gstep) {
        Value v;
        v.f = start + (double)i * step;
        v.i = 0;
        store(dst, dtype, i * stride, v, false);
    }
}

int64_t numel(int ndim, const int64_t *shape)
{
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= shape[d];
    return n;
}

/* The bytes of `value` stored as dtype, in the low bytes of the result. */
uint64_t pattern_of(int dtype, double value)
{
    uint64_t u = 0;
    switch (dtype) {
    case CC_F32: { float f = (float)value; memcpy(&u, &f, 4); break; }
    case CC_F64: memcpy(&u, &value, 8); break;
    case CC_F16: u = cc_f32_to_f16_inline((float)value); break;
    case CC_BF16: u = cc_f32_to_bf16_inline((float)value); break;
    case CC_I32: { int32_t i = cc_f64_to_i32(value); memcpy(&u, &i, 4); break; }
    default: { int64_t i = cc_f64_to_i64(value); memcpy(&u, &i, 8); break; }
    }
    return u;
}

}  /* namespace */

extern "C" int cc_cuda_copy(const cc_copy_args *a)
{
    int64_t n = numel(a->ndim, a->shape);
    if (n == 0) return CC_OK;
    const int64_t *strides[2] = {a->dst_stride, a->src_stride};
    Plan p = fold(a->ndim, a->shape, 2, strides);
    if (contiguous(p, 0) && contiguous(p, 1)) {
        if (a->dst_dtype == a->src_dtype)
            return cc_cuda_check(cudaMemcpyAsync(a->dst, a->src, (size_t)(n * cc_dtype_bytes(a->dst_dtype)),
                                                 cudaMemcpyDeviceToDevice, cc_cuda_stream()),
                                 "copy", "cudaMemcpyAsync");
        CC_LAUNCH(convert_contiguous, (unsigned)blocks_for(cc_ceil_div(n, 4)), kThreads, 0, a->dst, a->dst_dtype, a->src,
                  a->src_dtype, n);
        return cc_cuda_launch_status("copy");
    }
    CC_LAUNCH(copy_strided, (unsigned)blocks_for(n), kThreads, 0, a->dst, a->dst_dtype, a->src, a->src_dtype, p, n);
    return cc_cuda_launch_status("copy");
}

extern "C" int cc_cuda_fill(const cc_fill_args *a)
{
    int64_t n = numel(a->ndim, a->shape);
    if (n == 0) return CC_OK;
    const int64_t *strides[1] = {a->stride};
    Plan p = fold(a->ndim, a->shape, 1, strides);
    int size = (int)cc_dtype_bytes(a->dtype);
    uint64_t pattern = pattern_of(a->dtype, a->value);
    if (contiguous(p, 0)) {
        bool one_byte = true;
        for (int b = 1; b < size; b++) one_byte = one_byte && ((pattern >> (8 * b)) & 0xff) == (pattern & 0xff);
        if (one_byte)
            return cc_cuda_check(cudaMemsetAsync(a->dst, (int)(pattern & 0xff), (size_t)(n * size), cc_cuda_stream()), "fill",
                                 "cudaMemsetAsync");
        uint32_t words[4];
        for (int b = 0; b < 16; b += size) memcpy((char *)words + b, &pattern, (size_t)size);
        uint4 pat = make_uint4(words[0], words[1], words[2], words[3]);
        int64_t misalign = (int64_t)((uintptr_t)a->dst % 16);
        int64_t head = misalign ? (16 - misalign) / size : 0;
        if (head > n) head = n;
        int64_t vecs = (n - head) * size / 16;
        CC_LAUNCH(fill_contiguous, (unsigned)blocks_for(vecs > 0 ? vecs : 1), kThreads, 0, (char *)a->dst, size, n, pat, head, vecs);
        return cc_cuda_launch_status("fill");
    }
    CC_LAUNCH(fill_strided, (unsigned)blocks_for(n), kThreads, 0, (char *)a->dst, size, p, n, pattern);
    return cc_cuda_launch_status("fill");
}

extern "C" int cc_cuda_arange(const cc_fill_args *a)
{
    int64_t n = numel(a->ndim, a->shape);
    if (n == 0) return CC_OK;
    CC_LAUNCH(arange_strided, (unsigned)blocks_for(n), kThreads, 0, a->dst, a->dtype, a->ndim ? a->stride[0] : 1, n, a->value,
              a->step);
    return cc_cuda_launch_status("arange");
}
