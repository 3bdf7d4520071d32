/* What every .cu file in kernels/cuda includes first: the CUDA headers (or, in the emulated build, the
 * CPU emulation, force-included by the Makefile), the library's stream and cuBLAS handle, the
 * launch macro and error checks.
 *
 * Launch and check:
 *     CC_LAUNCH(my_kernel, grid, block, smem_bytes, arg1, arg2);       // on cc_cuda_stream()
 *     CC_LAUNCH((my_kernel<float, 4>), grid, block, 0, args...);       // template: parenthesise
 *     return cc_cuda_launch_status("causal_conv1d_forward");           // CC_OK or CC_ERR_CUDA
 * Dynamic shared memory (declares `float *buf`):
 *     CC_DYNAMIC_SMEM(float, buf);
 * Dtypes in kernels: kernels/dtype.h (storage types float, double, cc_f16, cc_bf16, int32_t,
 * int64_t; cc_load / cc_store / cc_widen / cc_narrow). On the host, cc_dispatch_float(dtype, f)
 * calls f(T()) for the dtype's storage type.
 */
#ifndef CC_CUDA_COMMON_CUH
#define CC_CUDA_COMMON_CUH

#include <stdint.h>

#ifndef CC_CUDA_EMU
#include <cuda_runtime.h>
#include <cublas_v2.h>
#endif

#include "dtype.h"
#include "error.h"
#include "cuda/cuda_backend.h"

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
