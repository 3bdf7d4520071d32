/* The CUDA runtime API of the emulation: one device whose memory is host memory, synchronous
 * streams, events on the host clock, and the sticky last error with a message saying why.
 * Device allocations are registered so that cudaMemcpy/cudaMemset can check their device ranges.
 * Under CC_EMU_CHECK, a kernel's failure that the program never reads (cudaGetLastError, a
 * synchronize) makes it exit non-zero.
 */
#include "cuda_emu.h"
#include "check.h"

#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <map>
#include <mutex>

namespace cc_emu {

namespace {
std::mutex error_mutex;
cudaError_t last_error = cudaSuccess;
char last_detail[1280];
char returned_detail[1280];   /* the message behind the error cudaGetLastError handed out last */

std::mutex alloc_mutex;
std::map<uintptr_t, size_t> allocations;   /* device base -> bytes */

struct Event {
    bool recorded = false;
    long long ns = 0;
};

cudaError_t api_error(cudaError_t code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
cudaError_t api_error(cudaError_t code, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    record_error(code, "%s", buf);
    return code;
}

/* Whether [p, p + bytes) lies inside one live cudaMalloc allocation. */
bool device_range(const void *p, size_t bytes)
{
    std::lock_guard<std::mutex> lock(alloc_mutex);
    uintptr_t a = (uintptr_t)p;
    auto it = allocations.upper_bound(a);
    if (it == allocations.begin()) return false;
    --it;
    return a >= it->first && a + bytes <= it->first + it->second;
}

cudaError_t check_copy(const char *fn, void *dst, const void *src, size_t bytes, cudaMemcpyKind kind)
{
    if (bytes == 0) return cudaSuccess;
    bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    if ((int)kind < 0 || (int)kind > 4)
        return api_error(cudaErrorInvalidValue, "%s: invalid cudaMemcpyKind %d", fn, (int)kind);
    if (dst_dev && !device_range(dst, bytes))
        return api_error(cudaErrorInvalidValue, "%s: destination [%p, +%zu) is not inside one device allocation", fn, dst, bytes);
    if (src_dev && !device_range(src, bytes))
        return api_error(cudaErrorInvalidValue, "%s: source [%p, +%zu) is not inside one device allocation", fn, src, bytes);
    return cudaSuccess;
}
}  /* namespace */

/* Under CC_EMU_CHECK, at exit: a kernel failure nobody read fails the process. */
void unread_failure_at_exit()
{
    if (last_error != cudaErrorLaunchFailure) return;
    fprintf(stderr, "cc_emu: exiting with a kernel failure the program never read (cudaGetLastError): %s\n", last_detail);
    fflush(nullptr);
    _exit(1);
}

void record_error(int code, const char *fmt, ...)
{
    std::lock_guard<std::mutex> lock(error_mutex);
    static bool at_exit = false;
    const check::Config &cfg = check::config();
    if (!at_exit && (cfg.race || cfg.sync || cfg.init)) at_exit = atexit(unread_failure_at_exit) == 0;
    if (last_error != cudaSuccess) return;   /* keep the first error until it is read */
    last_error = (cudaError_t)code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_detail, sizeof last_detail, fmt, ap);
    va_end(ap);
}

const char *error_detail()
{
    std::lock_guard<std::mutex> lock(error_mutex);
    return last_error != cudaSuccess ? last_detail : returned_detail;
}

}  /* namespace cc_emu */

using cc_emu::api_error;

cudaError_t cudaGetLastError()
{
    std::lock_guard<std::mutex> lock(cc_emu::error_mutex);
    cudaError_t e = cc_emu::last_error;
    if (e != cudaSuccess) memcpy(cc_emu::returned_detail, cc_emu::last_detail, sizeof cc_emu::returned_detail);
    cc_emu::last_error = cudaSuccess;
    return e;
}

cudaError_t cudaPeekAtLastError()
{
    std::lock_guard<std::mutex> lock(cc_emu::error_mutex);
    return cc_emu::last_error;
}

const char *cudaGetErrorName(cudaError_t error)
{
    switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorNotSupported: return "cudaErrorNotSupported";
    }
    return "cudaErrorUnknown";
}

