/* Device memory: 64-byte aligned host memory for the CPU, kernels/cuda for CUDA. */
#include <stdlib.h>
#include <string.h>
#include "internal.h"
#ifdef CC_WITH_CUDA
#include "cuda/cuda_backend.h"
#endif

#define NO_CUDA "causalconv was built without CUDA (nvcc was not found by make)"

cc_status cc_device_alloc(void **ptr, int64_t bytes, int device, int device_index)
{
    *ptr = NULL;
    if (bytes < 0) return cc_error(CC_ERR_ARGUMENT, "alloc: negative size %lld", (long long)bytes);
    if (device == CC_CPU) {
        if (bytes == 0) return CC_OK;
        /* aligned_alloc wants a multiple of the alignment; 64 bytes suits every SIMD width */
        if (bytes > INT64_MAX - 63) return cc_error(CC_ERR_MEMORY, "out of memory: cannot allocate %lld bytes on cpu", (long long)bytes);
        int64_t rounded = (bytes + 63) & ~(int64_t)63;
        if ((uint64_t)rounded > (uint64_t)SIZE_MAX) return cc_error(CC_ERR_MEMORY, "out of memory: cannot allocate %lld bytes on cpu", (long long)bytes);
        *ptr = aligned_alloc(64, (size_t)rounded);
        if (!*ptr) return cc_error(CC_ERR_MEMORY, "out of memory: cannot allocate %lld bytes on cpu", (long long)bytes);
        return CC_OK;
    }
    if (device == CC_CUDA) {
#ifdef CC_WITH_CUDA
        if (bytes == 0) return CC_OK;
        return (cc_status)cc_cuda_alloc(ptr, bytes, device_index);
#else
        (void)device_index;
        return cc_error(CC_ERR_UNSUPPORTED, NO_CUDA);
#endif
    }
    return cc_error(CC_ERR_DEVICE, "alloc: unknown device %d", device);
}

void cc_device_free(void *ptr, int device, int device_index)
{
    if (!ptr) return;
    if (device == CC_CPU) {
        free(ptr);
        return;
    }
#ifdef CC_WITH_CUDA
    if (device == CC_CUDA) cc_cuda_free(ptr, device_index);
#else
    (void)device_index;
#endif
}

cc_status cc_device_memcpy(void *dst, int dst_device, const void *src, int src_device, int64_t bytes)
{
    if (bytes <= 0) return CC_OK;
    if (dst_device == CC_CPU && src_device == CC_CPU) {
        memcpy(dst, src, (size_t)bytes);
        return CC_OK;
    }
#ifdef CC_WITH_CUDA
    int kind = src_device == CC_CPU ? 0 : dst_device == CC_CPU ? 1 : 2;
    return (cc_status)cc_cuda_memcpy(dst, src, bytes, kind);
#else
    return cc_error(CC_ERR_UNSUPPORTED, NO_CUDA);
#endif
}
