/* CUDA on the CPU, for tests on machines without a GPU.
 *
 * The emulated build compiles every kernels/cuda/ .cu file with g++ as C++17 and `-include cuda_emu.h`.
 * This header stands in for <cuda_runtime.h>, <cublas_v2.h> and <curand.h>: it gives kernels the
 * CUDA keywords, built-in variables, vector types, intrinsics, atomics, barriers and warp
 * shuffles, and gives host code the runtime, cuBLAS and cuRAND calls the library uses.
 *
 * How kernels run (kernels/cuda/emu/fiber.cpp): a launch runs the grid's blocks one after
 * another on each OpenMP thread. Inside a block every CUDA thread is a fiber with its own stack.
 * Threads run straight through, one after another, until one waits at a barrier
 * (__syncthreads, __syncwarp, a shuffle, a vote); only then does the waiting thread keep its
 * fiber and the next one start on a fresh one. Kernels without barriers therefore cost one
 * fiber switch per block, not per thread.
 *
 * Checks real hardware would fail on, reported by cudaGetLastError as launch errors: bad launch
 * configurations, dynamic shared memory above the kernel's limit, threads of one block waiting at
 * different barriers (deadlock), a shuffle or vote reading a lane that did not take part, and
 * cudaMemcpy/cudaMemset ranges outside any cudaMalloc allocation. Built with AddressSanitizer,
 * blocks run on one OS thread and __shared__ arrays are ordinary globals, so ASan sees overruns
 * of shared memory as well as of device memory.
 *
 * Checking modes, chosen by CC_EMU_CHECK (race, sync, init) and CC_EMU_ORDER (forward, reverse,
 * random[:seed]), report what would go wrong on a GPU: kernels/cuda/emu/check.h.
 *
 * Not emulated: streams (everything runs synchronously at launch), concurrency between threads of
 * a block other than at barriers, blocks waiting on each other (spin locks across blocks hang),
 * textures, cooperative groups, dynamic parallelism, the __half types (the library keeps 16-bit
 * values as uint16_t, see kernels/dtype.h).
 */
#ifndef CC_CUDA_EMU_H
#define CC_CUDA_EMU_H

#ifdef __CUDACC__
#error "cuda_emu.h is the CPU emulation of CUDA, for g++; nvcc uses the real CUDA headers"
#endif

/* Standard headers first: the keyword macros below must not reach them. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <math.h>
#include <cmath>
#include <tuple>
#include <type_traits>
#include <utility>

/* ---- keywords -------------------------------------------------------------------------------- */
#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#if defined(__SANITIZE_ADDRESS__)
#define __shared__ static                /* blocks run one at a time: plain globals ASan can guard */
#else
#define __shared__ static thread_local   /* one block at a time per OS thread */
#endif
#define __align__(n) __attribute__((aligned(n)))

/* ---- vector types (same sizes and alignments as CUDA's) -------------------------------------- */
#define CC_EMU_VEC2(T, N, A)                                                                        \
    struct __attribute__((aligned(A))) N { T x, y; };                                                \
    static inline N make_##N(T x, T y) { N v; v.x = x; v.y = y; return v; }
#define CC_EMU_VEC3(T, N)                                                                           \
    struct N { T x, y, z; };                                                                         \
    static inline N make_##N(T x, T y, T z) { N v; v.x = x; v.y = y; v.z = z; return v; }
#define CC_EMU_VEC4(T, N, A)                                                                        \
    struct __attribute__((aligned(A))) N { T x, y, z, w; };                                          \
    static inline N make_##N(T x, T y, T z, T w) { N v; v.x = x; v.y = y; v.z = z; v.w = w; return v; }

CC_EMU_VEC2(signed char, char2, 2)           CC_EMU_VEC4(signed char, char4, 4)
CC_EMU_VEC2(unsigned char, uchar2, 2)        CC_EMU_VEC4(unsigned char, uchar4, 4)
CC_EMU_VEC2(short, short2, 4)                CC_EMU_VEC4(short, short4, 8)
CC_EMU_VEC2(unsigned short, ushort2, 4)      CC_EMU_VEC4(unsigned short, ushort4, 8)
CC_EMU_VEC2(int, int2, 8)                    CC_EMU_VEC3(int, int3)          CC_EMU_VEC4(int, int4, 16)
CC_EMU_VEC2(unsigned int, uint2, 8)          CC_EMU_VEC3(unsigned int, uint3) CC_EMU_VEC4(unsigned int, uint4, 16)
CC_EMU_VEC2(long long, longlong2, 16)        CC_EMU_VEC2(unsigned long long, ulonglong2, 16)
CC_EMU_VEC2(float, float2, 8)                CC_EMU_VEC3(float, float3)      CC_EMU_VEC4(float, float4, 16)
CC_EMU_VEC2(double, double2, 16)

