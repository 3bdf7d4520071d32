/* Device memory: 64-byte aligned host memory for the CPU, kernels/cuda for CUDA.

   Large host blocks are kept for reuse after they are freed. A fresh block above glibc's mmap
   threshold (128 KiB at first) costs one page fault per 4 KiB on first touch (the kernel zeroes
   every page), which for an op that allocates its output on every call costs as much as the op
   itself. Blocks of at least CACHE_MIN_BYTES go to a cache (CACHE_MAX_BLOCKS blocks,
   CACHE_MAX_BYTES in all, oldest released first), rounded up to size classes an eighth apart; an
   allocation takes the smallest cached block that fits with at most a quarter to spare, the most
   recently freed among equals (its lines are the likeliest still in cache). A failed allocation
   releases the cache and tries once more. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "checks.h"
#ifdef CC_WITH_CUDA
#include "cuda/cuda_backend.h"
#endif

#define CACHE_MIN_BYTES ((int64_t)64 << 10)
#define CACHE_MAX_BLOCKS 256
#define CACHE_MAX_BYTES ((int64_t)256 << 20)

static struct { void *ptr; int64_t bytes; } cache[CACHE_MAX_BLOCKS];   /* oldest first */
static int cache_count;
static int64_t cache_bytes;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

/* The size actually allocated for a request: 64-byte multiples; when cacheable, multiples of an
   eighth of the largest power of two not above it (at most 12.5% more), so reuse finds a fit. */
static int64_t host_block_bytes(int64_t bytes)
{
    int64_t round = 64;
    if (bytes >= CACHE_MIN_BYTES) {
        round = CACHE_MIN_BYTES / 8;
        while (round * 16 <= bytes) round *= 2;
    }
    return (bytes + round - 1) / round * round;
}

static void cache_remove(int i)
{
    cache_bytes -= cache[i].bytes;
    memmove(&cache[i], &cache[i + 1], (size_t)(cache_count - i - 1) * sizeof cache[0]);
    cache_count--;
}

static void *cache_take(int64_t bytes)
{
    void *p = NULL;
    pthread_mutex_lock(&cache_lock);
    int best = -1;
    for (int i = 0; i < cache_count; i++)
        if (cache[i].bytes >= bytes && cache[i].bytes - bytes <= bytes / 4 &&
            (best < 0 || cache[i].bytes <= cache[best].bytes))
            best = i;
    if (best >= 0) {
        p = cache[best].ptr;
        cache_remove(best);
    }
    pthread_mutex_unlock(&cache_lock);
    return p;
}

/* Keeps the block when it is worth keeping; frees what the cache lets go. */
static void cache_put(void *ptr, int64_t bytes)
{
    void *evicted[CACHE_MAX_BLOCKS + 1];
    int n = 0;
    pthread_mutex_lock(&cache_lock);
    if (bytes < CACHE_MIN_BYTES || bytes > CACHE_MAX_BYTES) {
        evicted[n++] = ptr;
    } else {
        while (cache_count == CACHE_MAX_BLOCKS || cache_bytes + bytes > CACHE_MAX_BYTES) {
            evicted[n++] = cache[0].ptr;
            cache_remove(0);
        }
        cache[cache_count].ptr = ptr;
        cache[cache_count].bytes = bytes;
        cache_count++;
        cache_bytes += bytes;
    }
    pthread_mutex_unlock(&cache_lock);
    for (int i = 0; i < n; i++) free(evicted[i]);
}

static void cache_release_all(void)
{
    pthread_mutex_lock(&cache_lock);
    while (cache_count > 0) {
        free(cache[cache_count - 1].ptr);
        cache_remove(cache_count - 1);
    }
    pthread_mutex_unlock(&cache_lock);
}

/* Blocks from this size on start on a 2 MiB boundary and ask for transparent huge pages: the
   channel-last kernels step through rows one page or more apart, a TLB miss per row with 4 KiB
   pages. */
#define HUGE_PAGE_BYTES ((int64_t)2 << 20)
#define HUGE_MIN_BYTES ((int64_t)4 << 20)

static void *host_new_block(int64_t block)
{
    if (block < HUGE_MIN_BYTES) return aligned_alloc(64, (size_t)block);
    void *p = aligned_alloc((size_t)HUGE_PAGE_BYTES, (size_t)block);
#ifdef MADV_HUGEPAGE
    if (p) madvise(p, (size_t)block, MADV_HUGEPAGE);   /* advice only: without THP nothing changes */
#endif
    return p;
}

static void *host_alloc(int64_t bytes)
{
    int64_t block = host_block_bytes(bytes);
    void *p = block >= CACHE_MIN_BYTES ? cache_take(block) : NULL;
    if (!p) p = host_new_block(block);
    if (!p) {
        cache_release_all();
        p = host_new_block(block);
    }
    return p;
}

cc_status cc_device_alloc(void **ptr, int64_t bytes, int device, int device_index)
{
    *ptr = NULL;
    if (bytes < 0) return cc_error(CC_ERR_ARGUMENT, "alloc: negative size %lld", (long long)bytes);
    if (device == CC_CPU) {
        if (bytes == 0) return CC_OK;
        /* aligned_alloc wants a multiple of the alignment; 64 bytes suits every SIMD width */
        if (bytes > INT64_MAX / 2 || (uint64_t)bytes > (uint64_t)SIZE_MAX / 2)
            return cc_error(CC_ERR_MEMORY, "out of memory: cannot allocate %lld bytes on cpu", (long long)bytes);
        *ptr = host_alloc(bytes);
        if (!*ptr) return cc_error(CC_ERR_MEMORY, "out of memory: cannot allocate %lld bytes on cpu", (long long)bytes);
        return CC_OK;
    }
    if (device == CC_CUDA) {
#ifdef CC_WITH_CUDA
        if (bytes == 0) return CC_OK;
        return (cc_status)cc_cuda_alloc(ptr, bytes, device_index);
#else
        (void)device_index;
        return cc_no_cuda("alloc");
#endif
    }
    return cc_error(CC_ERR_DEVICE, "alloc: unknown device %d", device);
}

void cc_device_free(void *ptr, int64_t bytes, int device, int device_index)
{
    if (!ptr) return;
    if (device == CC_CPU) {
        cache_put(ptr, host_block_bytes(bytes));
        return;
    }
#ifdef CC_WITH_CUDA
    if (device == CC_CUDA) cc_cuda_free(ptr, device_index);
#else
    (void)device_index;
#endif
}

/* Each one waits for the device: the count the specs hold the decode path to. */
static int64_t device_to_host_copies;
int64_t cc_cuda_device_to_host_copies(void) { return __atomic_load_n(&device_to_host_copies, __ATOMIC_RELAXED); }

cc_status cc_device_memcpy(void *dst, int dst_device, const void *src, int src_device, int64_t bytes)
{
    if (bytes <= 0) return CC_OK;
    if (dst_device == CC_CPU && src_device == CC_CPU) {
        memcpy(dst, src, (size_t)bytes);
        return CC_OK;
    }
#ifdef CC_WITH_CUDA
    int kind = src_device == CC_CPU ? 0 : dst_device == CC_CPU ? 1 : 2;
    if (kind == 1) __atomic_add_fetch(&device_to_host_copies, 1, __ATOMIC_RELAXED);
    return (cc_status)cc_cuda_memcpy(dst, src, bytes, kind);
#else
    return cc_no_cuda("memcpy");
#endif
}
