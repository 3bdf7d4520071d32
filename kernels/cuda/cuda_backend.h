/* What core/ calls in kernels/cuda (extern "C"). Only compiled in when CC_WITH_CUDA is defined;
   with CC_CUDA_EMU the same functions run on the CPU emulation (kernels/cuda/emu).
   Those returning int return cc_status values and set the message with cc_error() on failure.
   The public cc_cuda_* functions of core/causalconv.h are core/cuda.c, over the queries below. */
#ifndef CC_CUDA_BACKEND_H
#define CC_CUDA_BACKEND_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* device memory through the caching allocator */
int cc_cuda_alloc(void **ptr, int64_t bytes, int device_index);
void cc_cuda_free(void *ptr, int device_index);
/* kind: 0 host->device, 1 device->host, 2 device->device; synchronous w.r.t. the host */
int cc_cuda_memcpy(void *dst, const void *src, int64_t bytes, int kind);

/* uniform [low, high) or normal(mean, std) into n contiguous elements of dtype f32 or f64,
   from Philox 4x32-10 (cuRAND) with this seed, starting at counter offset `offset`. */
int cc_cuda_rand(void *dst, int dtype, int64_t n, double low, double high, uint64_t seed, uint64_t offset);
int cc_cuda_randn(void *dst, int dtype, int64_t n, double mean, double std, uint64_t seed, uint64_t offset);

/* device queries (kernels/cuda/runtime.cu); arguments validated by core/cuda.c */
int cc_cuda_backend_emulated(void);
int cc_cuda_backend_device_count(void);      /* 0 when no device is usable */
int cc_cuda_backend_synchronize(void);
int cc_cuda_backend_device_name(char *buf, int len);
void cc_cuda_backend_memory_stats(int64_t *allocated, int64_t *reserved, int64_t *peak_allocated, int64_t *num_allocs);
void cc_cuda_backend_empty_cache(void);
void cc_cuda_backend_reset_peak(void);       /* peak_allocated := allocated */
int cc_cuda_backend_timer_start(void **timer);
int cc_cuda_backend_timer_stop(void *timer, double *elapsed_ms);

#ifdef __cplusplus
}
#endif

#endif