#undef CC_EMU_VEC2
#undef CC_EMU_VEC3
#undef CC_EMU_VEC4

struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
    constexpr operator uint3() const { return uint3{x, y, z}; }
};

/* ---- built-in variables: set by the emulator for the thread that runs ------------------------ */
extern __thread uint3 threadIdx;
extern __thread uint3 blockIdx;
extern __thread dim3 blockDim;
extern __thread dim3 gridDim;
static const int warpSize = 32;

/* ---- the emulator's entry points (kernels/cuda/emu/fiber.cpp) -------------------------------- */
namespace cc_emu {
typedef void (*body_fn)(void *ctx);
/* Runs body(ctx) once per CUDA thread of the grid; errors go to cudaGetLastError. */
void launch(const void *kernel, dim3 grid, dim3 block, size_t smem_bytes, body_fn body, void *ctx);
void *dynamic_smem();
void syncthreads();
int syncthreads_reduce(int predicate, int op);               /* op 0 count, 1 and, 2 or */
void syncwarp(unsigned mask);
uint64_t shfl(unsigned mask, uint64_t bits, int src_lane);   /* src_lane: 0..31 in this warp */
unsigned ballot(unsigned mask, int predicate);
unsigned active_mask();
unsigned lane_id();
/* The message behind the most recent error cudaGetLastError returned (or will return). */
const char *error_detail();
/* Makes code the sticky error cudaGetLastError returns (the first one stays until read). */
void record_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void set_func_max_dynamic_smem(const void *kernel, int bytes);
/* Initcheck bookkeeping (kernels/cuda/emu/check_global.cpp; no-ops unless CC_EMU_CHECK has init):
   [p, p + bytes) of a device allocation was handed out fresh (it is poisoned and unwritten), or was
   written by host-side code (copies, cuBLAS, cuRAND). */
void memory_fresh(void *p, size_t bytes);
void memory_written(const void *p, size_t bytes);

template <typename T> static inline uint64_t to_bits(T v)
{
    static_assert(sizeof(T) <= 8, "warp shuffles move at most 8 bytes");
    uint64_t u = 0;
    memcpy(&u, &v, sizeof(T));
    return u;
}
template <typename T> static inline T from_bits(uint64_t u)
{
    T v;
    memcpy(&v, &u, sizeof(T));
    return v;
}

/* Converts the arguments to the kernel's parameter types once, as a real launch does, and calls
   the kernel with a copy of them in every thread. */
template <typename... P, typename... A>
void launch_kernel(void (*kernel)(P...), dim3 grid, dim3 block, size_t smem_bytes, A &&...args)
{
    typedef std::tuple<typename std::decay<P>::type...> params_t;
    params_t params(std::forward<A>(args)...);
    struct call_t { void (*kernel)(P...); params_t *params; } call = {kernel, &params};
    launch(reinterpret_cast<const void *>(kernel), grid, block, smem_bytes,
           [](void *c) { call_t *k = static_cast<call_t *>(c); std::apply(k->kernel, *k->params); }, &call);
}
}  /* namespace cc_emu */

/* ---- barriers, warp shuffles and votes ---------------------------------------------------------- */
/* Always inlined: the emulator takes its caller's return address as the barrier's source line. */
static __forceinline__ void __syncthreads() { cc_emu::syncthreads(); }
static __forceinline__ int __syncthreads_count(int p) { return cc_emu::syncthreads_reduce(p, 0); }
static __forceinline__ int __syncthreads_and(int p) { return cc_emu::syncthreads_reduce(p, 1); }
static __forceinline__ int __syncthreads_or(int p) { return cc_emu::syncthreads_reduce(p, 2); }
static __forceinline__ void __syncwarp(unsigned mask = 0xffffffffu) { cc_emu::syncwarp(mask); }
static __forceinline__ unsigned __ballot_sync(unsigned mask, int p) { return cc_emu::ballot(mask, p); }
static __forceinline__ int __any_sync(unsigned mask, int p) { return cc_emu::ballot(mask, p) != 0; }
static __forceinline__ int __all_sync(unsigned mask, int p) { return cc_emu::ballot(mask, !p) == 0; }
static inline unsigned __activemask() { return cc_emu::active_mask(); }

