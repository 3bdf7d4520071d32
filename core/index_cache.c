/* Index tensors already checked: a few entries, most recent first. Only CUDA tensors are entered
   (a CPU check reads memory in place and costs less than keeping this honest would). What it
   cannot see: a write to the storage that bypasses the library (through x:data_ptr() and the FFI,
   or another process): such a tensor keeps its old verdict. */
#include <pthread.h>
#include <string.h>
#include "internal.h"

#define INDEX_CACHE_SIZE 8

typedef struct {
    uint64_t serial;
    int64_t version, offset, n, stride, bound0, bound1;
    int dtype, kind;
} index_key;

static index_key cache[INDEX_CACHE_SIZE];
static int cache_used;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;

static int key_of(const cc_tensor *t, int kind, int64_t bound0, int64_t bound1, index_key *k)
{
    if (!t || !t->storage || t->device != CC_CUDA || t->ndim != 1) return 0;
    memset(k, 0, sizeof *k);
    k->serial = t->storage->serial;
    k->version = cc_tensor_version(t);
    k->offset = t->offset;
    k->n = t->shape[0];
    k->stride = t->stride[0];
    k->bound0 = bound0;
    k->bound1 = bound1;
    k->dtype = t->dtype;
    k->kind = kind;
    return 1;
}

int cc_index_checked(const cc_tensor *t, int kind, int64_t bound0, int64_t bound1)
{
    index_key k;
    if (!key_of(t, kind, bound0, bound1, &k)) return 0;
    int hit = 0;
    pthread_mutex_lock(&cache_lock);
    for (int i = 0; i < cache_used && !hit; i++) hit = memcmp(&cache[i], &k, sizeof k) == 0;
    pthread_mutex_unlock(&cache_lock);
    return hit;
}

void cc_index_mark_checked(const cc_tensor *t, int kind, int64_t bound0, int64_t bound1)
{
    index_key k;
    if (!key_of(t, kind, bound0, bound1, &k)) return;
    pthread_mutex_lock(&cache_lock);
    int n = cache_used < INDEX_CACHE_SIZE ? cache_used + 1 : INDEX_CACHE_SIZE;
    memmove(&cache[1], &cache[0], (size_t)(n - 1) * sizeof cache[0]);
    cache[0] = k;
    cache_used = n;
    pthread_mutex_unlock(&cache_lock);
}
