/* The public cc_cuda_* functions: arguments checked here, the device work in kernels/cuda/runtime.cu
   (cuda_backend.h); in a build without CUDA every request says so through cc_no_cuda. */
#include <stddef.h>
#include "checks.h"
#ifdef CC_WITH_CUDA
#include "cuda/cuda_backend.h"
#endif

int cc_cuda_is_built(void)
{
#ifdef CC_WITH_CUDA
    return 1;
#else
    return 0;
#endif
}

int cc_cuda_is_emulated(void)
{
#ifdef CC_WITH_CUDA
    return cc_cuda_backend_emulated();
#else
    return 0;
#endif
}

int cc_cuda_device_count(void)
{
#ifdef CC_WITH_CUDA
    return cc_cuda_backend_device_count();
#else
    return 0;
#endif
}

int cc_cuda_is_available(void) { return cc_cuda_device_count() > 0; }

cc_status cc_cuda_synchronize(void)
{
#ifdef CC_WITH_CUDA
    return (cc_status)cc_cuda_backend_synchronize();
#else
    return cc_no_cuda("cuda synchronize");
#endif
}

cc_status cc_cuda_device_name(char *buf, int len)
{
    if (!buf || len <= 0) return cc_error(CC_ERR_ARGUMENT, "cuda device_name: buf: expected a buffer of len >= 1, got len %d", len);
    buf[0] = 0;
#ifdef CC_WITH_CUDA
    return (cc_status)cc_cuda_backend_device_name(buf, len);
#else
    return cc_no_cuda("cuda device_name");
#endif
}

cc_status cc_cuda_memory_stats(int64_t *allocated, int64_t *reserved, int64_t *peak_allocated, int64_t *num_allocs)
{
    if (!allocated || !reserved || !peak_allocated || !num_allocs)
        return cc_error(CC_ERR_ARGUMENT, "cuda memory_stats: expected four int64 pointers, got NULL");
#ifdef CC_WITH_CUDA
    cc_cuda_backend_memory_stats(allocated, reserved, peak_allocated, num_allocs);
    return CC_OK;
#else
    *allocated = *reserved = *peak_allocated = *num_allocs = 0;
    return cc_no_cuda("cuda memory_stats");
#endif
}

cc_status cc_cuda_reset_peak_memory_stats(void)
{
#ifdef CC_WITH_CUDA
    cc_cuda_backend_reset_peak();
    return CC_OK;
#else
    return cc_no_cuda("cuda reset_peak_memory_stats");
#endif
}

cc_status cc_cuda_empty_cache(void)
{
#ifdef CC_WITH_CUDA
    cc_cuda_backend_empty_cache();
    return CC_OK;
#else
    return cc_no_cuda("cuda empty_cache");
#endif
}

cc_status cc_cuda_timer_start(void **timer)
{
    if (!timer) return cc_error(CC_ERR_ARGUMENT, "cuda timer_start: timer: expected a pointer, got NULL");
    *timer = NULL;
#ifdef CC_WITH_CUDA
    return (cc_status)cc_cuda_backend_timer_start(timer);
#else
    return cc_no_cuda("cuda timer_start");
#endif
}

cc_status cc_cuda_timer_stop(void *timer, double *elapsed_ms)
{
    double ms = 0.0;
    if (!timer) return cc_error(CC_ERR_ARGUMENT, "cuda timer_stop: timer: expected a timer from cc_cuda_timer_start, got NULL");
#ifdef CC_WITH_CUDA
    cc_status st = (cc_status)cc_cuda_backend_timer_stop(timer, &ms);
#else
    cc_status st = cc_no_cuda("cuda timer_stop");
#endif
    if (elapsed_ms) *elapsed_ms = ms;
    return st;
}