template <typename T> static __forceinline__ T __shfl_sync(unsigned mask, T var, int src, int width = 32)
{
    int lane = (int)cc_emu::lane_id(), base = lane & ~(width - 1);
    return cc_emu::from_bits<T>(cc_emu::shfl(mask, cc_emu::to_bits(var), base + (src & (width - 1))));
}
template <typename T> static __forceinline__ T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32)
{
    int lane = (int)cc_emu::lane_id();
    int src = (lane & (width - 1)) >= (int)delta ? lane - (int)delta : lane;
    return cc_emu::from_bits<T>(cc_emu::shfl(mask, cc_emu::to_bits(var), src));
}
template <typename T> static __forceinline__ T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32)
{
    int lane = (int)cc_emu::lane_id();
    int src = (lane & (width - 1)) + (int)delta < width ? lane + (int)delta : lane;
    return cc_emu::from_bits<T>(cc_emu::shfl(mask, cc_emu::to_bits(var), src));
}
template <typename T> static __forceinline__ T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = 32)
{
    int lane = (int)cc_emu::lane_id(), src = lane ^ lane_mask;
    if (src >= (lane & ~(width - 1)) + width) src = lane;   /* later groups are out of reach */
    return cc_emu::from_bits<T>(cc_emu::shfl(mask, cc_emu::to_bits(var), src));
}

/* ---- memory fences and loads ------------------------------------------------------------------ */
static inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
template <typename T> static inline T __ldg(const T *p) { return *p; }
template <typename T> static inline T __ldcg(const T *p) { return *p; }
template <typename T> static inline T __ldcs(const T *p) { return *p; }
template <typename T> static inline T __ldlu(const T *p) { return *p; }
template <typename T> static inline void __stcg(T *p, T v) { *p = v; }
template <typename T> static inline void __stcs(T *p, T v) { *p = v; }
template <typename T> static inline void __stwt(T *p, T v) { *p = v; }
namespace cc_emu { long long clock_ns(); }
static inline long long clock64() { return cc_emu::clock_ns(); }
static inline void __nanosleep(unsigned) {}

