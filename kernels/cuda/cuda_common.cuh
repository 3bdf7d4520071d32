/* What every .cu file in kernels/cuda includes first: the CUDA headers (or, in the emulated build, the
 * CPU emulation, force-included by the Makefile), the library's stream and cuBLAS handle, the
 * launch macro, error checks, and device-side dtype loads and stores.
 *
 * Launch and check:
 *     CC_LAUNCH(my_kernel, grid, block, smem_bytes, arg1, arg2);       // on cc_cuda_stream()
 *     CC_LAUNCH((my_kernel<float, 4>), grid, block, 0, args...);       // template: parenthesise
 *     return cc_cuda_launch_status("causal_conv1d_forward");           // CC_OK or CC_ERR_CUDA
 * Dynamic shared memory (declares `float *buf`):
 *     CC_DYNAMIC_SMEM(float, buf);
 * Dtypes in kernels: template on the storage type T (float, double, cc_f16, cc_bf16, int32_t,
 * int64_t); cc_load(p) widens to cc_acc_t<T> (float for the 16-bit types, T otherwise),
 * cc_store(p, v) narrows with round-to-nearest-even, cc_cast<To>(v) converts between any two.
 * On the host, cc_dispatch_float(dtype, f) calls f(T()) for the dtype's storage type.
 */
#ifndef CC_CUDA_COMMON_CUH
#define CC_CUDA_COMMON_CUH

#include <stdint.h>

#ifndef CC_CUDA_EMU
#include <cuda_runtime.h>
#include <cublas_v2.h>
#endif

#include "internal.h"
#include "half.h"
#include "cuda/cuda_backend.h"

/* Small helpers usable in kernels and on the host. */
#if defined(__CUDACC__)
#define CC_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define CC_HOST_DEVICE inline
#endif

/* ---- stream, cuBLAS, errors (kernels/cuda/runtime.cu) ------------------------------------------ */
cudaStream_t cc_cuda_stream(void);            /* the stream every launch and copy goes to */
cublasHandle_t cc_cuda_cublas(void);          /* created on first use, bound to cc_cuda_stream() */
/* CC_OK, or CC_ERR_CUDA with "<op>: CUDA error: <name> (<text>)" when cudaGetLastError reports
   one (a bad launch configuration, a failed earlier kernel). Call after every launch. */
int cc_cuda_launch_status(const char *op);
/* CC_OK for cudaSuccess, else CC_ERR_CUDA (CC_ERR_MEMORY for allocation failures) with
   "<op>: <what> failed: <name> (<text>)". */
int cc_cuda_check(cudaError_t err, const char *op, const char *what);
/* CC_OK for CUBLAS_STATUS_SUCCESS, else CC_ERR_CUDA naming op and the cuBLAS status. */
int cc_cublas_check(cublasStatus_t status, const char *op, const char *what);

#ifdef CC_CUDA_EMU
#define CC_LAUNCH(kernel, grid, block, smem_bytes, ...) \
    cc_emu::launch_kernel(kernel, grid, block, smem_bytes, ##__VA_ARGS__)
#define CC_DYNAMIC_SMEM(type, name) type *name = static_cast<type *>(cc_emu::dynamic_smem())
#else
#define CC_LAUNCH(kernel, grid, block, smem_bytes, ...) \
    kernel<<<grid, block, smem_bytes, cc_cuda_stream()>>>(__VA_ARGS__)
/* One untyped declaration: `extern __shared__ T name[]` with different T in two kernels of one
   file does not compile. */
#define CC_DYNAMIC_SMEM(type, name)                                    \
    extern __shared__ __align__(16) unsigned char cc_dynamic_smem_[]; \
    type *name = reinterpret_cast<type *>(cc_dynamic_smem_)
#endif

static inline int64_t cc_ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* ---- dtypes on the device ------------------------------------------------------------------------ */
/* The 16-bit types as distinct storage types (same bytes as the library's uint16_t data), so that
   templates can tell f16 from bf16. */
struct cc_f16 { uint16_t bits; };
struct cc_bf16 { uint16_t bits; };

/* What a storage type computes in. */
template <typename T> struct cc_acc { typedef T type; };
template <> struct cc_acc<cc_f16> { typedef float type; };
template <> struct cc_acc<cc_bf16> { typedef float type; };
template <typename T> using cc_acc_t = typename cc_acc<T>::type;

CC_HOST_DEVICE float cc_widen(cc_f16 v) { return cc_f16_to_f32_inline(v.bits); }
CC_HOST_DEVICE float cc_widen(cc_bf16 v) { return cc_bf16_to_f32_inline(v.bits); }
CC_HOST_DEVICE float cc_widen(float v) { return v; }
CC_HOST_DEVICE double cc_widen(double v) { return v; }
CC_HOST_DEVICE int32_t cc_widen(int32_t v) { return v; }
CC_HOST_DEVICE int64_t cc_widen(int64_t v) { return v; }

template <typename To> struct cc_narrow {
    template <typename From> static CC_HOST_DEVICE To from(From v) { return (To)v; }
};
template <> struct cc_narrow<cc_f16> {
    template <typename From> static CC_HOST_DEVICE cc_f16 from(From v) { cc_f16 h; h.bits = cc_f32_to_f16_inline((float)v); return h; }
};
template <> struct cc_narrow<cc_bf16> {
    template <typename From> static CC_HOST_DEVICE cc_bf16 from(From v) { cc_bf16 h; h.bits = cc_f32_to_bf16_inline((float)v); return h; }
};

/* Any storage type to any other (f64 to the 16-bit types rounds through f32). */
template <typename To, typename From> CC_HOST_DEVICE To cc_cast(From v) { return cc_narrow<To>::from(cc_widen(v)); }
template <typename T> CC_HOST_DEVICE cc_acc_t<T> cc_load(const T *p) { return cc_widen(*p); }
template <typename T> CC_HOST_DEVICE void cc_store(T *p, cc_acc_t<T> v) { *p = cc_narrow<T>::from(v); }

/* Host side: calls f(T()) with T the storage type of a float dtype (or an index dtype) and
   returns its result; an unknown dtype is an error naming op. */
template <typename F> static inline int cc_dispatch_float(int dtype, const char *op, F &&f)
{
    switch (dtype) {
    case CC_F32: return f(float());
    case CC_F64: return f(double());
    case CC_F16: return f(cc_f16());
    case CC_BF16: return f(cc_bf16());
    }
    return cc_error(CC_ERR_DTYPE, "%s: the CUDA backend has no kernel for dtype %d", op, dtype);
}
template <typename F> static inline int cc_dispatch_index(int dtype, const char *op, F &&f)
{
    switch (dtype) {
    case CC_I32: return f(int32_t());
    case CC_I64: return f(int64_t());
    }
    return cc_error(CC_ERR_DTYPE, "%s: the CUDA backend has no kernel for index dtype %d", op, dtype);
}

#endif
