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

struct cache_entry {
    void *ptr;
    int64_t bytes;
};
static struct cache_entry cache[CACHE_MAX_BLOCKS];   /* oldest first */
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

/* Blocks from this size on ask for transparent huge pages: kernels stepping through rows a page or
   more apart miss the TLB on every row with 4 KiB pages. Such a block is carved from a 2 MiB
   aligned allocation at a colour offset that moves by 9 cache lines per block, so that tensors
   allocated one after another do not share the low 12 address bits (the same element of x and
   out would alias in the load / store queues: 4K aliasing; without the offset the bf16/f16
   channel-first forward ran 0.83-0.92x of 4 KiB pages on the AVX2 VM,
   experiments/results/cpu-20261201-2055-avx2-hugepage-colour-ab.txt). */
#define HUGE_PAGE_BYTES ((int64_t)2 << 20)
#define HUGE_MIN_BYTES ((int64_t)4 << 20)
#define HUGE_COLOURS 7
#define HUGE_COLOUR_BYTES 576

static unsigned huge_colour;

static void *host_new_block(int64_t block)
{
    if (block < HUGE_MIN_BYTES) return aligned_alloc(64, (size_t)block);
    void *base = NULL;   /* posix_memalign: aligned_alloc may refuse a size that is no multiple of the alignment */
    if (posix_memalign(&base, (size_t)HUGE_PAGE_BYTES, (size_t)(block + HUGE_COLOURS * HUGE_COLOUR_BYTES)) != 0)
        return NULL;
    char *p = base;
#ifdef MADV_HUGEPAGE
    madvise(p, (size_t)block, MADV_HUGEPAGE);   /* advice only: without THP nothing changes */
#endif
    unsigned k = __atomic_fetch_add(&huge_colour, 1u, __ATOMIC_RELAXED) % HUGE_COLOURS;
    return p + k * HUGE_COLOUR_BYTES;
}

/* Frees a block of host_new_block (the colour offset is below the 2 MiB alignment). */
static void host_free_block(void *p, int64_t block)
{
    if (block >= HUGE_MIN_BYTES) p = (void *)((uintptr_t)p & ~(uintptr_t)(HUGE_PAGE_BYTES - 1));
    free(p);
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
            (cache[i].bytes >= HUGE_MIN_BYTES) == (bytes >= HUGE_MIN_BYTES) &&   /* host_free_block tells them apart by size */
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
    struct cache_entry evicted[CACHE_MAX_BLOCKS + 1];
    int n = 0;
    pthread_mutex_lock(&cache_lock);
    if (bytes < CACHE_MIN_BYTES || bytes > CACHE_MAX_BYTES) {
        evicted[n].ptr = ptr;
        evicted[n++].bytes = bytes;
    } else {
        while (cache_count == CACHE_MAX_BLOCKS || cache_bytes + bytes > CACHE_MAX_BYTES) {
            evicted[n++] = cache[0];
            cache_remove(0);
        }
        cache[cache_count].ptr = ptr;
        cache[cache_count].bytes = bytes;
        cache_count++;
        cache_bytes += bytes;
    }
    pthread_mutex_unlock(&cache_lock);
    for (int i = 0; i < n; i++) host_free_block(evicted[i].ptr, evicted[i].bytes);
}

static void cache_release_all(void)
{
    pthread_mutex_lock(&cache_lock);
    while (cache_count > 0) {
        host_free_block(cache[cache_count - 1].ptr, cache[cache_count - 1].bytes);
        cache_remove(cache_count - 1);
    }
    pthread_mutex_unlock(&cache_lock);
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