/* ---- atomics (real ones: blocks may run on several OS threads) --------------------------------- */
#define CC_EMU_ATOMIC_INT(T)                                                                          \
    static inline T atomicAdd(T *a, T v) { return __atomic_fetch_add(a, v, __ATOMIC_RELAXED); }        \
    static inline T atomicSub(T *a, T v) { return __atomic_fetch_sub(a, v, __ATOMIC_RELAXED); }        \
    static inline T atomicExch(T *a, T v) { return __atomic_exchange_n(a, v, __ATOMIC_RELAXED); }      \
    static inline T atomicAnd(T *a, T v) { return __atomic_fetch_and(a, v, __ATOMIC_RELAXED); }        \
    static inline T atomicOr(T *a, T v) { return __atomic_fetch_or(a, v, __ATOMIC_RELAXED); }          \
    static inline T atomicXor(T *a, T v) { return __atomic_fetch_xor(a, v, __ATOMIC_RELAXED); }        \
    static inline T atomicCAS(T *a, T expected, T desired)                                            \
    {                                                                                                 \
        __atomic_compare_exchange_n(a, &expected, desired, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED); \
        return expected;                                                                              \
    }                                                                                                 \
    static inline T atomicMax(T *a, T v)                                                              \
    {                                                                                                 \
        T old = __atomic_load_n(a, __ATOMIC_RELAXED);                                                 \
        while (old < v && !__atomic_compare_exchange_n(a, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {} \
        return old;                                                                                   \
    }                                                                                                 \
    static inline T atomicMin(T *a, T v)                                                              \
    {                                                                                                 \
        T old = __atomic_load_n(a, __ATOMIC_RELAXED);                                                 \
        while (old > v && !__atomic_compare_exchange_n(a, &old, v, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {} \
        return old;                                                                                   \
    }
CC_EMU_ATOMIC_INT(int)
CC_EMU_ATOMIC_INT(unsigned int)
CC_EMU_ATOMIC_INT(long long)
CC_EMU_ATOMIC_INT(unsigned long long)
#undef CC_EMU_ATOMIC_INT
static inline unsigned short atomicCAS(unsigned short *a, unsigned short expected, unsigned short desired)
{
    __atomic_compare_exchange_n(a, &expected, desired, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    return expected;
}
static inline unsigned int atomicInc(unsigned int *a, unsigned int limit)
{
    unsigned int old = __atomic_load_n(a, __ATOMIC_RELAXED);
    while (!__atomic_compare_exchange_n(a, &old, old >= limit ? 0u : old + 1u, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
    return old;
}

namespace cc_emu {
/* Floating-point read-modify-write as a compare-and-swap loop on the bit pattern. */
template <typename F, typename U, typename Op> static inline F atomic_float(F *a, Op op)
{
    typedef U __attribute__((may_alias)) alias_t;
    alias_t *p = reinterpret_cast<alias_t *>(a);
    U old = __atomic_load_n(p, __ATOMIC_RELAXED), next;
    do {
        F f;
        memcpy(&f, &old, sizeof f);
        F r = op(f);
        memcpy(&next, &r, sizeof next);
    } while (!__atomic_compare_exchange_n(p, &old, next, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    F f;
    memcpy(&f, &old, sizeof f);
    return f;
}
}  /* namespace cc_emu */
static inline float atomicAdd(float *a, float v) { return cc_emu::atomic_float<float, uint32_t>(a, [v](float x) { return x + v; }); }
static inline double atomicAdd(double *a, double v) { return cc_emu::atomic_float<double, uint64_t>(a, [v](double x) { return x + v; }); }
static inline float atomicExch(float *a, float v) { return cc_emu::atomic_float<float, uint32_t>(a, [v](float) { return v; }); }

/* ---- math: CUDA's overloads and fast intrinsics, computed with the host libm ------------------- */
#define CC_EMU_MINMAX(T)                                                                              \
    static inline T min(T a, T b) { return a < b ? a : b; }                                            \
    static inline T max(T a, T b) { return a > b ? a : b; }
CC_EMU_MINMAX(int)
CC_EMU_MINMAX(unsigned int)
CC_EMU_MINMAX(long)
CC_EMU_MINMAX(unsigned long)
CC_EMU_MINMAX(long long)
CC_EMU_MINMAX(unsigned long long)
#undef CC_EMU_MINMAX
static inline float min(float a, float b) { return fminf(a, b); }
static inline float max(float a, float b) { return fmaxf(a, b); }
static inline double min(double a, double b) { return fmin(a, b); }
static inline double max(double a, double b) { return fmax(a, b); }

static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
static inline float rcbrtf(float x) { return 1.0f / cbrtf(x); }
/* glibc declares these names itself (as its own expf etc.), so they are renamed, not defined. */
#define __expf expf
#define __exp10f exp10f
#define __logf logf
#define __log2f log2f
#define __log10f log10f
#define __powf powf
#define __sinf sinf
#define __cosf cosf
#define __tanf tanf
#define __tanhf tanhf
#define __sincosf sincosf
static inline float __fdividef(float a, float b) { return a / b; }
static inline float __frcp_rn(float x) { return 1.0f / x; }
static inline float __fsqrt_rn(float x) { return sqrtf(x); }
static inline float __frsqrt_rn(float x) { return 1.0f / sqrtf(x); }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fsub_rn(float a, float b) { return a - b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fdiv_rn(float a, float b) { return a / b; }
static inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
static inline double __dadd_rn(double a, double b) { return a + b; }
static inline double __dmul_rn(double a, double b) { return a * b; }
static inline double __fma_rn(double a, double b, double c) { return fma(a, b, c); }
static inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : (x == x ? x : 0.0f)); }
static inline int __float2int_rn(float x) { return (int)nearbyintf(x); }
static inline int __float2int_rz(float x) { return (int)x; }
static inline int __float2int_rd(float x) { return (int)floorf(x); }
static inline int __float2int_ru(float x) { return (int)ceilf(x); }
static inline float __int2float_rn(int x) { return (float)x; }
static inline int __float_as_int(float x) { int i; memcpy(&i, &x, 4); return i; }
static inline unsigned int __float_as_uint(float x) { unsigned int i; memcpy(&i, &x, 4); return i; }
static inline float __int_as_float(int i) { float x; memcpy(&x, &i, 4); return x; }
static inline float __uint_as_float(unsigned int i) { float x; memcpy(&x, &i, 4); return x; }
static inline long long __double_as_longlong(double x) { long long i; memcpy(&i, &x, 8); return i; }
static inline double __longlong_as_double(long long i) { double x; memcpy(&x, &i, 8); return x; }
static inline int __popc(unsigned int x) { return __builtin_popcount(x); }
static inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
static inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
static inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
static inline int __ffs(int x) { return __builtin_ffs(x); }
static inline int __ffsll(long long x) { return __builtin_ffsll(x); }
static inline unsigned int __brev(unsigned int x)
{
    unsigned int r = 0;
    for (int i = 0; i < 32; i++) r |= ((x >> i) & 1u) << (31 - i);
    return r;
}
static inline int __mul24(int a, int b) { return a * b; }
static inline unsigned int __umulhi(unsigned int a, unsigned int b) { return (unsigned int)(((unsigned long long)a * b) >> 32); }
static inline int __mulhi(int a, int b) { return (int)(((long long)a * b) >> 32); }
static inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b)
{
    return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}

/* ---- runtime API: device memory is host memory, streams are synchronous ------------------------ */
typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevice = 101,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorNotReady = 600,
    cudaErrorLaunchFailure = 719,
    cudaErrorNotSupported = 801
} cudaError_t;

enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4
};

enum cudaDeviceAttr {
    cudaDevAttrMaxThreadsPerBlock = 1,
    cudaDevAttrMaxSharedMemoryPerBlock = 8,
    cudaDevAttrWarpSize = 10,
    cudaDevAttrMultiProcessorCount = 16,
    cudaDevAttrL2CacheSize = 38,
    cudaDevAttrMaxThreadsPerMultiProcessor = 39,
    cudaDevAttrComputeCapabilityMajor = 75,
    cudaDevAttrComputeCapabilityMinor = 76,
    cudaDevAttrMaxSharedMemoryPerMultiprocessor = 81,
    cudaDevAttrMaxSharedMemoryPerBlockOptin = 97
};

enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };

#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01
#define cudaEventDefault 0x00

typedef struct CUstream_st *cudaStream_t;
typedef struct CUevent_st *cudaEvent_t;

/* The fields the library may read; the same names and types as CUDA's. */
struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    size_t sharedMemPerBlock;
    int regsPerBlock;
    int warpSize;
    int maxThreadsPerBlock;
    int maxThreadsDim[3];
    int maxGridSize[3];
    size_t totalConstMem;
    int major;
    int minor;
    int multiProcessorCount;
    int memoryBusWidth;
    int l2CacheSize;
    int maxThreadsPerMultiProcessor;
    size_t sharedMemPerMultiprocessor;
    size_t sharedMemPerBlockOptin;
};

cudaError_t cudaGetDeviceCount(int *count);
cudaError_t cudaGetDevice(int *device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device);
cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaMalloc(void **ptr, size_t bytes);
template <typename T> static inline cudaError_t cudaMalloc(T **ptr, size_t bytes)
{
    return cudaMalloc(reinterpret_cast<void **>(ptr), bytes);
}
cudaError_t cudaFree(void *ptr);
cudaError_t cudaMallocHost(void **ptr, size_t bytes);
cudaError_t cudaFreeHost(void *ptr);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t stream = 0);
cudaError_t cudaMemset(void *dst, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t stream = 0);
cudaError_t cudaStreamCreate(cudaStream_t *stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned int flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaEventCreate(cudaEvent_t *event);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int flags);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = 0);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char *cudaGetErrorString(cudaError_t error);
const char *cudaGetErrorName(cudaError_t error);
template <typename F> static inline cudaError_t cudaFuncSetAttribute(F *kernel, cudaFuncAttribute attr, int value)
{
    if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize)
        cc_emu::set_func_max_dynamic_smem(reinterpret_cast<const void *>(kernel), value);
    return cudaSuccess;
}
template <typename T> static inline cudaError_t cudaMemcpyToSymbol(T &symbol, const void *src, size_t bytes, size_t offset = 0,
                                                                   cudaMemcpyKind kind = cudaMemcpyHostToDevice)
{
    (void)kind;
    memcpy(reinterpret_cast<char *>(&symbol) + offset, src, bytes);
    return cudaSuccess;
}

