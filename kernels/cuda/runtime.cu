/* The CUDA device as the library sees it: availability, the stream, the cuBLAS handle, error
 * reporting, the caching device allocator, memcpy, timers, and the device queries behind the public
 * cc_cuda_* functions (core/cuda.c validates their arguments and answers for a build without CUDA).
 *
 * Availability is probed once, quietly: on a machine without a GPU the library loads and works on
 * the CPU, and the first CUDA allocation reports why there is no device.
 *
 * The allocator keeps freed blocks in free lists by size class and hands them out again, so that
 * a training loop does not call cudaMalloc (which synchronises the device) once it is warm. Size
 * classes: multiples of 512 B up to 1 MiB, then four classes per power of two (at most 25% slack).
 * Every class keeps whole blocks: a request takes a block of exactly its class, never a split of
 * a larger one. On cudaMalloc failure the cache is released and the allocation tried once more.
 */
#include "cuda_common.cuh"

#include <stdlib.h>

#include <mutex>
#include <unordered_map>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define CC_POISON(p, n) __asan_poison_memory_region((p), (n))
#define CC_UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define CC_POISON(p, n) ((void)(p), (void)(n))
#define CC_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace {

struct Device {
    int count = 0;
    cudaError_t probe = cudaSuccess;   /* what cudaGetDeviceCount said */
    cudaStream_t stream = nullptr;
    cudaError_t stream_error = cudaSuccess;
};

/* Leaked on purpose: nothing here may run at process exit, after the CUDA driver is gone. */
Device &device()
{
    static Device *d = [] {
        Device *x = new Device();
        x->probe = cudaGetDeviceCount(&x->count);
        if (x->probe != cudaSuccess) {
            x->count = 0;
            cudaGetLastError();   /* the probe's error is an answer, not a failure to report later */
        } else if (x->count > 0) {
            x->stream_error = cudaStreamCreateWithFlags(&x->stream, cudaStreamNonBlocking);
            if (x->stream_error != cudaSuccess) cudaGetLastError();
        }
        return x;
    }();
    return *d;
}

const char *emu_detail()
{
#ifdef CC_CUDA_EMU
    return cc_emu::error_detail();
#else
    return "";
#endif
}

/* CC_OK when a device can be used, else the error a CUDA operation named op reports. */
int require_device(const char *op)
{
    Device &d = device();
    if (d.probe != cudaSuccess)
        return cc_error(CC_ERR_DEVICE, "%s: no CUDA device is available: cudaGetDeviceCount returned %s (%s)", op,
                        cudaGetErrorName(d.probe), cudaGetErrorString(d.probe));
    if (d.count == 0)
        return cc_error(CC_ERR_DEVICE, "%s: no CUDA device is available: cudaGetDeviceCount returned 0 devices", op);
    if (d.stream_error != cudaSuccess)
        return cc_error(CC_ERR_CUDA, "%s: the CUDA device is unusable: cudaStreamCreate returned %s (%s)", op,
                        cudaGetErrorName(d.stream_error), cudaGetErrorString(d.stream_error));
    return CC_OK;
}

struct Allocator {
    std::mutex mutex;
    std::unordered_map<size_t, std::vector<void *>> free_blocks;   /* size class -> cached blocks */
    std::unordered_map<void *, size_t> live;                        /* block -> its size class */
    int64_t allocated = 0, reserved = 0, peak = 0, num_allocs = 0;
};

Allocator &allocator()
{
    static Allocator *a = new Allocator();
    return *a;
}

size_t size_class(int64_t bytes)
{
    const size_t small = 512, large = (size_t)1 << 20;
    size_t n = bytes > 0 ? (size_t)bytes : 1;
    if (n <= large) return (n + small - 1) / small * small;
    size_t octave = large;
    while (octave * 2 < n) octave *= 2;   /* octave < n <= 2 * octave */
    size_t step = octave / 4;
    return (n + step - 1) / step * step;
}

/* Returns every cached block to the driver; the caller holds the mutex. */
void release_cache(Allocator &a)
{
    for (auto &entry : a.free_blocks)
        for (void *p : entry.second) {
            CC_UNPOISON(p, entry.first);
            cudaFree(p);
            a.reserved -= (int64_t)entry.first;
        }
    a.free_blocks.clear();
}

}  /* namespace */

/* ---- shared with every .cu (cuda_common.cuh) ---------------------------------------------------- */
cudaStream_t cc_cuda_stream(void) { return device().stream; }