const char *cudaGetErrorString(cudaError_t error)
{
    switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorNotSupported: return "operation not supported";
    }
    return "unknown error";
}

cudaError_t cudaGetDeviceCount(int *count)
{
    *count = 1;
    return cudaSuccess;
}

cudaError_t cudaGetDevice(int *device)
{
    *device = 0;
    return cudaSuccess;
}

cudaError_t cudaSetDevice(int device)
{
    if (device != 0) return api_error(cudaErrorInvalidDevice, "cudaSetDevice(%d): the emulation has one device, 0", device);
    return cudaSuccess;
}

static size_t physical_memory()
{
    return (size_t)sysconf(_SC_PHYS_PAGES) * (size_t)sysconf(_SC_PAGESIZE);
}

/* An sm_80-like device: the limits kernels may size themselves by. */
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device)
{
    if (device != 0) return api_error(cudaErrorInvalidDevice, "cudaGetDeviceProperties(%d): the emulation has one device, 0", device);
    memset(prop, 0, sizeof *prop);
    snprintf(prop->name, sizeof prop->name, "causalconv CPU emulation");
    prop->totalGlobalMem = physical_memory();
    prop->sharedMemPerBlock = 48 << 10;
    prop->regsPerBlock = 65536;
    prop->warpSize = 32;
    prop->maxThreadsPerBlock = 1024;
    prop->maxThreadsDim[0] = 1024;
    prop->maxThreadsDim[1] = 1024;
    prop->maxThreadsDim[2] = 64;
    prop->maxGridSize[0] = 2147483647;
    prop->maxGridSize[1] = 65535;
    prop->maxGridSize[2] = 65535;
    prop->totalConstMem = 64 << 10;
    prop->major = 8;
    prop->minor = 0;
    prop->multiProcessorCount = omp_get_num_procs();
    prop->memoryBusWidth = 64;
    prop->l2CacheSize = 40 << 20;
    prop->maxThreadsPerMultiProcessor = 2048;
    prop->sharedMemPerMultiprocessor = 164 << 10;
    prop->sharedMemPerBlockOptin = 163 << 10;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *value, cudaDeviceAttr attr, int device)
{
    cudaDeviceProp p;
    cudaError_t e = cudaGetDeviceProperties(&p, device);
    if (e != cudaSuccess) return e;
    switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = p.maxThreadsPerBlock; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = (int)p.sharedMemPerBlock; break;
    case cudaDevAttrWarpSize: *value = p.warpSize; break;
    case cudaDevAttrMultiProcessorCount: *value = p.multiProcessorCount; break;
    case cudaDevAttrL2CacheSize: *value = p.l2CacheSize; break;
    case cudaDevAttrMaxThreadsPerMultiProcessor: *value = p.maxThreadsPerMultiProcessor; break;
    case cudaDevAttrComputeCapabilityMajor: *value = p.major; break;
    case cudaDevAttrComputeCapabilityMinor: *value = p.minor; break;
    case cudaDevAttrMaxSharedMemoryPerMultiprocessor: *value = (int)p.sharedMemPerMultiprocessor; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = (int)p.sharedMemPerBlockOptin; break;
    default: return api_error(cudaErrorInvalidValue, "cudaDeviceGetAttribute: attribute %d is not emulated", (int)attr);
    }
    return cudaSuccess;
}

/* A failed kernel is reported by the next synchronize, as on a GPU (and read, as cudaGetLastError). */
static cudaError_t pending_kernel_failure()
{
    std::lock_guard<std::mutex> lock(cc_emu::error_mutex);
    if (cc_emu::last_error != cudaErrorLaunchFailure) return cudaSuccess;
    memcpy(cc_emu::returned_detail, cc_emu::last_detail, sizeof cc_emu::returned_detail);
    cc_emu::last_error = cudaSuccess;
    return cudaErrorLaunchFailure;
}

cudaError_t cudaDeviceSynchronize() { return pending_kernel_failure(); }