/* ---- cuBLAS (column-major, as cuBLAS) served by OpenBLAS --------------------------------------- */
typedef enum {
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_NOT_INITIALIZED = 1,
    CUBLAS_STATUS_ALLOC_FAILED = 3,
    CUBLAS_STATUS_INVALID_VALUE = 7,
    CUBLAS_STATUS_EXECUTION_FAILED = 13,
    CUBLAS_STATUS_NOT_SUPPORTED = 15
} cublasStatus_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1, CUBLAS_OP_C = 2 } cublasOperation_t;
typedef enum { CUBLAS_DEFAULT_MATH = 0, CUBLAS_PEDANTIC_MATH = 2, CUBLAS_TF32_TENSOR_OP_MATH = 3 } cublasMath_t;
typedef struct cublasContext *cublasHandle_t;

cublasStatus_t cublasCreate(cublasHandle_t *handle);
cublasStatus_t cublasDestroy(cublasHandle_t handle);
cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream);
cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode);
const char *cublasGetStatusString(cublasStatus_t status);
const char *cublasGetStatusName(cublasStatus_t status);
cublasStatus_t cublasSgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
                           const float *alpha, const float *A, int lda, const float *B, int ldb, const float *beta,
                           float *C, int ldc);
cublasStatus_t cublasDgemm(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
                           const double *alpha, const double *A, int lda, const double *B, int ldb, const double *beta,
                           double *C, int ldc);
cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                         int m, int n, int k, const float *alpha, const float *A, int lda,
                                         long long strideA, const float *B, int ldb, long long strideB,
                                         const float *beta, float *C, int ldc, long long strideC, int batchCount);
cublasStatus_t cublasDgemmStridedBatched(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                         int m, int n, int k, const double *alpha, const double *A, int lda,
                                         long long strideA, const double *B, int ldb, long long strideB,
                                         const double *beta, double *C, int ldc, long long strideC, int batchCount);

/* ---- cuRAND host API: Philox 4x32-10 on the host ----------------------------------------------- */
typedef enum curandStatus {
    CURAND_STATUS_SUCCESS = 0,
    CURAND_STATUS_NOT_INITIALIZED = 101,
    CURAND_STATUS_ALLOCATION_FAILED = 102,
    CURAND_STATUS_TYPE_ERROR = 103,
    CURAND_STATUS_OUT_OF_RANGE = 104,
    CURAND_STATUS_LENGTH_NOT_MULTIPLE = 105
} curandStatus_t;
typedef enum curandRngType { CURAND_RNG_PSEUDO_PHILOX4_32_10 = 161 } curandRngType_t;
typedef struct curandGenerator_st *curandGenerator_t;

curandStatus_t curandCreateGenerator(curandGenerator_t *gen, curandRngType_t type);
curandStatus_t curandDestroyGenerator(curandGenerator_t gen);
curandStatus_t curandSetPseudoRandomGeneratorSeed(curandGenerator_t gen, unsigned long long seed);
curandStatus_t curandSetGeneratorOffset(curandGenerator_t gen, unsigned long long offset);
curandStatus_t curandSetStream(curandGenerator_t gen, cudaStream_t stream);
curandStatus_t curandGenerateUniform(curandGenerator_t gen, float *out, size_t n);
curandStatus_t curandGenerateUniformDouble(curandGenerator_t gen, double *out, size_t n);
curandStatus_t curandGenerateNormal(curandGenerator_t gen, float *out, size_t n, float mean, float stddev);
curandStatus_t curandGenerateNormalDouble(curandGenerator_t gen, double *out, size_t n, double mean, double stddev);

#endif