cublasHandle_t cc_cuda_cublas(void)
{
    static std::mutex mutex;
    static cublasHandle_t handle = nullptr;
    std::lock_guard<std::mutex> lock(mutex);
    if (!handle && device().count > 0) {
        if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS) handle = nullptr;
        else cublasSetStream(handle, cc_cuda_stream());
    }
    return handle;
}

int cc_cuda_launch_status(const char *op)
{
    cudaError_t err = cudaGetLastError();
    if (err == cudaSuccess) return CC_OK;
    const char *detail = emu_detail();
    return cc_error(CC_ERR_CUDA, "%s: CUDA error: %s (%s)%s%s", op, cudaGetErrorName(err), cudaGetErrorString(err),
                    detail[0] ? ": " : "", detail);
}

int cc_cuda_check(cudaError_t err, const char *op, const char *what)
{
    if (err == cudaSuccess) return CC_OK;
    cudaGetLastError();   /* the error is reported here; later launch checks must not see it again */
    const char *detail = emu_detail();
    return cc_error(err == cudaErrorMemoryAllocation ? CC_ERR_MEMORY : CC_ERR_CUDA, "%s: %s failed: %s (%s)%s%s", op, what,
                    cudaGetErrorName(err), cudaGetErrorString(err), detail[0] ? ": " : "", detail);
}

int cc_cublas_check(cublasStatus_t status, const char *op, const char *what)
{
    if (status == CUBLAS_STATUS_SUCCESS) return CC_OK;
    return cc_error(CC_ERR_CUDA, "%s: %s failed: %s (%s)", op, what, cublasGetStatusName(status), cublasGetStatusString(status));
}

/* ---- the backend interface core/ calls (cuda_backend.h) ----------------------------------------- */
extern "C" int cc_cuda_alloc(void **ptr, int64_t bytes, int device_index)
{
    *ptr = nullptr;
    int st = require_device("cuda alloc");
    if (st != CC_OK) return st;
    if (device_index != 0)
        return cc_error(CC_ERR_DEVICE, "cuda alloc: device cuda:%d does not exist (this build uses cuda:0)", device_index);
    size_t cls = size_class(bytes);
    Allocator &a = allocator();
    std::lock_guard<std::mutex> lock(a.mutex);
    void *p = nullptr;
    auto it = a.free_blocks.find(cls);
    if (it != a.free_blocks.end() && !it->second.empty()) {
        p = it->second.back();
        it->second.pop_back();
    } else {
        cudaError_t err = cudaMalloc(&p, cls);
        if (err != cudaSuccess) {
            cudaGetLastError();
            release_cache(a);
            err = cudaMalloc(&p, cls);
        }
        if (err != cudaSuccess) {
            cudaGetLastError();
            return cc_error(CC_ERR_MEMORY,
                            "cuda alloc: out of device memory allocating %lld bytes (%lld allocated, %lld reserved): %s (%s)",
                            (long long)bytes, (long long)a.allocated, (long long)a.reserved, cudaGetErrorName(err),
                            cudaGetErrorString(err));
        }
        a.num_allocs++;
        a.reserved += (int64_t)cls;
    }
    a.live[p] = cls;
    a.allocated += (int64_t)cls;
    if (a.allocated > a.peak) a.peak = a.allocated;
    size_t used = bytes > 0 ? (size_t)bytes : 0;
    CC_UNPOISON(p, used);
    CC_POISON((char *)p + used, cls - used);   /* under ASan: reads past the request are caught */
#ifdef CC_CUDA_EMU
    cc_emu::memory_fresh(p, cls);   /* CC_EMU_CHECK=init: a reused block is unwritten again */
#endif
    *ptr = p;
    return CC_OK;
}

extern "C" void cc_cuda_free(void *ptr, int device_index)
{
    (void)device_index;
    if (!ptr) return;
    Allocator &a = allocator();
    std::lock_guard<std::mutex> lock(a.mutex);
    auto it = a.live.find(ptr);
    if (it == a.live.end()) return;   /* not ours: nothing to give back */
    size_t cls = it->second;
    a.live.erase(it);
    a.allocated -= (int64_t)cls;
    CC_POISON(ptr, cls);   /* under ASan: use after free of a cached block is caught */
    a.free_blocks[cls].push_back(ptr);
}