cudaError_t cudaMalloc(void **ptr, size_t bytes)
{
    *ptr = nullptr;
    size_t rounded = (bytes + 255) & ~(size_t)255;
    void *p = aligned_alloc(256, rounded ? rounded : 256);
    if (!p) return api_error(cudaErrorMemoryAllocation, "cudaMalloc: out of memory allocating %zu bytes", bytes);
    {
        std::lock_guard<std::mutex> lock(cc_emu::alloc_mutex);
        cc_emu::allocations[(uintptr_t)p] = bytes;
    }
    cc_emu::check::device_alloc(p, bytes);
    cc_emu::memory_fresh(p, bytes);
    *ptr = p;
    return cudaSuccess;
}

cudaError_t cudaFree(void *ptr)
{
    if (!ptr) return cudaSuccess;
    {
        std::lock_guard<std::mutex> lock(cc_emu::alloc_mutex);
        if (!cc_emu::allocations.erase((uintptr_t)ptr))
            return api_error(cudaErrorInvalidValue, "cudaFree(%p): not a device allocation", ptr);
    }
    cc_emu::check::device_free(ptr);
    free(ptr);
    return cudaSuccess;
}

cudaError_t cudaMallocHost(void **ptr, size_t bytes)
{
    *ptr = malloc(bytes ? bytes : 1);
    return *ptr ? cudaSuccess : api_error(cudaErrorMemoryAllocation, "cudaMallocHost: out of memory allocating %zu bytes", bytes);
}

cudaError_t cudaFreeHost(void *ptr)
{
    free(ptr);
    return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes)
{
    *total_bytes = physical_memory();
    *free_bytes = (size_t)sysconf(_SC_AVPHYS_PAGES) * (size_t)sysconf(_SC_PAGESIZE);
    return cudaSuccess;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind)
{
    cudaError_t e = cc_emu::check_copy("cudaMemcpy", dst, src, bytes, kind);
    if (e == cudaSuccess && bytes) memmove(dst, src, bytes);
    if (e == cudaSuccess) cc_emu::memory_written(dst, bytes);
    return e;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t)
{
    cudaError_t e = cc_emu::check_copy("cudaMemcpyAsync", dst, src, bytes, kind);
    if (e == cudaSuccess && bytes) memmove(dst, src, bytes);
    if (e == cudaSuccess) cc_emu::memory_written(dst, bytes);
    return e;
}

cudaError_t cudaMemset(void *dst, int value, size_t bytes)
{
    cudaError_t e = cc_emu::check_copy("cudaMemset", dst, nullptr, bytes, cudaMemcpyHostToDevice);
    if (e == cudaSuccess && bytes) memset(dst, value, bytes);
    if (e == cudaSuccess) cc_emu::memory_written(dst, bytes);
    return e;
}

cudaError_t cudaMemsetAsync(void *dst, int value, size_t bytes, cudaStream_t)
{
    return cudaMemset(dst, value, bytes);
}

/* Streams: every operation completes before its call returns, so a stream is only a token. */
cudaError_t cudaStreamCreate(cudaStream_t *stream)
{
    static char token;
    *stream = reinterpret_cast<cudaStream_t>(&token);
    return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *stream, unsigned int) { return cudaStreamCreate(stream); }
cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return pending_kernel_failure(); }

cudaError_t cudaEventCreate(cudaEvent_t *event)
{
    *event = reinterpret_cast<cudaEvent_t>(new cc_emu::Event());
    return cudaSuccess;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t *event, unsigned int) { return cudaEventCreate(event); }

cudaError_t cudaEventDestroy(cudaEvent_t event)
{
    delete reinterpret_cast<cc_emu::Event *>(event);
    return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t)
{
    if (!event) return api_error(cudaErrorInvalidResourceHandle, "cudaEventRecord: null event");
    cc_emu::Event *e = reinterpret_cast<cc_emu::Event *>(event);
    e->recorded = true;
    e->ns = cc_emu::clock_ns();
    return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }

cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end)
{
    cc_emu::Event *a = reinterpret_cast<cc_emu::Event *>(start), *b = reinterpret_cast<cc_emu::Event *>(end);
    if (!a || !b) return api_error(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: null event");
    if (!a->recorded || !b->recorded) return api_error(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: event not recorded");
    *ms = (float)((double)(b->ns - a->ns) * 1e-6);
    return cudaSuccess;
}
