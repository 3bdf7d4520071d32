/* The public cc_cuda_* functions of a build without CUDA (make found no nvcc): nothing is
   available, and every request says why. With CUDA, kernels/cuda/runtime.cu defines them. */
#ifndef CC_WITH_CUDA

#include "internal.h"

#define CC_NO_CUDA "causalconv was built without CUDA (make found no nvcc)"

int cc_cuda_is_built(void) { return 0; }
int cc_cuda_is_emulated(void) { return 0; }
int cc_cuda_is_available(void) { return 0; }
int cc_cuda_device_count(void) { return 0; }

cc_status cc_cuda_synchronize(void) { return cc_error(CC_ERR_UNSUPPORTED, "cuda synchronize: " CC_NO_CUDA); }

cc_status cc_cuda_device_name(char *buf, int len)
{
    if (buf && len > 0) buf[0] = 0;
    return cc_error(CC_ERR_UNSUPPORTED, "cuda device_name: " CC_NO_CUDA);
}

cc_status cc_cuda_memory_stats(int64_t *allocated, int64_t *reserved, int64_t *peak_allocated, int64_t *num_allocs)
{
    (void)allocated;
    (void)reserved;
    (void)peak_allocated;
    (void)num_allocs;
    return cc_error(CC_ERR_UNSUPPORTED, "cuda memory_stats: " CC_NO_CUDA);
}

cc_status cc_cuda_empty_cache(void) { return cc_error(CC_ERR_UNSUPPORTED, "cuda empty_cache: " CC_NO_CUDA); }

cc_status cc_cuda_timer_start(void **timer)
{
    if (timer) *timer = NULL;
    return cc_error(CC_ERR_UNSUPPORTED, "cuda timer_start: " CC_NO_CUDA);
}

cc_status cc_cuda_timer_stop(void *timer, double *elapsed_ms)
{
    (void)timer;
    if (elapsed_ms) *elapsed_ms = 0.0;
    return cc_error(CC_ERR_UNSUPPORTED, "cuda timer_stop: " CC_NO_CUDA);
}

#else
typedef int cc_cuda_absent_unused;   /* ISO C forbids an empty translation unit */
#endif