extern "C" int cc_cuda_memcpy(void *dst, const void *src, int64_t bytes, int kind)
{
    static const cudaMemcpyKind kinds[3] = {cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice};
    if (kind < 0 || kind > 2) return cc_error(CC_ERR_ARGUMENT, "cuda memcpy: kind %d is not 0, 1 or 2", kind);
    if (bytes <= 0) return CC_OK;
    int st = require_device("cuda memcpy");
    if (st != CC_OK) return st;
    st = cc_cuda_check(cudaMemcpyAsync(dst, src, (size_t)bytes, kinds[kind], cc_cuda_stream()), "cuda memcpy", "cudaMemcpyAsync");
    if (st != CC_OK) return st;
    return cc_cuda_check(cudaStreamSynchronize(cc_cuda_stream()), "cuda memcpy", "cudaStreamSynchronize");
}

/* ---- the device queries behind core/cuda.c (cuda_backend.h) ------------------------------------ */
extern "C" int cc_cuda_backend_emulated(void)
{
#ifdef CC_CUDA_EMU
    return 1;
#else
    return 0;
#endif
}

extern "C" int cc_cuda_backend_device_count(void)
{
    Device &d = device();
    return d.stream_error == cudaSuccess ? d.count : 0;
}

extern "C" int cc_cuda_backend_synchronize(void)
{
    int st = require_device("cuda synchronize");
    if (st != CC_OK) return st;
    return cc_cuda_check(cudaStreamSynchronize(cc_cuda_stream()), "cuda synchronize", "a kernel or copy");
}

extern "C" int cc_cuda_backend_device_name(char *buf, int len)
{
    int st = require_device("cuda device_name");
    if (st != CC_OK) return st;
    cudaDeviceProp prop;
    st = cc_cuda_check(cudaGetDeviceProperties(&prop, 0), "cuda device_name", "cudaGetDeviceProperties");
    if (st != CC_OK) return st;
    snprintf(buf, (size_t)len, "%s", prop.name);
    return CC_OK;
}

extern "C" void cc_cuda_backend_memory_stats(int64_t *allocated, int64_t *reserved, int64_t *peak_allocated,
                                             int64_t *num_allocs)
{
    Allocator &a = allocator();
    std::lock_guard<std::mutex> lock(a.mutex);
    *allocated = a.allocated;
    *reserved = a.reserved;
    *peak_allocated = a.peak;
    *num_allocs = a.num_allocs;
}

extern "C" void cc_cuda_backend_reset_peak(void)
{
    Allocator &a = allocator();
    std::lock_guard<std::mutex> lock(a.mutex);
    a.peak = a.allocated;
}

extern "C" void cc_cuda_backend_empty_cache(void)
{
    Allocator &a = allocator();
    std::lock_guard<std::mutex> lock(a.mutex);
    release_cache(a);
}

namespace {
struct Timer {
    cudaEvent_t start, end;
};
}  /* namespace */

extern "C" int cc_cuda_backend_timer_start(void **timer)
{
    *timer = nullptr;
    int st = require_device("cuda timer_start");
    if (st != CC_OK) return st;
    Timer *t = (Timer *)malloc(sizeof(Timer));
    if (!t) return cc_error(CC_ERR_MEMORY, "cuda timer_start: out of host memory");
    st = cc_cuda_check(cudaEventCreate(&t->start), "cuda timer_start", "cudaEventCreate");
    if (st == CC_OK) {
        st = cc_cuda_check(cudaEventCreate(&t->end), "cuda timer_start", "cudaEventCreate");
        if (st != CC_OK) cudaEventDestroy(t->start);
    }
    if (st == CC_OK) {
        st = cc_cuda_check(cudaEventRecord(t->start, cc_cuda_stream()), "cuda timer_start", "cudaEventRecord");
        if (st != CC_OK) {
            cudaEventDestroy(t->start);
            cudaEventDestroy(t->end);
        }
    }
    if (st != CC_OK) {
        free(t);
        return st;
    }
    *timer = t;
    return CC_OK;
}

extern "C" int cc_cuda_backend_timer_stop(void *timer, double *elapsed_ms)
{
    Timer *t = (Timer *)timer;
    float ms = 0.0f;
    int st = cc_cuda_check(cudaEventRecord(t->end, cc_cuda_stream()), "cuda timer_stop", "cudaEventRecord");
    if (st == CC_OK) st = cc_cuda_check(cudaEventSynchronize(t->end), "cuda timer_stop", "cudaEventSynchronize");
    if (st == CC_OK) st = cc_cuda_check(cudaEventElapsedTime(&ms, t->start, t->end), "cuda timer_stop", "cudaEventElapsedTime");
    cudaEventDestroy(t->start);
    cudaEventDestroy(t->end);
    free(t);
    *elapsed_ms = ms;
    return st;
}
