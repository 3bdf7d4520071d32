/* Elementwise ops on the CUDA device: one generic strided kernel, one thread per element
   (grid-stride), int64 index decomposition over the collapsed shape. Computes in float for
   f32/f16/bf16 and in double for f64; op and kind are uniform across the grid. */
#include "activation.h"
#include "ops_common.cuh"

using namespace ccops;

namespace {

__device__ __forceinline__ float m_erf(float x) { return erff(x); }
__device__ __forceinline__ double m_erf(double x) { return erf(x); }

template <typename A> __device__ __forceinline__ A unary(int op, A x, A s)
{
    switch (op) {
    case CC_UNARY_NEG:         return -x;
    case CC_UNARY_EXP:         return m_exp(x);
    case CC_UNARY_LOG:         return m_log(x);
    case CC_UNARY_SQRT:        return m_sqrt(x);
    case CC_UNARY_RSQRT:       return A(1) / m_sqrt(x);
    case CC_UNARY_ABS:         return m_abs(x);
    case CC_UNARY_SIGMOID:     return cc_sigmoid(x);
    case CC_UNARY_SILU:        return cc_silu(x);
    case CC_UNARY_SOFTPLUS:    return x > A(20) ? x : m_log1p(m_exp(x));
    case CC_UNARY_TANH:        return m_tanh(x);
    case CC_UNARY_RELU:        return x > A(0) || m_isnan(x) ? x : A(0);
    case CC_UNARY_POW_SCALAR:  return m_pow(x, s);
    case CC_UNARY_ADD_SCALAR:  return x + s;
    case CC_UNARY_MUL_SCALAR:  return x * s;
    case CC_UNARY_RPOW_SCALAR: return m_pow(s, x);
    case CC_UNARY_GELU:        return A(0.5) * x * (A(1) + m_erf(x * A(0.70710678118654752)));
    default:                   return s / x;
    }
}

/* d op(x) / dx, with PyTorch's masked cases (exponent 0, base 0) giving 0 */
template <typename A> __device__ __forceinline__ A unary_grad(int op, A x, A s)
{
    switch (op) {
    case CC_UNARY_NEG:         return A(-1);
    case CC_UNARY_EXP:         return m_exp(x);
    case CC_UNARY_LOG:         return A(1) / x;
    case CC_UNARY_SQRT:        return A(0.5) / m_sqrt(x);
    case CC_UNARY_RSQRT:       return A(-0.5) / (x * m_sqrt(x));
    case CC_UNARY_ABS:         return A((x > A(0)) - (x < A(0)));
    case CC_UNARY_SIGMOID:     { A g = cc_sigmoid(x); return g * (A(1) - g); }
    case CC_UNARY_SILU:        return cc_dsilu(x);
    case CC_UNARY_SOFTPLUS:    return x > A(20) ? A(1) : cc_sigmoid(x);
    case CC_UNARY_TANH:        { A t = m_tanh(x); return A(1) - t * t; }
    case CC_UNARY_RELU:        return x > A(0) ? A(1) : A(0);
    case CC_UNARY_POW_SCALAR:  return s == A(0) ? A(0) : s * m_pow(x, s - A(1));
    case CC_UNARY_ADD_SCALAR:  return A(1);
    case CC_UNARY_MUL_SCALAR:  return s;
    case CC_UNARY_RPOW_SCALAR: return s == A(0) ? A(0) : m_pow(s, x) * m_log(s);
    case CC_UNARY_GELU:        return A(0.5) * (A(1) + m_erf(x * A(0.70710678118654752)))
                                      + x * A(0.39894228040143268) * m_exp(A(-0.5) * x * x);
    default:                   return -s / (x * x);
    }
}

template <typename A> __device__ __forceinline__ A binary(int op, A u, A v)
{
    switch (op) {
    case CC_BINARY_ADD: return u + v;
    case CC_BINARY_SUB: return u - v;
    case CC_BINARY_MUL: return u * v;
    case CC_BINARY_GT:  return A(u > v);
    case CC_BINARY_LT:  return A(u < v);
    case CC_BINARY_GE:  return A(u >= v);
    case CC_BINARY_LE:  return A(u <= v);
    case CC_BINARY_EQ:  return A(u == v);
    case CC_BINARY_NE:  return A(u != v);
    default:            return u / v;
    }
}

/* out, in0, in1: views of a.shape (n elements) */
template <typename T> __global__ void pointwise_kernel(cc_pointwise_args a, int64_t n)
{
    typedef cc_acc_t<T> A;
    const T *in0 = (const T *)a.in0, *in1 = (const T *)a.in1;
    T *out = (T *)a.out;
    A s = (A)a.scalar;
    int64_t step = (int64_t)gridDim.x * blockDim.x;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += step) {
        int64_t r = i, oo = 0, o0 = 0, o1 = 0;
        for (int d = a.ndim - 1; d >= 0; d--) {
            int64_t q = r / a.shape[d], k = r - q * a.shape[d];
            oo += k * a.out_stride[d]; o0 += k * a.in0_stride[d]; o1 += k * a.in1_stride[d];
            r = q;
        }
        A u = cc_load(in0 + o0), y;
        if (a.kind == CC_PW_UNARY) y = unary(a.op, u, s);
        else if (a.kind == CC_PW_UNARY_BACKWARD) y = cc_load(in1 + o1) * unary_grad(a.op, u, s);
        else y = binary(a.op, u, cc_load(in1 + o1));
        cc_store(out + oo, y);
    }
}

}  /* namespace */

extern "C" int cc_cuda_pointwise(const cc_pointwise_args *a)
{
    int64_t n = 1;
    for (int d = 0; d < a->ndim; d++) n *= a->shape[d];
    if (n == 0) return CC_OK;
    const char *op = a->kind == CC_PW_BINARY ? "binary_forward" : a->kind == CC_PW_UNARY ? "unary_forward" : "unary_backward";
    return cc_dispatch_float(a->dtype, op, [&](auto t) {
        typedef decltype(t) T;
        CC_LAUNCH(pointwise_kernel<T>, (unsigned)blocks_for(n), kOpsThreads, 0, *a, n);
        return cc_cuda_launch_status(op);
    });
}
